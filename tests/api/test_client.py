# mypy: disable-error-code="no-untyped-call"
"""SipTrunksClient against the emulator (loopback), through its regional Host routing and faults.

Fixtures ``emulator_url`` and ``control`` come from ``tests/api/conftest.py`` (reset before each test).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from google.oauth2.credentials import Credentials

from siptrunk_operator.api import (
    ClientSettings,
    InvalidArgument,
    NotFound,
    OutcomeUnknown,
    SipTrunksClient,
)
from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.emulator.iam import generate_service_account_key
from siptrunk_operator.models import SipTrunk

pytestmark = pytest.mark.anyio
PROJECT = "api-test"
REGIONAL_HOST = "europe-west3-dialogflow.googleapis.com"
GLOBAL_HOST = "dialogflow.googleapis.com"


class RecordedSleep:
    """The client's injected sleep: records delays, waits for none of them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleep() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
def make_client(emulator_url: str, sleep: RecordedSleep) -> Callable[..., SipTrunksClient]:
    def make(credentials: Any = None, **settings: Any) -> SipTrunksClient:
        return SipTrunksClient(
            ClientSettings(emulator_url=emulator_url, requests_per_minute=0, **settings),
            credentials=credentials or Credentials(token="test-token"),
            sleep=sleep,
        )

    return make


@pytest.fixture
async def client(make_client: Callable[..., SipTrunksClient]) -> AsyncIterator[SipTrunksClient]:
    async with make_client() as client:
        yield client


def new_trunk(i: int = 0) -> SipTrunk:
    return SipTrunk(expected_hostname=[f"sbc{i}.example.com"], display_name=f"trunk {i}")


@pytest.mark.parametrize("version", ["v2", "v2beta1"])
async def test_crud_roundtrip(
    make_client: Callable[..., SipTrunksClient], control: EmulatorControl, version: str
) -> None:
    async with make_client(api_version=version) as client:
        created = await client.create(PROJECT, "global", new_trunk())
        assert created.name is not None
        assert created.name.startswith(f"projects/{PROJECT}/locations/global/sipTrunks/")
        assert created.expected_hostname == ["sbc0.example.com"]

        fetched = await client.get(created.name)
        assert fetched.display_name == "trunk 0"

        edit = created.model_copy(update={"display_name": "renamed", "expected_hostname": ["ignored.example.com"]})
        patched = await client.patch(edit, ["displayName"])
        assert patched.display_name == "renamed"
        assert patched.expected_hostname == ["sbc0.example.com"]  # not in the mask

        await client.delete(created.name)
        with pytest.raises(NotFound) as info:
            await client.get(created.name)
    assert info.value.reason == "SIP_TRUNK_NOT_FOUND"
    assert info.value.http_status == 404

    patches = control.requests(method="PATCH")
    assert len(patches) == 1
    assert patches[0]["query"]["updateMask"] == "displayName"
    assert patches[0]["body"]["displayName"] == "renamed"
    log = control.requests()
    assert [entry["method"] for entry in log] == ["POST", "GET", "PATCH", "DELETE", "GET"]
    assert all(entry["path"].startswith(f"/{version}/projects/{PROJECT}/") for entry in log)
    assert "name" not in log[0]["body"]
    assert control.trunks() == []


async def test_list_250_trunks_in_pages_of_100(client: SipTrunksClient, control: EmulatorControl) -> None:
    created: list[str] = []
    for start in range(0, 250, 50):
        batch = await asyncio.gather(
            *(client.create(PROJECT, "global", new_trunk(i)) for i in range(start, start + 50))
        )
        created += [trunk.name or "" for trunk in batch]
    assert len(set(created)) == 250
    control.clear_requests()

    pages = [(trunks, token) async for trunks, token in client.list_pages(PROJECT, "global", page_size=100)]
    assert [len(trunks) for trunks, _ in pages] == [100, 100, 50]
    assert pages[-1][1] == ""
    assert all(token for _, token in pages[:-1])
    listed = [trunk.name or "" for trunks, _ in pages for trunk in trunks]
    assert sorted(listed) == sorted(created)  # each trunk exactly once

    lists = control.requests(method="GET")
    assert len(lists) == 3
    assert {entry["query"]["pageSize"] for entry in lists} == {"100"}
    assert "pageToken" not in lists[0]["query"]

    streamed = [trunk.name or "" async for trunk in client.list_trunks(PROJECT, "global", page_size=100)]
    assert sorted(streamed) == sorted(created)


