"""Pure decisions: what to send to the API and what to write into status. No I/O here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from siptrunk_operator.models import (
    CERTIFICATE_OK_STATES,
    HEALTHY_CONNECTION_STATES,
    Connection,
    SipTrunk,
)
from siptrunk_operator.spec import SipTrunkSpec

READY, CONNECTED, CERTIFICATES_VALID = "Ready", "Connected", "CertificatesValid"


def hostname_set(hostnames: Iterable[str]) -> frozenset[str]:
    """Hostnames compare case-insensitively and without order, as a TLS peer check does."""
    return frozenset(name.strip().lower() for name in hostnames)


def desired_trunk(spec: SipTrunkSpec) -> SipTrunk:
    """The body of a create call: no name, the server assigns it."""
    return SipTrunk(expected_hostname=list(spec.expected_hostname), display_name=spec.display_name)


def update_mask(spec: SipTrunkSpec, observed: SipTrunk) -> list[str]:
    """The camelCase update-mask paths whose desired value differs from the API's.

    An unset `displayName` in spec means "not managed", so it never clears a name set elsewhere.
    """
    mask: list[str] = []
    if spec.display_name is not None and spec.display_name != (observed.display_name or ""):
        mask.append("displayName")
    if hostname_set(spec.expected_hostname) != hostname_set(observed.expected_hostname):
        mask.append("expectedHostname")
    return mask


def patch_body(spec: SipTrunkSpec, name: str, mask: Sequence[str]) -> SipTrunk:
    """A PATCH body holding only the masked fields, so nothing else can be overwritten."""
    return SipTrunk(
        name=name,
        display_name=spec.display_name if "displayName" in mask else None,
        expected_hostname=list(spec.expected_hostname) if "expectedHostname" in mask else [],
    )


# -- status ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConditionUpdate:
    type: str
    status: str
    reason: str
    message: str


def _healthy(connection: Connection) -> bool:
    return connection.state in HEALTHY_CONNECTION_STATES


def connected_summary(trunk: SipTrunk) -> str:
    connections = trunk.connections or []
    return f"{sum(_healthy(c) for c in connections)}/{len(connections)}"


def connected_condition(trunk: SipTrunk) -> ConditionUpdate:
    connections = trunk.connections or []
    if not connections:
        return ConditionUpdate(CONNECTED, "False", "NoConnections",
                               "The API reports no connection for this trunk yet.")
    healthy = [c for c in connections if _healthy(c)]
    states = ", ".join(f"{c.connection_id or '?'}={c.state or 'STATE_UNSPECIFIED'}" for c in connections)
    if healthy:
        return ConditionUpdate(CONNECTED, "True", "Connected",
                               f"{len(healthy)} of {len(connections)} connections healthy: {states}")
    return ConditionUpdate(CONNECTED, "False", "Disconnected", f"No healthy connection: {states}")


def certificates_condition(trunk: SipTrunk) -> ConditionUpdate:
    failing = [
        c for c in trunk.connections or []
        if c.error_details and c.error_details.certificate_state not in (None, *CERTIFICATE_OK_STATES)
    ]
    if not failing:
        return ConditionUpdate(CERTIFICATES_VALID, "True", "NoCertificateErrors",
                               "No connection reports a certificate error.")
    first = failing[0].error_details
    assert first is not None and first.certificate_state is not None
    details = "; ".join(
        f"{c.connection_id or '?'}: {c.error_details.certificate_state}"
        + (f" ({c.error_details.error_message})" if c.error_details.error_message else "")
        for c in failing
        if c.error_details
    )
    return ConditionUpdate(CERTIFICATES_VALID, "False", str(first.certificate_state.value), details)


def connections_status(trunk: SipTrunk) -> list[dict[str, Any]]:
    return [c.to_wire() for c in trunk.connections or []]


def observed_status(trunk: SipTrunk) -> dict[str, Any]:
    """The status fields mirrored from an observed trunk (conditions are merged separately)."""
    return {
        "name": trunk.name,
        "hostnames": ",".join(sorted(trunk.expected_hostname)),
        "connected": connected_summary(trunk),
        "connections": connections_status(trunk),
    }


def merge_conditions(
    existing: Sequence[Mapping[str, Any]] | None,
    updates: Iterable[ConditionUpdate],
    *,
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """Apply updates to a condition list; lastTransitionTime moves only when status changes."""
    merged = {c["type"]: dict(c) for c in existing or [] if "type" in c}
    for update in updates:
        previous = merged.get(update.type)
        changed = previous is None or previous.get("status") != update.status
        merged[update.type] = {
            "type": update.type,
            "status": update.status,
            "reason": update.reason,
            "message": update.message,
            "observedGeneration": generation,
            "lastTransitionTime": now if changed or previous is None else previous["lastTransitionTime"],
        }
    order = {READY: 0, CONNECTED: 1, CERTIFICATES_VALID: 2}
    return sorted(merged.values(), key=lambda c: (order.get(c["type"], 99), c["type"]))


def ready_when_in_sync(trunk: SipTrunk) -> ConditionUpdate:
    return ConditionUpdate(READY, "True", "UpToDate", f"Trunk {trunk.name} exists and matches spec.")
