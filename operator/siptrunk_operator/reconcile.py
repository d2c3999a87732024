"""Pure decisions: what to send to the API, which trunk an object owns, what status to write.

No I/O here; every function is table-tested in tests/unit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from siptrunk_operator.models import CertFile, SipTrunk
from siptrunk_operator.spec import SipTrunkSpec


def hostname_set(hostnames: Iterable[str]) -> frozenset[str]:
    """Hostnames compare case-insensitively and without order, as a TLS peer check does."""
    return frozenset(name.strip().lower() for name in hostnames)


def update_mask(spec: SipTrunkSpec, observed: SipTrunk) -> list[str]:
    """The camelCase update-mask paths whose desired value differs from the API's.

    Optional fields left unset in spec (displayName, peerHostnames, googleRootCertFile) are not
    managed, so the operator never clears a value set elsewhere.
    """
    mask: list[str] = []
    if spec.display_name is not None and spec.display_name != (observed.display_name or ""):
        mask.append("displayName")
    if hostname_set(spec.expected_hostname) != hostname_set(observed.expected_hostname):
        mask.append("expectedHostname")
    if spec.peer_hostnames is not None and hostname_set(spec.peer_hostnames) != hostname_set(
        p.peer_hostname for p in observed.peer_hostnames or []
    ):
        mask.append("peerHostnames")
    # proto3 JSON omits enum zero values, so CERT_FILE_UNSPECIFIED reads back as absent.
    desired_cert = None if spec.google_root_cert_file is CertFile.CERT_FILE_UNSPECIFIED else spec.google_root_cert_file
    observed_cert = None if observed.google_root_cert_file is CertFile.CERT_FILE_UNSPECIFIED \
        else observed.google_root_cert_file
    if desired_cert is not None and desired_cert != observed_cert:
        mask.append("googleRootCertFile")
    return mask


def patch_body(spec: SipTrunkSpec, name: str, mask: Sequence[str]) -> SipTrunk:
    """A PATCH body holding only the masked fields, so nothing else can be overwritten."""
    desired = spec.desired_trunk(name)
    return SipTrunk(
        name=name,
        display_name=desired.display_name if "displayName" in mask else None,
        expected_hostname=desired.expected_hostname if "expectedHostname" in mask else [],
        peer_hostnames=desired.peer_hostnames if "peerHostnames" in mask else None,
        google_root_cert_file=desired.google_root_cert_file if "googleRootCertFile" in mask else None,
    )


def matches_spec(spec: SipTrunkSpec, trunk: SipTrunk) -> bool:
    """Whether `trunk` is what a create from `spec` would have produced (used to recover a create)."""
    return hostname_set(spec.expected_hostname) == hostname_set(trunk.expected_hostname) and (
        spec.display_name is None or spec.display_name == (trunk.display_name or "")
    )


def fingerprint(hostnames: Iterable[str], display_name: str | None) -> str:
    """A short digest of what a create sends, kept in the pending marker: recovery then matches what
    was sent, even if the spec was edited before the retry."""
    text = "\n".join(sorted(hostname_set(hostnames))) + "\n#" + (display_name or "")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- identity ----------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class ObjectRef:
    """A SipTrunk object claiming a trunk. Ordered so the winner of a conflict sorts first: an
    established owner (rank 0: its annotation records the trunk) before a new claim (rank 1),
    then the oldest object."""

    rank: int
    created: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Recovery:
    """What to do after a create whose outcome is unknown: adopt one trunk, create, or stop."""

    adopt: str | None = None
    create: bool = False
    ambiguous: tuple[str, ...] = ()


def recover_create(spec: SipTrunkSpec, listed: Iterable[SipTrunk], owned_elsewhere: set[str],
                   sent: str | None = None) -> Recovery:
    """Never a blind second create: adopt the single unowned match, create if none, else stop.
    With `sent` (the marker's fingerprint) a match is what was sent; without it, what the spec asks."""

    def matches(trunk: SipTrunk) -> bool:
        if sent is None:
            return matches_spec(spec, trunk)
        return fingerprint(trunk.expected_hostname, trunk.display_name) == sent

    candidates = sorted(t.name for t in listed if t.name and t.name not in owned_elsewhere and matches(t))
    if len(candidates) == 1:
        return Recovery(adopt=candidates[0])
    if not candidates:
        return Recovery(create=True)
    return Recovery(ambiguous=tuple(candidates))


def ambiguous_message(spec: SipTrunkSpec, names: Sequence[str]) -> str:
    return (
        f"A create was interrupted and {len(names)} trunks in {spec.parent} match this spec and belong to "
        f"no other SipTrunk: {', '.join(names)}. Set spec.resourceID to the one this object should own; "
        "delete the others in the API if they are duplicates."
    )


def existing_message(spec: SipTrunkSpec, names: Sequence[str]) -> str:
    return (
        f"{', '.join(names)} in {spec.parent} already {'has' if len(names) == 1 else 'have'} these hostnames and "
        "belong to no SipTrunk. To manage it, set spec.resourceID to it; to create a new trunk anyway, change "
        "the hostnames or displayName, or delete the existing one in the API."
    )


def conflict_owner(me: ObjectRef, claimants: Iterable[ObjectRef]) -> ObjectRef | None:
    """The object that owns the trunk instead of `me`, or None when `me` is its owner."""
    oldest = min([me, *claimants])
    return None if oldest == me else oldest


# -- timing ------------------------------------------------------------------------------------


def resync_interval(uid: str, annotation: str | None, default: float, bounds: tuple[float, float]) -> float:
    """Seconds between drift checks: the annotation (clamped to bounds) or the default, jittered
    deterministically per object to [0.75x, 1.25x) so a fleet does not resync in lockstep."""
    base = default
    if annotation:
        try:
            base = float(annotation)
        except ValueError:
            base = default
    low, high = bounds
    base = min(max(base, low), high)
    fraction = int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16) / 0x1_0000_0000
    return max(low, base * (0.75 + fraction / 2))


