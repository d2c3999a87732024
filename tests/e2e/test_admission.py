"""The API server itself rejects bad SipTrunks (CRD schema + CEL), with a message naming the field."""

from __future__ import annotations

import pytest

from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from tests.e2e.helpers import trunk_manifest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("hostnames", "field", "fragment"),
    [
        ([], "spec.expectedHostname", "should have at least 1 items"),
        (["a.example.com", "a.example.com"], "spec.expectedHostname[1]", "Duplicate value"),
        (["*.example.com"], "spec.expectedHostname[0]", "no wildcard"),
        (["sip:host:5061"], "spec.expectedHostname[0]", "scheme, port"),
        (["sbc.example.com:5061"], "spec.expectedHostname[0]", "scheme, port"),
    ],
)
def test_bad_hostnames_are_rejected(
    control_plane: LocalControlPlane, namespace: str, hostnames: list[str], field: str, fragment: str
) -> None:
    result = control_plane.kubectl(
        "apply", "-n", namespace, "-f", "-", check=False,
        input_text=trunk_manifest("bad", "my-project", hostnames),
    )
    assert result.returncode != 0
    assert field in result.stderr
    assert fragment in result.stderr
    assert "created" not in result.stdout


def test_missing_project_is_rejected(control_plane: LocalControlPlane, namespace: str) -> None:
    manifest = trunk_manifest("noproject", "x", ["a.example.com"]).replace("  projectID: x\n", "")
    result = control_plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=manifest, check=False)
    assert result.returncode != 0
    assert "spec.projectID: Required value" in result.stderr


@pytest.mark.parametrize(
    ("field", "old", "new"),
    [("projectID", "my-project", "other-project"), ("location", "global", "europe-west3")],
)
def test_parent_is_immutable(
    control_plane: LocalControlPlane, namespace: str, field: str, old: str, new: str
) -> None:
    """The object is created for real; the change is checked with a server-side dry run."""
    original = trunk_manifest("immutable", "my-project", ["a.example.com"], location="global")
    control_plane.kubectl("create", "-n", namespace, "-f", "-", input_text=original)
    changed = original.replace(f"{field}: {old}", f"{field}: {new}")
    assert changed != original
    result = control_plane.kubectl("replace", "-n", namespace, "-f", "-", "--dry-run=server",
                                   input_text=changed, check=False)
    assert result.returncode != 0
    assert f"spec.{field}" in result.stderr
    assert f"{field} is immutable" in result.stderr


def test_missing_hostnames_are_rejected_unless_observe_only(
    control_plane: LocalControlPlane, namespace: str
) -> None:
    manifest = trunk_manifest("nohosts", "my-project", ["a.example.com"]).replace(
        "  expectedHostname:\n  - a.example.com\n", "")
    result = control_plane.kubectl("apply", "-n", namespace, "-f", "-", "--dry-run=server",
                                   input_text=manifest, check=False)
    assert result.returncode != 0
    assert "spec.expectedHostname: Required value" in result.stderr
    observe = manifest.replace("spec:\n", "spec:\n  managementPolicy: ObserveOnly\n  resourceID: abc\n")
    accepted = control_plane.kubectl("apply", "-n", namespace, "-f", "-", "--dry-run=server",
                                     input_text=observe, check=False)
    assert accepted.returncode == 0, accepted.stderr


def test_observe_only_needs_resource_id(control_plane: LocalControlPlane, namespace: str) -> None:
    manifest = trunk_manifest("observer", "my-project", ["a.example.com"], managementPolicy="ObserveOnly")
    result = control_plane.kubectl("apply", "-n", namespace, "-f", "-", "--dry-run=server",
                                   input_text=manifest, check=False)
    assert result.returncode != 0
    assert "spec.resourceID: Required value" in result.stderr


