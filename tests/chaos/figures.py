"""The chaos runner's pure parts: figures from the emulator's request log, kill times, objects and trunks.

Nothing here talks to a server; `tests/unit/test_chaos_figures.py` tests it on fixtures.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from siptrunk_operator.emulator.routing import resolve_call
from siptrunk_operator.plan.view import TRUNK_NAME_ANNOTATION
from tests.benchmarks.measure import METHOD_NAMES
from tests.e2e.helpers import condition

Entry = Mapping[str, Any]
JsonObject = Mapping[str, Any]


def stamp(value: str) -> float:
    """Seconds since the epoch of a request-log time (RFC 3339, milliseconds)."""
    return datetime.fromisoformat(value).timestamp()


def project_calls(entries: Iterable[Entry], project: str) -> list[Entry]:
    """The sipTrunks API calls to one project (token and control entries excluded)."""
    marker = f"/projects/{project}/"
    return [e for e in entries if e["kind"] == "api" and marker in e["path"]]


def calls_by_method(entries: Iterable[Entry]) -> Counter[str]:
    """POST, GET (one), LIST (pages), PATCH, DELETE (and `other` for paths that are no sipTrunks call)."""
    counts: Counter[str] = Counter()
    for entry in entries:
        call = resolve_call(entry["method"], entry["path"])
        counts[METHOD_NAMES[call.method] if call else "other"] += 1
    return counts


def faults_injected(entries: Iterable[Entry]) -> Counter[str]:
    """Every fault the emulator applied, by kind (`503`, `429`, `lost_response`, `latency`, `reset`, `hold`)."""
    counts: Counter[str] = Counter()
    for entry in entries:
        for fault in entry.get("injected") or ():
            counts[str(fault).removeprefix("error:").removeprefix("quota:")] += 1
    return counts


def create_windows(entries: Iterable[Entry]) -> list[tuple[float, float]]:
    """(arrival, end) of every POST: end is its commit, else when the emulator was done with it; a POST
    still unfinished when the log was read is in flight until the end of time."""
    windows = []
    for entry in entries:
        if entry["method"] != "POST":
            continue
        end = entry.get("committed") or entry.get("done")
        windows.append((stamp(entry["time"]), stamp(end) if end else math.inf))
    return windows


def kills_mid_create(kills: Sequence[float], entries: Iterable[Entry]) -> int:
    """Kill times at which a POST had arrived at the emulator and was not yet answered or committed."""
    windows = create_windows(entries)
    return sum(1 for kill in kills if any(start <= kill < end for start, end in windows))


def amplification(calls: int, minimal: int) -> float | None:
    return calls / minimal if minimal else None


@dataclass(frozen=True)
class ObjectFacts:
    """What the classification needs of one SipTrunk object."""

    name: str
    hostnames: frozenset[str]
    trunk: str | None
    """The trunk it records (status.name, else the trunk-name annotation)."""


@dataclass(frozen=True)
class TrunkFacts:
    name: str
    hostnames: frozenset[str]


def object_facts(obj: JsonObject) -> ObjectFacts:
    annotations = obj["metadata"].get("annotations") or {}
    trunk = (obj.get("status") or {}).get("name") or annotations.get(TRUNK_NAME_ANNOTATION) or None
    return ObjectFacts(obj["metadata"]["name"], frozenset(obj["spec"].get("expectedHostname") or ()), trunk)


def trunk_facts(trunk: JsonObject) -> TrunkFacts:
    return TrunkFacts(trunk["name"], frozenset(trunk.get("expectedHostname") or ()))


@dataclass(frozen=True)
class Classification:
    duplicates: int
    """Trunks beyond the first that match one object's hostnames."""
    duplicated: tuple[str, ...]
    """Objects matched by more than one trunk."""
    orphans: frozenset[str]
    """Trunks no object records."""


def classify(objects: Iterable[ObjectFacts], trunks: Iterable[TrunkFacts]) -> Classification:
    """Duplicates and orphans of one project: a trunk matches an object with the same hostname set."""
    objects, trunks = list(objects), list(trunks)
    matches = {o.name: sum(1 for t in trunks if t.hostnames == o.hostnames) for o in objects}
    owned = {o.trunk for o in objects if o.trunk}
    return Classification(
        duplicates=sum(max(0, n - 1) for n in matches.values()),
        duplicated=tuple(sorted(name for name, n in matches.items() if n > 1)),
        orphans=frozenset(t.name for t in trunks if t.name not in owned),
    )


def generations(obj: JsonObject) -> tuple[int, int]:
    """(status.observedGeneration, the Ready condition's observedGeneration); 0 when absent."""
    ready = condition(dict(obj), "Ready") or {}
    return int((obj.get("status") or {}).get("observedGeneration") or 0), int(ready.get("observedGeneration") or 0)


def converged(obj: JsonObject) -> bool:
    """Ready=True, and both the status and the Ready condition observed the current generation."""
    ready = condition(dict(obj), "Ready") or {}
    generation = int(obj["metadata"].get("generation") or 0)
    return ready.get("status") == "True" and generations(obj) == (generation, generation)


def went_backwards(history: Sequence[tuple[int, int]]) -> bool:
    """Whether a reader saw either observed generation decrease."""
    return any(later[i] < earlier[i] for earlier, later in itertools.pairwise(history) for i in (0, 1))


def condition_state(obj: JsonObject, kind: str = "Ready") -> tuple[str | None, str | None]:
    """(status, reason) of one condition; (None, None) when absent."""
    found = condition(dict(obj), kind) or {}
    return found.get("status"), found.get("reason")
