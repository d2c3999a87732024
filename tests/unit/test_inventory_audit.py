"""The audit's classes, exit codes and its table and JSON renderings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from siptrunk_operator.inventory.audit import AuditReport, Finding, Kind, audit
from siptrunk_operator.inventory.report import to_json, to_table
from siptrunk_operator.models import SipTrunk
from siptrunk_operator.plan.view import TRUNK_NAME_ANNOTATION

PARENT = "projects/audit-proj/locations/global"


def name(trunk_id: str) -> str:
    return f"{PARENT}/sipTrunks/{trunk_id}"


def trunk(trunk_id: str, *hosts: str, display: str | None = None) -> SipTrunk:
    return SipTrunk(name=name(trunk_id), expected_hostname=list(hosts or ["sbc.example.com"]), display_name=display)


def obj(object_name: str, *hosts: str, resource_id: str | None = None, identity: str | None = None,
        display: str | None = None, observe_only: bool = False, created: str = "2026-01-01T00:00:00Z",
        project: str = "audit-proj", status_name: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"projectID": project, "expectedHostname": list(hosts or ["sbc.example.com"])}
    if resource_id:
        spec["resourceID"] = resource_id
    if display is not None:
        spec["displayName"] = display
    if observe_only:
        spec["managementPolicy"] = "ObserveOnly"
    annotations = {TRUNK_NAME_ANNOTATION: name(identity)} if identity else {}
    return {"metadata": {"namespace": "ns", "name": object_name, "uid": object_name, "creationTimestamp": created,
                         "annotations": annotations},
            "spec": spec, "status": {"name": name(status_name)} if status_name else {}}


Row = tuple[Kind, tuple[str, ...], tuple[str, ...]]


def rows(report: AuditReport) -> list[Row]:
    return [(f.kind, tuple(n.rsplit("/", 1)[1] for n in f.trunks), tuple(o.split("/")[1] for o in f.objects))
            for f in report.findings]


MAN, ORPH, MISS, DUP, CONF = Kind.MANAGED, Kind.ORPHANED, Kind.MISSING, Kind.DUPLICATED, Kind.CONFLICTING


@pytest.mark.parametrize(
    ("trunks", "objects", "expected"),
    [
        pytest.param([], [], [], id="nothing"),
        pytest.param([trunk("t1")], [obj("a", identity="t1")], [(MAN, ("t1",), ("a",))], id="managed by annotation"),
        pytest.param([trunk("t1")], [obj("a", resource_id="t1")], [(MAN, ("t1",), ("a",))], id="managed by resourceID"),
        pytest.param([trunk("t1")], [obj("a", status_name="t1")], [(MAN, ("t1",), ("a",))], id="managed by status"),
        pytest.param([trunk("t1")], [obj("a", resource_id=name("t1"))], [(MAN, ("t1",), ("a",))],
                     id="resourceID as a full name"),
        pytest.param([trunk("t1")], [], [(ORPH, ("t1",), ())], id="orphaned"),
        pytest.param([trunk("t1", "a.example.com"), trunk("t2", "b.example.com")], [obj("a", "a.example.com",
                                                                                         identity="t1")],
                     [(MAN, ("t1",), ("a",)), (ORPH, ("t2",), ())], id="orphaned next to managed"),
        pytest.param([], [obj("a", identity="gone")], [(MISS, ("gone",), ("a",))], id="missing"),
        pytest.param([trunk("t1", "other.example.com")], [obj("a")], [(ORPH, ("t1",), ()), (MISS, (), ("a",))],
                     id="records no trunk"),
        pytest.param([trunk("t1")], [obj("a")], [(ORPH, ("t1",), ()), (MISS, (), ("a",))],
                     id="records no trunk, one unowned match"),
        pytest.param([trunk("t1"), trunk("t2")], [obj("a", identity="t1")], [(DUP, ("t1", "t2"), ("a",))],
                     id="duplicated"),
        pytest.param([trunk("t1"), trunk("t2")], [obj("a")], [(DUP, ("t1", "t2"), ("a",))],
                     id="duplicated, none recorded (an interrupted create)"),
        pytest.param([trunk("t1", display="A"), trunk("t2", display="B")], [obj("a", identity="t1", display="A")],
                     [(MAN, ("t1",), ("a",)), (ORPH, ("t2",), ())], id="a different display name is no duplicate"),
        pytest.param([trunk("t1", display="A"), trunk("t2", display="B")], [obj("a", identity="t1")],
                     [(DUP, ("t1", "t2"), ("a",))], id="an unset display name matches any"),
        pytest.param([trunk("t1", "A.example.com", "b.example.com"), trunk("t2", "b.example.com", "a.example.com")],
                     [obj("a", "a.example.com", "b.example.com", identity="t1")], [(DUP, ("t1", "t2"), ("a",))],
                     id="hostnames compare as a set"),
        pytest.param([trunk("t1"), trunk("t2")], [obj("a", identity="t1"), obj("b", identity="t2")],
                     [(MAN, ("t1",), ("a",)), (MAN, ("t2",), ("b",))], id="each owned: no duplicate"),
        pytest.param([trunk("t1")], [obj("a", resource_id="t1"), obj("b", resource_id="t1")],
                     [(CONF, ("t1",), ("a", "b"))], id="conflicting: the oldest first"),
        pytest.param([trunk("t1")], [obj("a", resource_id="t1"), obj("b", identity="t1", created="2026-06-01T00:00Z")],
                     [(CONF, ("t1",), ("b", "a"))], id="conflicting: the established owner first"),
        pytest.param([], [obj("a", resource_id="t1"), obj("b", resource_id="t1")], [(CONF, ("t1",), ("a", "b"))],
                     id="conflicting before missing"),
        pytest.param([trunk("t1")], [obj("a", resource_id="t1", observe_only=True)], [(MAN, ("t1",), ("a",))],
                     id="observed only"),
        pytest.param([trunk("t1")], [obj("a", identity="t1"), obj("b", resource_id="t1", observe_only=True)],
                     [(MAN, ("t1",), ("a", "b"))], id="owned and observed: no conflict"),
        pytest.param([], [obj("a", resource_id="t1", observe_only=True)], [(MISS, ("t1",), ("a",))],
                     id="observed trunk missing"),
        pytest.param([trunk("t1")], [obj("a", identity="t1", project="other-proj"),
                                     {"metadata": {"name": "bad"}, "spec": {}}],
                     [(ORPH, ("t1",), ())], id="other parents and invalid specs are not audited"),
        pytest.param([trunk("t1")], [obj("a", resource_id="projects/other-proj/locations/global/sipTrunks/t1")],
                     [(ORPH, ("t1",), ()), (MISS, (), ("a",))],
                     id="a resourceID in another parent claims nothing here"),
    ],
)
def test_classes(trunks: Sequence[SipTrunk], objects: Sequence[dict[str, Any]], expected: list[Row]) -> None:
    assert rows(audit(PARENT, trunks, objects)) == expected


def mix() -> AuditReport:
    trunks = [trunk("m", "m.example.com"), trunk("o", "o.example.com"), trunk("d1", "d.example.com"),
              trunk("d2", "d.example.com"), trunk("c", "c.example.com")]
    objects = [obj("managed", "m.example.com", resource_id="m"), obj("dup", "d.example.com", identity="d1"),
               obj("conflict-a", "c.example.com", resource_id="c"),
               obj("conflict-b", "c.example.com", resource_id="c", created="2026-02-01T00:00:00Z"),
               obj("missing", "x.example.com", identity="x")]
    return audit(PARENT, trunks, objects)


def test_a_mix_reports_each_trunk_and_object_once() -> None:
    report = mix()
    assert rows(report) == [(MAN, ("m",), ("managed",)), (ORPH, ("o",), ()), (MISS, ("x",), ("missing",)),
                            (DUP, ("d1", "d2"), ("dup",)), (CONF, ("c",), ("conflict-a", "conflict-b"))]
    assert report.exit_code == 4 | 8 | 16 | 32 == 60
    assert [report.count(kind) for kind in Kind] == [1, 1, 1, 1, 1]


@pytest.mark.parametrize(
    ("kinds", "code"),
    [((), 0), ((MAN,), 0), ((ORPH,), 4), ((MISS,), 8), ((DUP,), 16), ((CONF,), 32), ((ORPH, ORPH, MAN), 4),
     ((ORPH, CONF), 36)],
)
def test_exit_codes(kinds: tuple[Kind, ...], code: int) -> None:
    assert AuditReport(PARENT, tuple(Finding(kind, (), (), "") for kind in kinds)).exit_code == code


def test_json_report() -> None:
    data = to_json(mix())
    assert data["parent"] == PARENT
    assert data["summary"] == {"managed": 1, "orphaned": 1, "missing": 1, "duplicated": 1, "conflicting": 1}
    assert data["exitCode"] == 60
    assert data["findings"][3] == {
        "class": "duplicated", "trunks": [name("d1"), name("d2")], "objects": ["ns/dup"],
        "detail": f"2 trunks match its spec and belong to no other SipTrunk; it owns {name('d1')}"}
    assert data["findings"][4]["detail"] == "ns/conflict-a owns it; ns/conflict-b report Conflict"


def test_table_report() -> None:
    lines = to_table(mix()).splitlines()
    assert lines[0].split() == ["CLASS", "TRUNK", "OBJECT", "DETAIL"]
    assert lines[1].split()[:3] == ["managed", "m", "ns/managed"]
    assert lines[2].split() == ["orphaned", "o", "-", "o.example.com"]
    assert lines[3].split()[:3] == ["missing", "x", "ns/missing"]
    assert lines[4].split()[:3] == ["duplicated", "d1,d2", "ns/dup"]
    assert lines[5].split()[:3] == ["conflicting", "c", "ns/conflict-a,ns/conflict-b"]
    assert len({line.index(line.split()[2]) for line in lines[1:6]}) == 1  # aligned columns
    assert lines[-1] == (f"{PARENT}: managed 1, orphaned 1, missing 1, duplicated 1, conflicting 1 (exit code 60)")