# -- status ------------------------------------------------------------------------------------

READY, SYNCED, CONNECTED, CERTIFICATES_VALID = "Ready", "Synced", "Connected", "CertificatesValid"
RECONCILING, STALLED = "Reconciling", "Stalled"
_CONDITION_ORDER = {READY: 0, SYNCED: 1, CONNECTED: 2, CERTIFICATES_VALID: 3, RECONCILING: 4, STALLED: 5}

STALLED_REASONS = frozenset({
    "InvalidSpec", "PermissionDenied", "Conflict", "NotFoundInAPI", "CreateOutcomeUnknown", "ExistingTrunkFound",
})
"""Reasons that need a person: retrying alone will not fix them."""


@dataclass(frozen=True)
class ConditionUpdate:
    type: str
    status: str
    reason: str
    message: str


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
        unchanged = previous is not None and previous.get("status") == update.status
        merged[update.type] = {
            "type": update.type,
            "status": update.status,
            "reason": update.reason,
            "message": update.message,
            "observedGeneration": generation,
            "lastTransitionTime": previous["lastTransitionTime"] if unchanged and previous else now,
        }
    return sorted(merged.values(), key=lambda c: (_CONDITION_ORDER.get(c["type"], 99), c["type"]))


def ready_in_sync(trunk: SipTrunk, *, observe_only: bool = False) -> ConditionUpdate:
    if observe_only:
        return ConditionUpdate(READY, "True", "Observed",
                               f"Trunk {trunk.name} exists; ObserveOnly: the operator never writes to it.")
    return ConditionUpdate(READY, "True", "UpToDate", f"Trunk {trunk.name} exists and matches spec.")


def ready_false(reason: str, message: str) -> ConditionUpdate:
    return ConditionUpdate(READY, "False", reason, message)


def synced_ok() -> ConditionUpdate:
    return ConditionUpdate(SYNCED, "True", "Synced", "The last API round trip succeeded.")


def synced_failed(reason: str, message: str) -> ConditionUpdate:
    return ConditionUpdate(SYNCED, "False", reason, message)


def progress_conditions(conditions: Sequence[Mapping[str, Any]]) -> list[ConditionUpdate]:
    """kstatus' abnormal-true pair (what Flux and `kubectl wait` tooling read) from Ready and Synced:
    Stalled when a person must act, Reconciling while the operator is still converging."""
    by_type = {c.get("type"): c for c in conditions}
    failing = [c for c in (by_type.get(SYNCED), by_type.get(READY)) if c and c.get("status") != "True"]
    stalled = next((c for c in failing if c.get("reason") in STALLED_REASONS), None)
    if stalled is not None:
        return [ConditionUpdate(STALLED, "True", str(stalled["reason"]), str(stalled.get("message", ""))),
                ConditionUpdate(RECONCILING, "False", str(stalled["reason"]), "Waiting for a person to act.")]
    if failing:
        first = failing[0]
        return [ConditionUpdate(RECONCILING, "True", str(first.get("reason")), str(first.get("message", ""))),
                ConditionUpdate(STALLED, "False", "Progressing", "The operator is still converging.")]
    return [ConditionUpdate(RECONCILING, "False", "UpToDate", "Nothing left to do."),
            ConditionUpdate(STALLED, "False", "UpToDate", "Nothing left to do.")]


def is_settled(ready: Mapping[str, Any] | None, generation: int) -> bool:
    """Ready was True for the current generation: the trunk matched this spec once, so a later
    difference in the API is drift, not a change still being applied."""
    if not ready:
        return False
    return ready.get("reason") in ("UpToDate", "Observed", "Drifted") and ready.get("observedGeneration") == generation
