# mypy: disable-error-code="no-untyped-call"
"""The emulator's optional per-project quota (``quota_per_minute``) and uniform ``latency_seconds``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from google.api_core import exceptions as gexc
from google.oauth2.credentials import Credentials

from siptrunk_operator.api import ClientSettings, RateLimited, SipTrunksClient
from siptrunk_operator.emulator import EmulatorControl, EmulatorControlError
from siptrunk_operator.emulator.cli import build_parser
from siptrunk_operator.emulator.quota import RollingQuota

PROJECT, OTHER, BILLING = "sandbox", "other-project", "billing-project"
BODY = {"expectedHostname": ["sbc.example.com"]}
MESSAGE = (
    "Quota exceeded for quota metric 'All other requests' and limit 'All other requests per minute' "
    "of service 'dialogflow.googleapis.com' for consumer 'project_number:{}'."
)


def trunks(project: str = PROJECT) -> str:
    return f"/v2/projects/{project}/locations/global/sipTrunks"


def details_by_type(response: httpx.Response) -> dict[str, dict[str, Any]]:
    return {d["@type"].rsplit(".", 1)[1]: d for d in response.json()["error"]["details"]}


def retry_seconds(response: httpx.Response) -> int:
    delay: str = details_by_type(response)["RetryInfo"]["retryDelay"]
    assert delay.endswith("s")
    return int(delay[:-1])  # whole seconds (rounded up)


def test_every_method_counts_and_the_next_call_gets_googles_429(api: httpx.Client, control: EmulatorControl) -> None:
    control.configure(quota_per_minute=5)
    name = "/v2/" + api.post(trunks(), json=BODY).json()["name"]
    calls = [api.get(trunks()), api.get(name), api.patch(name, json={"displayName": "x"}), api.delete(name)]
    assert [response.status_code for response in calls] == [200] * 4

    response = api.post(trunks(), json=BODY)
    assert response.status_code == 429
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert error["message"] == MESSAGE.format(PROJECT)
    details = details_by_type(response)
    assert list(details) == ["ErrorInfo", "RetryInfo", "QuotaFailure"]
    info = details["ErrorInfo"]
    assert (info["reason"], info["domain"]) == ("RATE_LIMIT_EXCEEDED", "googleapis.com")
    assert info["metadata"] == {
        "service": "dialogflow.googleapis.com",
        "consumer": f"projects/{PROJECT}",
        "quota_metric": "dialogflow.googleapis.com/other_requests",
        "quota_limit": "OtherRequestsPerMinutePerProject",
        "quota_limit_value": "5",
    }
    assert 0 < retry_seconds(response) <= 60
    assert control.trunks() == []  # the rejected create was not processed
    assert api.get(trunks()).status_code == 429
    assert [entry["status"] for entry in control.requests()] == [200] * 5 + [429, 429]


def test_other_projects_have_their_own_quota(api: httpx.Client, control: EmulatorControl) -> None:
    control.configure(quota_per_minute=2)
    assert [api.get(trunks()).status_code for _ in range(3)] == [200, 200, 429]
    assert [api.get(trunks(OTHER)).status_code for _ in range(3)] == [200, 200, 429]


def test_x_goog_user_project_is_the_consumer(api: httpx.Client, control: EmulatorControl) -> None:
    control.configure(quota_per_minute=2)
    billed = {"x-goog-user-project": BILLING}
    assert api.get(trunks(), headers=billed).status_code == 200
    assert api.get(trunks(OTHER), headers=billed).status_code == 200
    response = api.get(trunks(), headers=billed)
    assert response.status_code == 429
    assert response.json()["error"]["message"] == MESSAGE.format(BILLING)
    assert details_by_type(response)["ErrorInfo"]["metadata"]["consumer"] == f"projects/{BILLING}"
    assert api.get(trunks()).status_code == 200  # the path's project used none of its own quota
    assert [e["user_project"] for e in control.requests()] == [BILLING, BILLING, BILLING, None]


def test_unauthenticated_calls_are_401_and_not_counted(api: httpx.Client, control: EmulatorControl) -> None:
    control.configure(quota_per_minute=1)
    assert httpx.get(control.base_url + trunks()).status_code == 401
    assert [api.get(trunks()).status_code for _ in range(2)] == [200, 429]


def test_setting_the_quota_or_resetting_starts_empty_windows(api: httpx.Client, control: EmulatorControl) -> None:
    assert [api.get(trunks()).status_code for _ in range(3)] == [200] * 3  # no quota: not counted
    assert control.configure(quota_per_minute=1)["quota_per_minute"] == 1
    assert [api.get(trunks()).status_code for _ in range(2)] == [200, 429]
    control.configure(quota_per_minute=1)
    assert api.get(trunks()).status_code == 200
    control.configure(quota_per_minute=None)
    assert api.get(trunks()).status_code == 200


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rolling_window_admits_again_as_arrivals_age_out() -> None:
    clock = FakeClock()
    quota = RollingQuota(clock)
    for offset in (0, 10):
        clock.now = 1000.0 + offset
        assert quota.admit("p", 2) is None
    clock.now = 1030.0
    assert quota.admit("p", 2) == pytest.approx(30.0)  # the arrival at 1000 leaves the window at 1060
    assert quota.admit("q", 2) is None  # keys are independent
    clock.now = 1059.5
    assert quota.admit("p", 2) == pytest.approx(0.5)
    clock.now = 1060.0
    assert quota.admit("p", 2) is None  # rejected calls did not count: one slot freed, one admitted
    assert quota.admit("p", 2) == pytest.approx(10.0)  # next: the arrival at 1010
    clock.now = 1070.0
    assert quota.admit("p", 2) is None
    quota.clear()
    assert quota.admit("p", 2) is None
    assert quota.admit("p", 2) is None


def test_google_client_raises_too_many_requests(gapic: Callable[..., Any], control: EmulatorControl) -> None:
    client = gapic("v2")
    parent = f"projects/{PROJECT}/locations/global"
    control.configure(quota_per_minute=1)
    assert list(client.list_sip_trunks(parent=parent)) == []
    with pytest.raises(gexc.TooManyRequests) as caught:
        client.list_sip_trunks(parent=parent)
    assert caught.value.code == 429
    assert caught.value.reason == "RATE_LIMIT_EXCEEDED"
    assert caught.value.domain == "googleapis.com"
    assert caught.value.metadata is not None
    assert caught.value.metadata["quota_limit_value"] == "1"


@pytest.mark.anyio
async def test_our_client_raises_rate_limited_with_the_retry_info_delay(
    emulator_url: str, control: EmulatorControl
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    settings = ClientSettings(emulator_url=emulator_url, requests_per_minute=0, max_attempts=2)
    control.configure(quota_per_minute=1)
    async with SipTrunksClient(settings, credentials=Credentials(token="test-token"), sleep=sleep) as client:
        [_ async for _ in client.list_trunks(PROJECT, "global")]
        with pytest.raises(RateLimited) as caught:
            await client.list_pages(PROJECT, "global").__anext__()
    async with httpx.AsyncClient(base_url=emulator_url, headers={"Authorization": "Bearer test-token"}) as raw:
        hint = retry_seconds(await raw.get(trunks()))
    assert caught.value.http_status == 429
    assert caught.value.reason == "RATE_LIMIT_EXCEEDED"
    assert caught.value.retry_delay == hint
    assert len(slept) == 1
    assert slept[0] >= hint  # the one retry waited at least the RetryInfo delay
    assert [entry["status"] for entry in control.requests()] == [200, 429, 429, 429]


def test_latency_delays_api_calls_only(api: httpx.Client, control: EmulatorControl) -> None:
    control.configure(latency_seconds=0.3)
    started = time.monotonic()
    assert api.get(trunks()).status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    control.trunks()
    assert time.monotonic() - started < 0.3  # the control endpoint is not delayed


def test_bad_values_are_rejected_and_the_cli_sets_both(control: EmulatorControl) -> None:
    for bad in ({"quota_per_minute": 0}, {"latency_seconds": -1}):
        with pytest.raises(EmulatorControlError) as caught:
            control.configure(**bad)
        assert caught.value.status == 400
    args = build_parser().parse_args(["--quota-per-minute", "30", "--latency", "0.25"])
    assert (args.quota_per_minute, args.latency) == (30, 0.25)
    defaults = build_parser().parse_args([])
    assert (defaults.quota_per_minute, defaults.latency) == (None, 0.0)