async def test_regional_trunk_goes_through_the_regional_host(
    client: SipTrunksClient, control: EmulatorControl, emulator_url: str
) -> None:
    trunk = await client.create(PROJECT, "europe-west3", new_trunk())
    assert trunk.name is not None
    assert "/locations/europe-west3/" in trunk.name
    await client.get(trunk.name)
    assert [t.name async for t in client.list_trunks(PROJECT, "europe-west3")] == [trunk.name]
    await client.patch(trunk.model_copy(update={"display_name": "x"}), ["displayName"])
    await client.delete(trunk.name)

    log = control.requests()
    assert len(log) == 5
    assert {entry["host"].split(":")[0] for entry in log} == {REGIONAL_HOST}
    assert all(entry["status"] == 200 for entry in log)
    assert not [entry for entry in log if entry["host"].split(":")[0] == GLOBAL_HOST]

    # Negative control: without the regional Host header the emulator refuses the same path.
    async with httpx.AsyncClient() as raw:
        response = await raw.get(
            f"{emulator_url}/v2/projects/{PROJECT}/locations/europe-west3/sipTrunks",
            headers={"Authorization": "Bearer test-token"},
        )
    assert response.status_code == 400


async def test_succeeds_through_three_503s(
    client: SipTrunksClient, control: EmulatorControl, sleep: RecordedSleep
) -> None:
    trunk = await client.create(PROJECT, "global", new_trunk())
    assert trunk.name is not None
    control.clear_requests()
    control.add_fault(method="GET", status=503, times=3)

    assert (await client.get(trunk.name)).name == trunk.name
    assert [entry["status"] for entry in control.requests(method="GET")] == [503, 503, 503, 200]
    assert len(sleep.delays) == 3


async def test_503_on_create_is_retried_without_duplicates(client: SipTrunksClient, control: EmulatorControl) -> None:
    control.add_fault(method="POST", status=503, times=2)
    await client.create(PROJECT, "global", new_trunk())
    assert [entry["status"] for entry in control.requests(method="POST")] == [503, 503, 200]
    assert len(control.trunks()) == 1


async def test_429_waits_the_retry_info_delay(
    client: SipTrunksClient, control: EmulatorControl, sleep: RecordedSleep
) -> None:
    control.add_fault(method="POST", status=429, retry_delay=7.5, times=1)
    await client.create(PROJECT, "global", new_trunk())
    assert sleep.delays
    assert sleep.delays[0] >= 7.5
    assert [entry["status"] for entry in control.requests(method="POST")] == [429, 200]


async def test_400_fails_at_once_with_the_api_message(
    client: SipTrunksClient, control: EmulatorControl, sleep: RecordedSleep
) -> None:
    with pytest.raises(InvalidArgument) as info:
        await client.create(PROJECT, "global", SipTrunk(expected_hostname=[]))
    assert "expected_hostname" in info.value.message
    assert info.value.message in str(info.value)
    assert info.value.status == "INVALID_ARGUMENT"
    assert len(control.requests()) == 1
    assert sleep.delays == []


async def test_lost_create_response_is_outcome_unknown_and_not_duplicated(
    client: SipTrunksClient, control: EmulatorControl
) -> None:
    control.add_fault(action="lost_response", method="POST", times=1)
    with pytest.raises(OutcomeUnknown):
        await client.create(PROJECT, "global", new_trunk())

    assert len(control.requests(method="POST")) == 1
    assert len(control.trunks()) == 1
    # How the operator recovers: list the parent and find the trunk it meant to create.
    listed = [trunk async for trunk in client.list_trunks(PROJECT, "global")]
    assert [trunk.display_name for trunk in listed] == ["trunk 0"]


async def test_delete_with_lost_response_reports_not_found(client: SipTrunksClient, control: EmulatorControl) -> None:
    trunk = await client.create(PROJECT, "global", new_trunk())
    assert trunk.name is not None
    control.add_fault(action="lost_response", method="DELETE", times=1)
    with pytest.raises(NotFound):
        await client.delete(trunk.name)
    assert [entry["status"] for entry in control.requests(method="DELETE")] == ["dropped", 404]
    assert control.trunks() == []


async def test_service_account_key_gets_a_token_from_the_emulator(
    make_client: Callable[..., SipTrunksClient], control: EmulatorControl, emulator_url: str
) -> None:
    email = "operator@api-test.iam.gserviceaccount.com"
    key, _ = generate_service_account_key(email, token_uri=f"{emulator_url}/token")
    async with make_client(credentials=key) as client:
        trunk = await client.create(PROJECT, "global", new_trunk())
        assert trunk.name is not None
        await client.get(trunk.name)

    token_requests = control.requests(kind="token")
    assert len(token_requests) == 1
    assert token_requests[0]["status"] == 200
    api = control.requests()
    assert len(api) == 2
    assert {entry["identity"] for entry in api} == {email}
