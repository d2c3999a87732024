"""Trunk health from the API's output-only fields: status mirror, conditions, transitions. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from siptrunk_operator.models import (
    CERTIFICATE_OK_STATES,
    HEALTHY_CONNECTION_STATES,
    Connection,
    ErrorDetails,
    SipTrunk,
)
from siptrunk_operator.plan.conditions import ConditionUpdate
from siptrunk_operator.reasons import ConditionType, Reason

CONNECTED, CERTIFICATES_VALID = ConditionType.CONNECTED, ConditionType.CERTIFICATES_VALID


def _healthy(connection: Connection) -> bool:
    return connection.state in HEALTHY_CONNECTION_STATES


def connected_summary(trunk: SipTrunk) -> str:
    connections = trunk.connections or []
    return f"{sum(_healthy(c) for c in connections)}/{len(connections)}"


def _cert_error(details: ErrorDetails | None) -> bool:
    return bool(details and details.certificate_state not in (None, *CERTIFICATE_OK_STATES))


def connected_condition(trunk: SipTrunk) -> ConditionUpdate:
    connections = trunk.connections or []
    if not connections:
        return ConditionUpdate(CONNECTED, "False", Reason.NO_CONNECTIONS,
                               "The API reports no connection for this trunk yet.")
    healthy = [c for c in connections if _healthy(c)]
    states = ", ".join(f"{c.connection_id or '?'}={c.state or 'STATE_UNSPECIFIED'}" for c in connections)
    if healthy:
        return ConditionUpdate(CONNECTED, "True", Reason.CONNECTED,
                               f"{len(healthy)} of {len(connections)} connections healthy: {states}")
    return ConditionUpdate(CONNECTED, "False", Reason.DISCONNECTED, f"No healthy connection: {states}")


def certificates_condition(trunk: SipTrunk) -> ConditionUpdate:
    """False when any connection or peer hostname reports a certificate error; reason = its state."""
    failing: list[tuple[str, ErrorDetails]] = [
        (c.connection_id or "?", c.error_details) for c in trunk.connections or []
        if c.error_details and _cert_error(c.error_details)
    ]
    failing += [
        (p.peer_hostname, p.error_details) for p in trunk.peer_hostnames or []
        if p.error_details and _cert_error(p.error_details)
    ]
    if not failing:
        return ConditionUpdate(CERTIFICATES_VALID, "True", Reason.NO_CERTIFICATE_ERRORS,
                               "No connection reports a certificate error.")
    reason = str(failing[0][1].certificate_state)
    message = "; ".join(
        f"{where}: {details.certificate_state}" + (f" ({details.error_message})" if details.error_message else "")
        for where, details in failing
    )
    return ConditionUpdate(CERTIFICATES_VALID, "False", reason, message)


def health_conditions(trunk: SipTrunk) -> list[ConditionUpdate]:
    return [connected_condition(trunk), certificates_condition(trunk)]


def observed_status(trunk: SipTrunk) -> dict[str, Any]:
    """The status fields mirrored from an observed trunk (conditions are merged separately)."""
    status: dict[str, Any] = {
        "name": trunk.name,
        "hostnames": ",".join(sorted(trunk.expected_hostname)),
        "connected": connected_summary(trunk),
        "connections": [c.to_wire() for c in trunk.connections or []],
        "certificates": "Valid" if certificates_condition(trunk).status == "True" else "Invalid",
        # None removes a stale value in the merge patch (an empty list would linger as [] forever).
        "peerHostnames": [p.to_wire() for p in trunk.peer_hostnames] if trunk.peer_hostnames else None,
    }
    return status


CLEARED_WHEN_MISSING: dict[str, Any] = {
    "hostnames": None, "connected": None, "connections": None, "certificates": None, "peerHostnames": None,
}
"""Status fields that describe a trunk; removed when the trunk no longer exists."""


def unknown_health(reason: Reason, message: str) -> list[ConditionUpdate]:
    """Health of a trunk that cannot be observed: Unknown, never a stale True."""
    return [ConditionUpdate(CONNECTED, "Unknown", reason, message),
            ConditionUpdate(CERTIFICATES_VALID, "Unknown", reason, message)]


def _describe(connection: Mapping[str, Any] | None) -> str:
    if not connection:
        return "absent"
    state = str(connection.get("state", "STATE_UNSPECIFIED"))
    certificate = (connection.get("errorDetails") or {}).get("certificateState")
    return f"{state} ({certificate})" if certificate else state


def connection_transitions(
    previous: Sequence[Mapping[str, Any]] | None, current: Sequence[Mapping[str, Any]]
) -> list[tuple[bool, str]]:
    """One (healthy_now, message) per connection whose state or certificate state changed."""
    before = {str(c.get("connectionId")): c for c in previous or []}
    after = {str(c.get("connectionId")): c for c in current}
    transitions: list[tuple[bool, str]] = []
    for connection_id in sorted(before.keys() | after.keys()):
        old, new = before.get(connection_id), after.get(connection_id)
        if _describe(old) == _describe(new):
            continue
        healthy = bool(new) and str(new.get("state")) in HEALTHY_CONNECTION_STATES if new else False
        transitions.append((healthy, f"Connection {connection_id}: {_describe(old)} → {_describe(new)}"))
    return transitions
