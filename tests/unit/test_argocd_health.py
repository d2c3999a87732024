"""The Argo CD health check (deploy/argocd/siptrunk-health.lua), executed as Argo CD executes it.

The fixtures are real SipTrunks captured from the end-to-end tests (tests/fixtures/objects/; see
tests/e2e/test_argocd_fixtures.py and tests/e2e/test_kstatus.py). A few cases below start from one of
them and change one field, to reach a state the end-to-end run does not produce on its own; each says so.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from lupa.lua51 import LuaError

from tests.argocd_lua import FIXTURES, HEALTH_SCRIPT, argocd_health, load_fixture

ARGOCD_CM = HEALTH_SCRIPT.parent / "argocd-cm.yaml"
HEALTH_KEY = "resource.customizations.health.dialogflow.siptrunk.dev_SipTrunk"


def _reason(obj: dict[str, Any], kind: str) -> str:
    return next(str(c["reason"]) for c in obj["status"]["conditions"] if c["type"] == kind)


@pytest.mark.parametrize(("fixture", "expected", "deciding"), [
    ("ready", "Healthy", "Ready"),
    ("creating", "Progressing", "Ready"),
    ("stalled", "Degraded", "Stalled"),
    ("cert-expired", "Degraded", "CertificatesValid"),
    ("deleting", "Progressing", None),
])
def test_real_objects(fixture: str, expected: str, deciding: str | None) -> None:
    """The verdict, and a message naming the reason of the condition that decided it."""
    obj = load_fixture(fixture)
    health = argocd_health(obj)
    assert health.status == expected, health
    if deciding is None:
        assert health.message.startswith("Pending deletion"), health
    elif obj.get("status", {}).get("conditions"):
        assert _reason(obj, deciding) in health.message, health
    else:  # captured before the operator's first status write
        assert health.message == "Waiting for the operator to report status"


def test_the_fixtures_show_what_their_names_say() -> None:
    """Guards against a fixture captured at the wrong moment (each is a real object, kept as captured)."""
    def status_of(obj: dict[str, Any], kind: str) -> str | None:
        found = [c["status"] for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == kind]
        return found[0] if found else None

    ready, creating = load_fixture("ready"), load_fixture("creating")
    stalled, expired, deleting = load_fixture("stalled"), load_fixture("cert-expired"), load_fixture("deleting")
    assert status_of(ready, "Ready") == "True" and ready["status"]["certificates"] == "Valid"
    assert status_of(creating, "Ready") != "True"
    assert status_of(stalled, "Stalled") == "True"
    assert status_of(expired, "CertificatesValid") == "False" and _reason(expired, "CertificatesValid") \
        == "CERTIFICATE_EXPIRED"
    assert status_of(expired, "Ready") == "True"  # only the certificate is wrong
    for obj in (ready, creating, stalled, expired):
        assert "deletionTimestamp" not in obj["metadata"]
    assert deleting["metadata"]["deletionTimestamp"] and deleting["metadata"]["finalizers"]
    assert {p.stem for p in FIXTURES.glob("*.json")} >= {"cert-expired", "creating", "deleting", "ready", "stalled"}


def test_a_new_generation_not_yet_observed_is_progressing() -> None:
    """Derived from `ready`: the spec was just edited (generation 2), the status still reflects 1."""
    obj = load_fixture("ready")
    obj["metadata"]["generation"] = obj["status"]["observedGeneration"] + 1
    health = argocd_health(obj)
    assert health.status == "Progressing" and "generation 2" in health.message


def test_every_connection_failing_authentication_is_degraded() -> None:
    """Derived from `ready`: every connection AUTHENTICATION_FAILED, with no certificate state at all."""
    obj = load_fixture("ready")
    for connection in obj["status"]["connections"]:
        connection["state"] = "AUTHENTICATION_FAILED"
    health = argocd_health(obj)
    assert health.status == "Degraded" and "Every connection failed authentication" in health.message
    ids = [c["connectionId"] for c in obj["status"]["connections"]]
    assert all(connection_id in health.message for connection_id in ids)


def test_some_connections_failing_authentication_is_not_degraded_by_itself() -> None:
    """Derived from `ready`: one of two connections AUTHENTICATION_FAILED, no certificate error reported."""
    obj = load_fixture("ready")
    obj["status"]["connections"][0]["state"] = "AUTHENTICATION_FAILED"
    assert argocd_health(obj).status == "Healthy"


def test_invalid_certificates_from_the_printed_field_alone_are_degraded() -> None:
    """Derived from `cert-expired` without its CertificatesValid condition: `status.certificates` suffices."""
    obj = load_fixture("cert-expired")
    obj["status"]["conditions"] = [c for c in obj["status"]["conditions"] if c["type"] != "CertificatesValid"]
    assert argocd_health(obj).status == "Degraded"


def test_an_object_without_status_is_progressing() -> None:
    """Derived from `creating` before the operator's first status write."""
    obj = load_fixture("creating")
    obj.pop("status", None)
    assert argocd_health(obj).status == "Progressing"


def test_deletion_wins_over_degraded() -> None:
    """Derived from `stalled`: Argo CD shows any deleting object as Progressing, so does the script."""
    obj = copy.deepcopy(load_fixture("stalled"))
    obj["metadata"]["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    health = argocd_health(obj)
    assert health.status == "Progressing" and _reason(obj, "Stalled") in health.message


def test_the_argocd_cm_snippet_carries_the_script_verbatim() -> None:
    config_map = yaml.safe_load(ARGOCD_CM.read_text())
    assert config_map["kind"] == "ConfigMap" and config_map["metadata"]["name"] == "argocd-cm"
    assert config_map["data"] == {HEALTH_KEY: HEALTH_SCRIPT.read_text()}


def test_the_sandbox_is_argo_cds() -> None:
    """The harness rejects what Argo CD's Lua rejects: the string and math libraries are not there."""
    with pytest.raises(LuaError, match="string"):
        argocd_health({}, script='return {status = string.format("%s", "Healthy")}')
    with pytest.raises(LuaError, match="index"):
        argocd_health({}, script='local s = "Healthy"; return {status = s:upper()}')
    with pytest.raises(LuaError, match="math"):
        argocd_health({}, script='return {status = tostring(math.floor(1))}')
    assert argocd_health({"a": [10, 20]}, script='return {status = "Healthy", message = tostring(obj.a[1])}') \
        .message == "10"
