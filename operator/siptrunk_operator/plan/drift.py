"""What differs between spec and the API's trunk, and the PATCH that fixes only that."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from siptrunk_operator.models import CertFile, SipTrunk
from siptrunk_operator.spec import SipTrunkSpec


def hostname_set(hostnames: Iterable[str]) -> frozenset[str]:
    """Hostnames compare case-insensitively and without order, as a TLS peer check does."""
    return frozenset(name.strip().lower() for name in hostnames)


def _cert(value: CertFile | None) -> CertFile | None:
    # proto3 JSON omits enum zero values, so CERT_FILE_UNSPECIFIED reads back as absent.
    return None if value is CertFile.CERT_FILE_UNSPECIFIED else value


def update_mask(spec: SipTrunkSpec, observed: SipTrunk) -> tuple[str, ...]:
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
    desired_cert = _cert(spec.google_root_cert_file)
    if desired_cert is not None and desired_cert != _cert(observed.google_root_cert_file):
        mask.append("googleRootCertFile")
    return tuple(mask)


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
    """Whether `trunk` is what a create from `spec` would have produced."""
    return hostname_set(spec.expected_hostname) == hostname_set(trunk.expected_hostname) and (
        spec.display_name is None or spec.display_name == (trunk.display_name or "")
    )
