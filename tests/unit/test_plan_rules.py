"""Pure decisions: update masks, patch bodies, identity, pacing and conditions."""

from __future__ import annotations

import pytest

from siptrunk_operator.models import SipTrunk
from siptrunk_operator.plan import conditions, drift, identity, pacing
from siptrunk_operator.reasons import ConditionType
from siptrunk_operator.settings import OperatorSettings
from siptrunk_operator.spec import SipTrunkSpec

NAME = "projects/p/locations/global/sipTrunks/abc"


def spec(**overrides: object) -> SipTrunkSpec:
    body: dict[str, object] = {"projectID": "p", "expectedHostname": ["a.example.com", "b.example.com"],
                               "displayName": "A"}
    body.update(overrides)
    return SipTrunkSpec.model_validate(body)


def trunk(**overrides: object) -> SipTrunk:
    body: dict[str, object] = {"name": NAME, "expectedHostname": ["a.example.com", "b.example.com"],
                               "displayName": "A"}
    body.update(overrides)
    return SipTrunk.model_validate(body)


@pytest.mark.parametrize(
    ("desired", "observed", "mask"),
    [
        ({}, {}, []),
        ({"displayName": "B"}, {}, ["displayName"]),
        ({"expectedHostname": ["b.example.com", "a.example.com"]}, {}, []),
        ({"expectedHostname": ["A.example.com", "b.example.com"]}, {}, []),
        ({"expectedHostname": ["a.example.com"]}, {}, ["expectedHostname"]),
        ({"displayName": "B", "expectedHostname": ["c.example.com"]}, {},
         ["displayName", "expectedHostname"]),
        ({"peerHostnames": ["p.example.com"]}, {}, ["peerHostnames"]),
        ({"peerHostnames": ["p.example.com"]}, {"peerHostnames": [{"peerHostname": "P.example.com"}]}, []),
        ({"googleRootCertFile": "EXTERNAL_PRIVATE_CA"}, {}, ["googleRootCertFile"]),
        ({"googleRootCertFile": "EXTERNAL_PRIVATE_CA"}, {"googleRootCertFile": 5}, []),
        ({"googleRootCertFile": "CERT_FILE_UNSPECIFIED"}, {}, []),
        ({"displayName": None}, {"displayName": "set elsewhere"}, []),
        ({"displayName": ""}, {"displayName": None}, []),
        ({"displayName": ""}, {"displayName": "old"}, ["displayName"]),
    ],
)
def test_update_mask(desired: dict[str, object], observed: dict[str, object], mask: list[str]) -> None:
    assert drift.update_mask(spec(**desired), trunk(**observed)) == tuple(mask)


def test_patch_body_holds_only_masked_fields() -> None:
    body = drift.patch_body(spec(displayName="B"), NAME, ["displayName"]).to_wire()
    assert body == {"name": NAME, "displayName": "B", "expectedHostname": []}
    body = drift.patch_body(spec(), NAME, ["expectedHostname"]).to_wire()
    assert body == {"name": NAME, "expectedHostname": ["a.example.com", "b.example.com"]}


def test_desired_trunk_has_no_name() -> None:
    assert spec().desired_trunk().to_wire() == {
        "expectedHostname": ["a.example.com", "b.example.com"], "displayName": "A",
    }


def test_merge_conditions_keeps_transition_time_when_status_is_unchanged() -> None:
    first = conditions.merge_conditions(
        None, [conditions.ConditionUpdate(ConditionType.READY, "False", "Creating", "m")], generation=1, now="T1"
    )
    assert first[0]["lastTransitionTime"] == "T1"
    same = conditions.merge_conditions(
        first, [conditions.ConditionUpdate(ConditionType.READY, "False", "APIUnavailable", "m2")],
        generation=2, now="T2"
    )
    assert same[0]["lastTransitionTime"] == "T1"
    assert (same[0]["reason"], same[0]["observedGeneration"]) == ("APIUnavailable", 2)
    flipped = conditions.merge_conditions(
        same, [conditions.ConditionUpdate(ConditionType.READY, "True", "UpToDate", "ok"),
               conditions.ConditionUpdate(ConditionType.CONNECTED, "True", "Connected", "ok"),
               conditions.synced_ok()], generation=2, now="T3"
    )
    assert [c["type"] for c in flipped] == ["Ready", "Synced", "Connected"]
    assert flipped[0]["lastTransitionTime"] == "T3"


