"""Health from connections: status mirror, Connected / CertificatesValid, transition events."""

from __future__ import annotations

from siptrunk_operator.models import SipTrunk
from siptrunk_operator.plan import health
from siptrunk_operator.reasons import Reason

NAME = "projects/p/locations/global/sipTrunks/abc"


def trunk(**overrides: object) -> SipTrunk:
    body: dict[str, object] = {"name": NAME, "expectedHostname": ["a.example.com", "b.example.com"],
                               "displayName": "A"}
    body.update(overrides)
    return SipTrunk.model_validate(body)


def test_connected_summary_and_condition() -> None:
    observed = trunk(connections=[
        {"connectionId": "c1", "state": "CONNECTED"},
        {"connectionId": "c2", "state": 4},
        {"connectionId": "c3", "state": "DISCONNECTED"},
    ])
    assert health.connected_summary(observed) == "2/3"
    cond = health.connected_condition(observed)
    assert (cond.status, cond.reason) == ("True", "Connected")
    assert "c3=DISCONNECTED" in cond.message

    none_yet = health.connected_condition(trunk())
    assert (none_yet.status, none_yet.reason) == ("False", "NoConnections")
    down = health.connected_condition(trunk(connections=[{"connectionId": "c", "state": "DISCONNECTED"}]))
    assert (down.status, down.reason) == ("False", "Disconnected")


def test_certificate_condition_names_state_and_message() -> None:
    observed = trunk(connections=[
        {"connectionId": "c1", "state": "CONNECTED",
         "errorDetails": {"certificateState": "CERTIFICATE_VALID"}},
        {"connectionId": "c2", "state": "AUTHENTICATION_FAILED",
         "errorDetails": {"certificateState": 3, "errorMessage": "leaf expired 2026-01-01"}},
    ])
    cond = health.certificates_condition(observed)
    assert (cond.status, cond.reason) == ("False", "CERTIFICATE_EXPIRED")
    assert "c2: CERTIFICATE_EXPIRED (leaf expired 2026-01-01)" in cond.message
    assert health.certificates_condition(trunk()).status == "True"


def test_observed_status_uses_enum_names() -> None:
    observed = trunk(connections=[{"connectionId": "c1", "state": 1, "updateTime": "2026-11-27T00:00:00Z"}])
    assert health.observed_status(observed) == {
        "name": NAME,
        "hostnames": "a.example.com,b.example.com",
        "connected": "1/1",
        "connections": [{"connectionId": "c1", "state": "CONNECTED", "updateTime": "2026-11-27T00:00:00Z"}],
        "certificates": "Valid",
        "peerHostnames": None,
    }


def test_peer_hostname_certificate_errors_count() -> None:
    observed = trunk(peerHostnames=[{"peerHostname": "p.example.com", "connectionState": "AUTHENTICATION_FAILED",
                                     "errorDetails": {"certificateState": "CERTIFICATE_UNAUTHENTICATED"}}])
    cond = health.certificates_condition(observed)
    assert (cond.status, cond.reason) == ("False", "CERTIFICATE_UNAUTHENTICATED")
    assert health.observed_status(observed)["peerHostnames"][0]["connectionState"] == "AUTHENTICATION_FAILED"


def test_transitions_name_old_and_new_state_with_certificate() -> None:
    before = [{"connectionId": "c1", "state": "CONNECTED"}, {"connectionId": "c2", "state": "CONNECTED"}]
    after = [{"connectionId": "c1", "state": "CONNECTED"},
             {"connectionId": "c2", "state": "AUTHENTICATION_FAILED",
              "errorDetails": {"certificateState": "CERTIFICATE_EXPIRED"}},
             {"connectionId": "c3", "state": "KEEPALIVE"}]
    assert health.connection_transitions(before, after) == [
        (False, "Connection c2: CONNECTED → AUTHENTICATION_FAILED (CERTIFICATE_EXPIRED)"),
        (True, "Connection c3: absent → KEEPALIVE"),
    ]
    assert health.connection_transitions(after, after) == []
    assert health.connection_transitions(after, []) [0] == (False, "Connection c1: CONNECTED → absent")


def test_condition_messages_and_summaries() -> None:
    none = trunk()
    assert health.connected_condition(none).message == "The API reports no connection for this trunk yet."
    two = trunk(connections=[{"connectionId": "c1", "state": "CONNECTED"}, {"state": "DISCONNECTED"}])
    assert health.connected_condition(two).message == "1 of 2 connections healthy: c1=CONNECTED, ?=DISCONNECTED"
    ok = health.certificates_condition(two)
    assert (ok.status, ok.reason, ok.message) == ("True", "NoCertificateErrors",
                                                  "No connection reports a certificate error.")
    bad = trunk(connections=[
        {"connectionId": "c1", "state": "AUTHENTICATION_FAILED",
         "errorDetails": {"certificateState": "CERTIFICATE_EXPIRED", "errorMessage": "expired"}},
        {"connectionId": "c2", "state": "AUTHENTICATION_FAILED",
         "errorDetails": {"certificateState": "CERTIFICATE_HOSTNAME_NOT_FOUND"}}])
    assert health.certificates_condition(bad).message == (
        "c1: CERTIFICATE_EXPIRED (expired); c2: CERTIFICATE_HOSTNAME_NOT_FOUND")
    assert health.observed_status(bad)["certificates"] == "Invalid"
    assert [(c.type, c.status) for c in health.unknown_health(Reason.LIST_FAILED, "m")] == [
        ("Connected", "Unknown"), ("CertificatesValid", "Unknown")]


def test_a_peer_hostname_with_a_valid_certificate_is_no_error() -> None:
    valid = trunk(peerHostnames=[{"peerHostname": "p.example.com",
                                  "errorDetails": {"certificateState": "CERTIFICATE_VALID"}}])
    assert health.certificates_condition(valid).status == "True"


def test_a_connection_without_a_state_is_described_as_unspecified() -> None:
    assert health.connection_transitions([], [{"connectionId": "c1"}]) == [
        (False, "Connection c1: absent → STATE_UNSPECIFIED")]
