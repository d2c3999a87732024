"""Conditions: the typed update, the merge into a status list, and kstatus' Reconciling/Stalled."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from siptrunk_operator.api.errors import scrub
from siptrunk_operator.reasons import STALLED_REASONS, ConditionType, Reason

_ORDER: dict[str, int] = {str(kind): index for index, kind in enumerate(ConditionType)}


@dataclass(frozen=True)
class Condition:
    """One status condition as stored (metav1.Condition)."""

    type: str
    status: str
    reason: str
    message: str = ""
    observed_generation: int | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Condition:
        generation = raw.get("observedGeneration")
        return cls(str(raw.get("type", "")), str(raw.get("status", "")), str(raw.get("reason", "")),
                   str(raw.get("message", "")), int(generation) if isinstance(generation, int) else None)


@dataclass(frozen=True)
class ConditionUpdate:
    type: ConditionType
    status: str
    reason: Reason | str
    message: str


def merge_conditions(existing: Sequence[Mapping[str, Any]] | None, updates: Iterable[ConditionUpdate], *,
                     generation: int, now: str) -> list[dict[str, Any]]:
    """Apply updates to a condition list; lastTransitionTime moves only when status changes."""
    merged = {str(c["type"]): dict(c) for c in existing or [] if "type" in c}
    for update in updates:
        previous = merged.get(update.type)
        unchanged = previous is not None and previous.get("status") == update.status
        merged[update.type] = {
            "type": str(update.type),
            "status": update.status,
            "reason": str(update.reason),
            "message": scrub(update.message),  # whatever a message quotes, no credential reaches status
            "observedGeneration": generation,
            "lastTransitionTime": previous["lastTransitionTime"] if unchanged and previous else now,
        }
    return sorted(merged.values(), key=lambda c: (_ORDER.get(c["type"], 99), c["type"]))


def ready_true(name: str, *, observe_only: bool = False) -> ConditionUpdate:
    if observe_only:
        return ConditionUpdate(ConditionType.READY, "True", Reason.OBSERVED,
                               f"Trunk {name} exists; ObserveOnly: the operator never writes to it.")
    return ConditionUpdate(ConditionType.READY, "True", Reason.UP_TO_DATE, f"Trunk {name} exists and matches spec.")


def ready_false(reason: Reason, message: str) -> ConditionUpdate:
    return ConditionUpdate(ConditionType.READY, "False", reason, message)


def synced_ok() -> ConditionUpdate:
    return ConditionUpdate(ConditionType.SYNCED, "True", Reason.SYNCED, "The last API round trip succeeded.")


def synced_failed(reason: Reason, message: str) -> ConditionUpdate:
    return ConditionUpdate(ConditionType.SYNCED, "False", reason, message)


def progress_conditions(conditions: Sequence[Mapping[str, Any]]) -> list[ConditionUpdate]:
    """kstatus' abnormal-true pair from Ready and Synced: Stalled when a person must act,
    Reconciling while the operator is still converging."""
    by_type = {c.get("type"): c for c in conditions}
    failing = [c for c in (by_type.get(ConditionType.SYNCED), by_type.get(ConditionType.READY))
               if c and c.get("status") != "True"]
    stalled = next((c for c in failing if c.get("reason") in STALLED_REASONS), None)
    if stalled is not None:
        reason, message = str(stalled["reason"]), str(stalled.get("message", ""))
        return [ConditionUpdate(ConditionType.RECONCILING, "False", reason, "Waiting for a person to act."),
                ConditionUpdate(ConditionType.STALLED, "True", reason, message)]
    if failing:
        first = failing[0]
        return [ConditionUpdate(ConditionType.RECONCILING, "True", str(first.get("reason")),
                                str(first.get("message", ""))),
                ConditionUpdate(ConditionType.STALLED, "False", Reason.PROGRESSING,
                                "The operator is still converging.")]
    return [ConditionUpdate(ConditionType.RECONCILING, "False", Reason.UP_TO_DATE, "Nothing left to do."),
            ConditionUpdate(ConditionType.STALLED, "False", Reason.UP_TO_DATE, "Nothing left to do.")]


def is_settled(ready: Condition | None, generation: int) -> bool:
    """Ready was True for the current generation (or Drifted from it): the trunk matched this spec
    once, so a later difference in the API is drift, not a change still being applied."""
    if ready is None:
        return False
    return ready.reason in (Reason.UP_TO_DATE, Reason.OBSERVED, Reason.DRIFTED) \
        and ready.observed_generation == generation