def test_patch_body_for_newer_fields() -> None:
    desired = spec(peerHostnames=["p.example.com"], googleRootCertFile="EXTERNAL_PRIVATE_CA")
    body = drift.patch_body(desired, NAME, ["peerHostnames", "googleRootCertFile"]).to_wire(enums_as_int=True)
    assert body == {"name": NAME, "expectedHostname": [], "peerHostnames": [{"peerHostname": "p.example.com"}],
                    "googleRootCertFile": 5}


@pytest.mark.parametrize(
    ("listed", "owned_elsewhere", "expected"),
    [
        ([], set(), identity.Recovery()),
        ([{"name": "n1"}], set(), identity.Recovery(adopt="n1")),
        ([{"name": "n1"}, {"name": "n2", "displayName": "other"}], set(), identity.Recovery(adopt="n1")),
        ([{"name": "n1"}, {"name": "n2", "expectedHostname": ["x.example.com"]}], set(),
         identity.Recovery(adopt="n1")),
        ([{"name": "n1"}, {"name": "n2"}], {"n1"}, identity.Recovery(adopt="n2")),
        ([{"name": "n1"}], {"n1"}, identity.Recovery()),
        ([{"name": "n2"}, {"name": "n1"}], set(), identity.Recovery(ambiguous=("n1", "n2"))),
    ],
)
def test_recover_create_never_creates_blindly(
    listed: list[dict[str, object]], owned_elsewhere: set[str], expected: identity.Recovery
) -> None:
    trunks = [trunk(**item) for item in listed]
    recovery = identity.recover_create(spec(), trunks, frozenset(owned_elsewhere))
    assert recovery == expected
    assert recovery.create == (expected == identity.Recovery())
    indexed = identity.recover_create(spec(), identity.Listing(trunks), frozenset(owned_elsewhere))
    assert indexed == expected  # the index finds exactly what a scan finds


def test_ambiguous_message_tells_how_to_resolve() -> None:
    message = identity.ambiguous_message(spec(), ["n1", "n2"], "2026-12-01T10:00:00Z", deleting=False)
    assert "n1, n2" in message and "spec.resourceID" in message and "projects/p/locations/global" in message
    assert "2026-12-01T10:00:00Z" in message and "adopts the one left" in message
    on_delete = identity.ambiguous_message(spec(), ["n1", "n2"], "2026-12-01T10:00:00Z", deleting=True)
    assert "Nothing is deleted" in on_delete and "deletionPolicy: Abandon" in on_delete


def test_conflict_owner_prefers_established_then_oldest() -> None:
    me = identity.ObjectRef(1, "2026-01-02T00:00:00Z", "ns", "new")
    older_claim = identity.ObjectRef(1, "2026-01-01T00:00:00Z", "ns", "old")
    established = identity.ObjectRef(0, "2026-01-03T00:00:00Z", "ns", "owner")
    assert identity.conflict_owner(me, []) is None
    assert identity.conflict_owner(me, [older_claim]) == older_claim
    assert identity.conflict_owner(older_claim, [me]) is None
    assert identity.conflict_owner(older_claim, [me, established]) == established
    assert identity.conflict_owner(established, [me, older_claim]) is None


def _interval(uid: str, annotation: str | None) -> float:
    return pacing.resync_interval(uid, annotation, OperatorSettings(resync_seconds=600, min_resync_seconds=60,
                                                                      max_resync_seconds=86400))


