"""The chaos runner's pure parts: figures from a request-log fixture, duplicate and orphan classification,
and the lines it prints."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.chaos.figures import (
    ObjectFacts,
    TrunkFacts,
    calls_by_method,
    classify,
    converged,
    faults_injected,
    kills_mid_create,
    object_facts,
    project_calls,
    stamp,
    went_backwards,
)
from tests.chaos.report import ScenarioFigures, figures_line, summary_line

PARENT = "/v2/projects/p/locations/global/sipTrunks"


def entry(seq: int, method: str, path: str, at: str, *, kind: str = "api", done: str | None = None,
          committed: str | None = None, injected: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"seq": seq, "kind": kind, "method": method, "path": path, "time": f"2026-01-01T00:00:{at}Z",
            "done": done and f"2026-01-01T00:00:{done}Z", "committed": committed and f"2026-01-01T00:00:{committed}Z",
            "injected": list(injected)}


LOG = [
    entry(1, "POST", "/token", "00.000", kind="token", done="00.010"),
    entry(2, "GET", PARENT, "01.000", done="01.010", injected=("error:503",)),
    entry(3, "GET", PARENT, "01.500", done="01.510"),
    entry(4, "POST", PARENT, "02.000", done="05.000", committed="05.000", injected=("hold",)),  # held 3 s
    entry(5, "POST", PARENT, "06.000", done="06.005"),
    entry(6, "PATCH", f"{PARENT}/a", "07.000", done="07.100", injected=("latency", "lost_response")),
    entry(7, "DELETE", f"{PARENT}/a", "08.000", injected=("hold",)),  # still held when the log was read
    entry(8, "GET", f"{PARENT}/a", "09.000", done="09.001", injected=("quota:429",)),
    entry(9, "GET", "/v2/projects/other/locations/global/sipTrunks", "09.500", done="09.501"),
    entry(10, "POST", "/v2/projects/p/locations/global/sipTrunks", "10.000", done=None),  # never finished
]


def at(seconds: float) -> float:
    return stamp("2026-01-01T00:00:00Z") + seconds


def test_only_the_projects_api_calls_are_counted_by_method() -> None:
    calls = project_calls(LOG, "p")
    assert [e["seq"] for e in calls] == [2, 3, 4, 5, 6, 7, 8, 10]
    assert calls_by_method(calls) == Counter({"LIST": 2, "POST": 3, "PATCH": 1, "DELETE": 1, "GET": 1})


def test_faults_are_counted_by_kind_from_the_log() -> None:
    assert faults_injected(project_calls(LOG, "p")) == Counter(
        {"503": 1, "hold": 2, "latency": 1, "lost_response": 1, "429": 1})


@pytest.mark.parametrize(("kill", "mid_create"), [
    (1.0, False),   # only a listing in flight
    (2.0, True),    # the held POST has just arrived
    (4.9, True),    # still held
    (5.0, False),   # committed
    (6.002, True),  # an unheld POST, in flight for 5 ms
    (8.5, False),   # a DELETE in flight is no create
    (12.0, True),   # a POST that never finished is in flight for good
])
def test_a_kill_is_mid_create_while_a_post_has_arrived_and_not_finished(kill: float, mid_create: bool) -> None:
    assert kills_mid_create([at(kill)], LOG) == int(mid_create)


def test_kills_are_counted_once_whatever_the_number_of_creates_in_flight() -> None:
    log = [entry(1, "POST", PARENT, "00.000", done="04.000"), entry(2, "POST", PARENT, "01.000", done="04.000")]
    assert kills_mid_create([at(2.0), at(3.0), at(5.0)], log) == 2


def obj(name: str, hosts: list[str], trunk: str | None = None) -> ObjectFacts:
    return ObjectFacts(name, frozenset(hosts), trunk)


def trunk(name: str, hosts: list[str]) -> TrunkFacts:
    return TrunkFacts(name, frozenset(hosts))


def test_duplicates_and_orphans() -> None:
    objects = [obj("a", ["a.example.com"], "t1"), obj("b", ["b.example.com", "c.example.com"], "t3"),
               obj("c", ["d.example.com"], None)]
    trunks = [trunk("t1", ["a.example.com"]), trunk("t2", ["a.example.com"]),        # a: one duplicate, unowned
              trunk("t3", ["c.example.com", "b.example.com"]),                        # b: hostnames compare as sets
              trunk("t4", ["d.example.com"]), trunk("t5", ["d.example.com"]),         # c: recorded nothing yet
              trunk("t6", ["z.example.com"])]                                         # nobody's
    found = classify(objects, trunks)
    assert found.duplicates == 2
    assert found.duplicated == ("a", "c")
    assert found.orphans == {"t2", "t4", "t5", "t6"}


def test_no_objects_left_makes_every_trunk_an_orphan() -> None:
    assert classify([], [trunk("t1", ["a.example.com"])]).orphans == {"t1"}
    assert classify([obj("a", ["a.example.com"], "t1")], [trunk("t1", ["a.example.com"])]).duplicates == 0


def kube_object(generation: int, status: dict[str, Any] | None, annotations: dict[str, str] | None = None
                ) -> dict[str, Any]:
    metadata = {"name": "x", "generation": generation, "annotations": annotations or {}}
    return {"metadata": metadata, "spec": {"expectedHostname": ["x.example.com"]}, **({"status": status} if status
                                                                                      else {})}


def ready(generation: int, status: str = "True") -> dict[str, Any]:
    return {"observedGeneration": generation, "name": "t",
            "conditions": [{"type": "Ready", "status": status, "observedGeneration": generation}]}


def test_an_object_converged_only_at_its_current_generation() -> None:
    assert converged(kube_object(2, ready(2)))
    assert not converged(kube_object(2, ready(1)))
    assert not converged(kube_object(2, ready(2, "False")))
    assert not converged(kube_object(1, None))


def test_the_recorded_trunk_comes_from_status_else_the_annotation() -> None:
    assert object_facts(kube_object(1, ready(1))).trunk == "t"
    annotated = kube_object(1, None, {"dialogflow.siptrunk.dev/trunk-name": "projects/p/locations/global/sipTrunks/u"})
    assert object_facts(annotated).trunk == "projects/p/locations/global/sipTrunks/u"
    assert object_facts(kube_object(1, None)).trunk is None


def test_generations_going_backwards() -> None:
    assert not went_backwards([(1, 1), (1, 1), (2, 1), (2, 2)])
    assert went_backwards([(2, 2), (1, 2)])
    assert went_backwards([(2, 2), (2, 1)])


def test_figures_line_and_summary() -> None:
    storm = ScenarioFigures("kill-storm", objects=30, kills=20, mid_create_kills=7, calls=90, lists=20, minimal=60,
                            converge_s=12.34, faults=Counter({"hold": 5, "503": 2}), extra={"left_after_delete": 0})
    broken = ScenarioFigures("fault-storm", objects=10, duplicates=1, calls=10, minimal=30,
                             failures=["something"])
    assert figures_line(storm) == (
        "chaos kill-storm: objects=30 kills=20 mid_create_kills=7 duplicates=0 orphans=0 unconverged=0 "
        "amplification=1.50 calls=90 lists=20 minimal=60 converge_s=12.3 faults_injected=7 faults=503:2,hold:5 "
        "left_after_delete=0 result=PASS")
    assert figures_line(broken).endswith("result=FAIL")
    assert summary_line([storm, broken], 300.0) == (
        "chaos summary: scenarios=2 objects=40 kills=20 mid_create_kills=7 duplicates=1 orphans=0 unconverged=0 "
        "amplification=1.11 converge_s=12.3 faults_injected=7 runtime_s=300.0 failed=fault-storm result=FAIL")
    assert figures_line(ScenarioFigures("x", objects=1)).count("amplification=n/a") == 1
