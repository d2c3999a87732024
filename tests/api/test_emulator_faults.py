"""Fault injection: errors, latency, dropped connections, matching rules and their scope."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from google.api_core import exceptions as gexc

from siptrunk_operator.emulator import EmulatorControl

NewTrunk = Callable[..., dict[str, Any]]
PARENT = "projects/sandbox/locations/global"
TRUNKS = f"/v2/{PARENT}/sipTrunks"
BODY = {"expectedHostname": ["sbc.example.com"]}


def details_by_type(response: httpx.Response) -> dict[str, dict[str, Any]]:
    return {d["@type"].rsplit(".", 1)[1]: d for d in response.json()["error"]["details"]}


def test_429_carries_retry_info_and_quota_failure(api: httpx.Client, control: EmulatorControl) -> None:
    control.add_fault(method="POST", status=429, retry_delay=1.5, times=1)
    response = api.post(TRUNKS, json=BODY)
    assert response.status_code == 429
    assert response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    details = details_by_type(response)
    assert list(details) == ["ErrorInfo", "RetryInfo", "QuotaFailure"]
    assert details["ErrorInfo"]["reason"] == "RATE_LIMIT_EXCEEDED"
    assert details["RetryInfo"]["retryDelay"] == "1.500s"
    assert details["QuotaFailure"]["violations"][0]["subject"] == "projects/sandbox"
    assert control.trunks() == []  # nothing was processed
    assert api.post(TRUNKS, json=BODY).status_code == 200  # times=1: used up
    assert control.faults() == []


@pytest.mark.parametrize(("retry_delay", "expected"), [(None, None), (2, "2s")])
def test_503_optionally_carries_retry_info(
    api: httpx.Client, control: EmulatorControl, retry_delay: float | None, expected: str | None
) -> None:
    control.add_fault(status=503, retry_delay=retry_delay, times=1)
    response = api.get(TRUNKS)
    assert (response.status_code, response.json()["error"]["status"]) == (503, "UNAVAILABLE")
    assert details_by_type(response).get("RetryInfo", {}).get("retryDelay") == expected


def test_google_client_sees_injected_errors_as_its_exceptions(
    gapic: Callable[..., Any], control: EmulatorControl
) -> None:
    client = gapic("v2")
    control.add_fault(status=503, times=1)
    with pytest.raises(gexc.ServiceUnavailable):
        client.list_sip_trunks(parent=PARENT)
    control.add_fault(status=500, times=1)
    with pytest.raises(gexc.InternalServerError) as internal:
        client.list_sip_trunks(parent=PARENT)
    assert internal.value.reason == "INTERNAL_ERROR"
    control.add_fault(status=403, times=1)
    with pytest.raises(gexc.Forbidden) as forbidden:
        client.get_sip_trunk(name=f"{PARENT}/sipTrunks/x")
    assert forbidden.value.metadata == {"permission": "dialogflow.siptrunks.get", "resource": f"{PARENT}/sipTrunks/x"}
    assert list(client.list_sip_trunks(parent=PARENT)) == []


def test_any_status_and_overrides(api: httpx.Client, control: EmulatorControl) -> None:
    control.add_fault(status=409, times=1)
    error = api.get(TRUNKS).json()["error"]
    assert (error["code"], error["status"], error["details"][0]["reason"]) == (409, "ABORTED", "ABORTED")
    control.add_fault(status=400, times=1, message="custom message", reason="CUSTOM_REASON")
    error = api.get(TRUNKS).json()["error"]
    assert (error["message"], error["details"][0]["reason"]) == ("custom message", "CUSTOM_REASON")


def test_method_and_path_matching(api: httpx.Client, new_trunk: NewTrunk, control: EmulatorControl) -> None:
    trunk = new_trunk()
    control.add_fault(method="GET", path=r"/sipTrunks/[^/]+$", status=503)
    assert api.get(TRUNKS).status_code == 200  # list: path does not match
    assert api.patch(f"/v2/{trunk['name']}", json={"displayName": "x"}).status_code == 200  # method differs
    assert api.get(f"/v2/{trunk['name']}").status_code == 503
    assert api.get(f"/v2/{trunk['name']}").status_code == 503  # times=None: forever
    control.clear_faults()
    assert api.get(f"/v2/{trunk['name']}").status_code == 200


def test_times_and_probability(api: httpx.Client, control: EmulatorControl) -> None:
    control.add_fault(status=503, probability=0.0)
    assert all(api.get(TRUNKS).status_code == 200 for _ in range(20))
    control.clear_faults()
    fault_id = control.add_fault(status=503, times=2)
    assert [f["id"] for f in control.faults()] == [fault_id]
    assert [api.get(TRUNKS).status_code for _ in range(3)] == [503, 503, 200]


def test_latency_delays_then_processes(api: httpx.Client, control: EmulatorControl) -> None:
    control.add_fault(action="latency", method="POST", latency=0.4, times=1)
    started = time.monotonic()
    response = api.post(TRUNKS, json=BODY)
    assert time.monotonic() - started >= 0.4
    assert response.status_code == 200
    assert len(control.trunks()) == 1


def test_latency_combines_with_an_error(api: httpx.Client, control: EmulatorControl) -> None:
    control.add_fault(action="latency", latency=0.3, times=1)
    control.add_fault(status=503, times=1)
    started = time.monotonic()
    assert api.get(TRUNKS).status_code == 503
    assert time.monotonic() - started >= 0.3


def test_latency_beyond_the_client_timeout_is_a_timeout(api: httpx.Client, control: EmulatorControl) -> None:
    control.add_fault(action="latency", latency=0.5, times=1)
    with pytest.raises(httpx.ReadTimeout):
        api.get(TRUNKS, timeout=0.1)


def test_reset_drops_the_connection_before_doing_anything(api: httpx.Client, control: EmulatorControl) -> None:
    control.add_fault(action="reset", method="POST", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(TRUNKS, json=BODY)
    assert control.trunks() == []
    [entry] = control.requests()
    assert entry["status"] == "dropped"
    assert entry["body"] == BODY


def test_lost_response_commits_the_write(api: httpx.Client, control: EmulatorControl) -> None:
    control.add_fault(action="lost_response", method="POST", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(TRUNKS, json=BODY)
    [trunk] = control.trunks()
    assert trunk["expectedHostname"] == BODY["expectedHostname"]
    assert api.get(f"/v2/{trunk['name']}").status_code == 200
    assert [e["status"] for e in control.requests()] == ["dropped", 200]


def test_faults_never_touch_the_control_endpoint_or_token(
    api: httpx.Client,
    control: EmulatorControl,
    service_account: Callable[..., dict[str, str]],
    sign_jwt: Callable[..., str],
) -> None:
    control.add_fault(status=503)  # every API call
    control.add_fault(action="reset", path="_emulator")  # even when the regex matches
    assert control.trunks() == []
    assert api.get(TRUNKS).status_code == 503
    assertion = sign_jwt(service_account("op@sandbox.iam.gserviceaccount.com"))
    assert api.post("/token", data=_grant(assertion)).status_code == 200


def test_faults_reach_token_when_targeted(
    api: httpx.Client,
    control: EmulatorControl,
    service_account: Callable[..., dict[str, str]],
    sign_jwt: Callable[..., str],
) -> None:
    control.add_fault(path="^/token$", status=503, times=1)
    assertion = sign_jwt(service_account("op@sandbox.iam.gserviceaccount.com"))
    assert api.post("/token", data=_grant(assertion)).status_code == 503
    assert api.post("/token", data=_grant(assertion)).status_code == 200
    assert [e["status"] for e in control.requests(kind="token")] == [503, 200]


def test_bad_fault_specs_are_rejected(control: EmulatorControl) -> None:
    for bad in ({"action": "explode"}, {"path": "("}, {"status": 200}, {"probability": 2}):
        response = httpx.post(f"{control.base_url}/_emulator/faults", json=bad)
        assert response.status_code == 400, bad
    assert control.faults() == []


def _grant(assertion: str) -> dict[str, str]:
    return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
