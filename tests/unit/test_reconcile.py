"""Pure decisions: update masks, patch bodies, status and conditions."""

from __future__ import annotations

import pytest

from siptrunk_operator import reconcile
from siptrunk_operator.models import SipTrunk
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
        ({"displayName": "B", "expectedHostname": ["c.example.com"]}, {}, ["displayName", "expectedHostname"]),
        ({"displayName": None}, {"displayName": "set elsewhere"}, []),
        ({"displayName": ""}, {"displayName": None}, []),
        ({"displayName": ""}, {"displayName": "old"}, ["displayName"]),
    ],
)
def test_update_mask(desired: dict[str, object], observed: dict[str, object], mask: list[str]) -> None:
    assert reconcile.update_mask(spec(**desired), trunk(**observed)) == mask


def test_patch_body_holds_only_masked_fields() -> None:
    body = reconcile.patch_body(spec(displayName="B"), NAME, ["displayName"]).to_wire()
    assert body == {"name": NAME, "displayName": "B", "expectedHostname": []}
    body = reconcile.patch_body(spec(), NAME, ["expectedHostname"]).to_wire()
    assert body == {"name": NAME, "expectedHostname": ["a.example.com", "b.example.com"]}


def test_desired_trunk_has_no_name() -> None:
    assert reconcile.desired_trunk(spec()).to_wire() == {
        "expectedHostname": ["a.example.com", "b.example.com"], "displayName": "A",
    }


def test_connected_summary_and_condition() -> None:
    observed = trunk(connections=[
        {"connectionId": "c1", "state": "CONNECTED"},
        {"connectionId": "c2", "state": 4},
        {"connectionId": "c3", "state": "DISCONNECTED"},
    ])
    assert reconcile.connected_summary(observed) == "2/3"
    cond = reconcile.connected_condition(observed)
    assert (cond.status, cond.reason) == ("True", "Connected")
    assert "c3=DISCONNECTED" in cond.message

    none_yet = reconcile.connected_condition(trunk())
    assert (none_yet.status, none_yet.reason) == ("False", "NoConnections")
    down = reconcile.connected_condition(trunk(connections=[{"connectionId": "c", "state": "DISCONNECTED"}]))
    assert (down.status, down.reason) == ("False", "Disconnected")


def test_certificate_condition_names_state_and_message() -> None:
    observed = trunk(connections=[
        {"connectionId": "c1", "state": "CONNECTED",
         "errorDetails": {"certificateState": "CERTIFICATE_VALID"}},
        {"connectionId": "c2", "state": "AUTHENTICATION_FAILED",
         "errorDetails": {"certificateState": 3, "errorMessage": "leaf expired 2026-01-01"}},
    ])
    cond = reconcile.certificates_condition(observed)
    assert (cond.status, cond.reason) == ("False", "CERTIFICATE_EXPIRED")
    assert "c2: CERTIFICATE_EXPIRED (leaf expired 2026-01-01)" in cond.message
    assert reconcile.certificates_condition(trunk()).status == "True"


def test_observed_status_uses_enum_names() -> None:
    observed = trunk(connections=[{"connectionId": "c1", "state": 1, "updateTime": "2026-11-27T00:00:00Z"}])
    assert reconcile.observed_status(observed) == {
        "name": NAME,
        "hostnames": "a.example.com,b.example.com",
        "connected": "1/1",
        "connections": [{"connectionId": "c1", "state": "CONNECTED", "updateTime": "2026-11-27T00:00:00Z"}],
    }


def test_merge_conditions_keeps_transition_time_when_status_is_unchanged() -> None:
    first = reconcile.merge_conditions(
        None, [reconcile.ConditionUpdate("Ready", "False", "Creating", "m")], generation=1, now="T1"
    )
    assert first[0]["lastTransitionTime"] == "T1"
    same = reconcile.merge_conditions(
        first, [reconcile.ConditionUpdate("Ready", "False", "APIUnavailable", "m2")], generation=2, now="T2"
    )
    assert same[0]["lastTransitionTime"] == "T1"
    assert (same[0]["reason"], same[0]["observedGeneration"]) == ("APIUnavailable", 2)
    flipped = reconcile.merge_conditions(
        same, [reconcile.ConditionUpdate("Ready", "True", "UpToDate", "ok"),
               reconcile.ConditionUpdate("Connected", "True", "Connected", "ok")], generation=2, now="T3"
    )
    assert [c["type"] for c in flipped] == ["Ready", "Connected"]
    assert flipped[0]["lastTransitionTime"] == "T3"