def test_resource_id_cannot_change(control_plane: LocalControlPlane, namespace: str) -> None:
    original = trunk_manifest("adopter", "my-project", ["a.example.com"], resourceID="abc",
                              deletionPolicy="Abandon")
    control_plane.kubectl("create", "-n", namespace, "-f", "-", input_text=original)
    result = control_plane.kubectl("replace", "-n", namespace, "-f", "-", "--dry-run=server",
                                   input_text=original.replace("resourceID: abc", "resourceID: xyz"), check=False)
    assert result.returncode != 0
    assert "resourceID cannot change once set" in result.stderr


@pytest.mark.parametrize(
    ("spec", "field", "fragment"),
    [
        pytest.param({"expectedHostname": ["192.0.2.10"]}, "spec.expectedHostname[0]", "not an IP address",
                     id="ipv4-expected-hostname"),
        pytest.param({"peerHostnames": ["198.51.100.7"]}, "spec.peerHostnames[0]", "not an IP address",
                     id="ipv4-peer-hostname"),
        pytest.param({"expectedHostname": ["[2001:db8::1]"]}, "spec.expectedHostname[0]", "DNS hostname",
                     id="ipv6-expected-hostname"),
        pytest.param({"displayName": "Carrier A\nREADY True"}, "spec.displayName", "control characters",
                     id="newline"),
        pytest.param({"displayName": "ring\x07"}, "spec.displayName", "control characters", id="bel"),
        pytest.param({"displayName": "\x1b[31mred\x1b[0m"}, "spec.displayName", "control characters", id="ansi"),
        pytest.param({"displayName": "nul\x00"}, "spec.displayName", "control characters", id="nul"),
        pytest.param({"displayName": "abc\u202eevil"}, "spec.displayName", "bidirectional", id="bidi-override"),
        pytest.param({"location": "Europe-West3"}, "spec.location", "should match", id="location-uppercase"),
        pytest.param({"location": "europe-west3-"}, "spec.location", "should match", id="location-trailing-hyphen"),
        pytest.param({"location": "evil.example.com"}, "spec.location", "should match", id="location-with-dots"),
        pytest.param({"location": "3rd-region"}, "spec.location", "should match", id="location-digit-first"),
        pytest.param({"location": "a" * 53}, "spec.location", "Too long", id="location-too-long-for-its-host"),
    ],
)
def test_hostnames_display_names_and_locations_are_hardened(
    control_plane: LocalControlPlane, namespace: str, spec: dict[str, object], field: str, fragment: str
) -> None:
    """IP literals are not DNS names (Google matches the hostname against the certificate's DNS
    names), a displayName cannot carry control characters to `kubectl get`, and a location must make
    `{location}-dialogflow.googleapis.com` a valid host. Each rejection names the field."""
    hostnames = spec.pop("expectedHostname", ["sbc.example.com"])
    assert isinstance(hostnames, list)
    result = control_plane.kubectl("apply", "-n", namespace, "-f", "-", "--dry-run=server", check=False,
                                   input_text=trunk_manifest("hardened", "my-project", hostnames, **spec))
    assert result.returncode != 0
    assert f"{field}:" in result.stderr, result.stderr
    assert fragment in result.stderr, result.stderr


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"displayName": "Carrier Ä – primary (SBC #1) 🚀"}, id="unicode-display-name"),
        pytest.param({"location": "northamerica-northeast2"}, id="long-region"),
        pytest.param({"location": "a" * 52}, id="location-at-the-host-limit"),
        pytest.param({"expectedHostname": ["sbc1.192.example.com", "10x.example.net"]}, id="digits-inside-names"),
    ],
)
def test_what_the_hardening_still_accepts(control_plane: LocalControlPlane, namespace: str,
                                          spec: dict[str, object]) -> None:
    hostnames = spec.pop("expectedHostname", ["sbc.example.com"])
    assert isinstance(hostnames, list)
    result = control_plane.kubectl("apply", "-n", namespace, "-f", "-", "--dry-run=server", check=False,
                                   input_text=trunk_manifest("accepted", "my-project", hostnames, **spec))
    assert result.returncode == 0, result.stderr