def test_resync_interval_jitter_and_bounds() -> None:
    values = [_interval(f"uid-{i}", None) for i in range(200)]
    assert all(450 <= v < 750 for v in values)
    assert max(values) - min(values) > 200  # spread out, not lockstep
    assert _interval("u", None) == _interval(
        "u", None)
    assert 60 <= _interval("u", "1") < 75
    assert _interval("u", "999999") <= 86400 * 1.25
    assert _interval("u", "junk") == _interval(
        "u", None)


@pytest.mark.parametrize(
    ("resource_id", "expected"),
    [
        (None, None),
        ("abc", "projects/p/locations/global/sipTrunks/abc"),
        ("projects/p/locations/global/sipTrunks/abc", "projects/p/locations/global/sipTrunks/abc"),
    ],
)
def test_adopted_name(resource_id: str | None, expected: str | None) -> None:
    assert spec(resourceID=resource_id).adopted_name() == expected


def test_adopted_name_rejects_another_parent() -> None:
    with pytest.raises(ValueError, match="not under projects/p/locations/global"):
        spec(resourceID="projects/q/locations/global/sipTrunks/abc").adopted_name()


@pytest.mark.parametrize(
    ("ready", "synced", "expected"),
    [
        (("True", "UpToDate"), ("True", "Synced"), {"Reconciling": "False", "Stalled": "False"}),
        (("False", "InvalidSpec"), ("False", "InvalidSpec"), {"Reconciling": "False", "Stalled": "True"}),
        (("True", "UpToDate"), ("False", "APIUnavailable"), {"Reconciling": "True", "Stalled": "False"}),
        (("False", "Drifted"), ("True", "Synced"), {"Reconciling": "True", "Stalled": "False"}),
        (("False", "NotFoundInAPI"), ("True", "Synced"), {"Reconciling": "False", "Stalled": "True"}),
    ],
)
def test_progress_conditions_for_kstatus(
    ready: tuple[str, str], synced: tuple[str, str], expected: dict[str, str]
) -> None:
    listed = [{"type": "Ready", "status": ready[0], "reason": ready[1], "message": "m"},
              {"type": "Synced", "status": synced[0], "reason": synced[1], "message": "m"}]
    got = {c.type: c.status for c in conditions.progress_conditions(listed)}
    assert got == expected


def test_is_settled_needs_ready_for_this_generation() -> None:
    def ready(reason: str, generation: int) -> conditions.Condition:
        return conditions.Condition.parse({"type": "Ready", "status": "True", "reason": reason,
                                           "observedGeneration": generation})

    assert conditions.is_settled(ready("UpToDate", 3), 3)
    assert conditions.is_settled(ready("Drifted", 3), 3) and conditions.is_settled(ready("Observed", 3), 3)
    assert not conditions.is_settled(ready("UpToDate", 2), 3)
    assert not conditions.is_settled(ready("InvalidSpec", 3), 3)
    assert not conditions.is_settled(None, 3)


def test_recovery_matches_what_was_sent_not_the_edited_spec() -> None:
    sent = identity.fingerprint(["a.example.com", "b.example.com"], "A")
    edited = spec(displayName="Renamed while the create was in doubt")
    listed = [trunk(name="n1"), trunk(name="n2", displayName="Renamed while the create was in doubt")]
    assert identity.recover_create(edited, listed, frozenset(), sent=sent) == identity.Recovery(adopt="n1")
    assert identity.recover_create(edited, listed, frozenset()) == identity.Recovery(adopt="n2")
    index = identity.Listing(listed)
    assert identity.recover_create(edited, index, frozenset(), sent=sent) == identity.Recovery(adopt="n1")
    assert identity.recover_create(edited, index, frozenset()) == identity.Recovery(adopt="n2")
    assert identity.recover_create(edited, index, frozenset(), exclude="n2") == identity.Recovery()


def test_fingerprint_ignores_order_and_case() -> None:
    assert identity.fingerprint(["B.example.com", "a.example.com"], None) == identity.fingerprint(
        ["a.example.com", "b.example.com"], "")
    assert identity.fingerprint(["a.example.com"], "x") != identity.fingerprint(["a.example.com"], "y")
