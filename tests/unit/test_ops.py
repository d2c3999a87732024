"""Operations: metrics (counts, labels), the ops endpoints, the reconcile outcome, leader settings."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from siptrunk_operator.api import ClientSettings, SipTrunksClient, Unavailable
from siptrunk_operator.engine.loop import outcome
from siptrunk_operator.leader import LeaderSettings
from siptrunk_operator.localcluster.controlplane import free_port
from siptrunk_operator.metrics import REGISTRY, condition_counts, connection_counts
from siptrunk_operator.plan.actions import Facts, Result
from siptrunk_operator.plan.conditions import ready_false, ready_true, synced_failed, synced_ok
from siptrunk_operator.reasons import Reason
from siptrunk_operator.runtime import parse_address
from siptrunk_operator.serving import OpsServer

STATUSES: list[dict[str, Any]] = [
    {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "True"},
                    {"type": "Other", "status": "True"}],
     "connections": [{"state": "CONNECTED"},
                     {"state": "DISCONNECTED", "errorDetails": {"certificateState": "CERTIFICATE_EXPIRED"}}]},
    {"conditions": [{"type": "Ready", "status": "False"}], "connections": [{"state": "CONNECTED"}]},
    {},
]


def test_objects_are_counted_by_condition_and_connections_by_state() -> None:
    assert condition_counts(STATUSES) == {("Ready", "True"): 1, ("Synced", "True"): 1, ("Ready", "False"): 1}
    assert connection_counts(STATUSES) == {("CONNECTED", "CERTIFICATE_STATE_UNSPECIFIED"): 2,
                                           ("DISCONNECTED", "CERTIFICATE_EXPIRED"): 1}


@pytest.mark.parametrize(("facts", "result", "labels"), [
    (Facts(), Result(conditions=(ready_true("n"), synced_ok())), ("success", "UpToDate")),
    (Facts(failure=Unavailable("down")), Result(conditions=(synced_failed(Reason.API_UNAVAILABLE, "m"),
                                                            ready_false(Reason.API_UNAVAILABLE, "m"))),
     ("error", "APIUnavailable")),
    (Facts(), Result(), ("success", "Unchanged")),
    (Facts(), Result(conditions=(ready_false(Reason.CREATE_PENDING, "m"),)), ("success", "CreatePending")),
])
def test_a_pass_is_counted_by_result_and_an_enum_reason(facts: Facts, result: Result, labels: tuple[str, str]) -> None:
    assert outcome(facts, result) == labels


@pytest.mark.parametrize(("value", "address"), [
    ("0.0.0.0:8080", ("0.0.0.0", 8080)), (":9090", ("0.0.0.0", 9090)), ("[::1]:8080", ("::1", 8080)),
])
def test_ops_addresses(value: str, address: tuple[str, int]) -> None:
    assert parse_address(value) == address


@pytest.mark.parametrize("value", ["8080", "host:", "host:port"])
def test_bad_ops_addresses_say_what_is_expected(value: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        parse_address(value)


def test_lease_settings_keep_the_clients_own_ordering() -> None:
    assert LeaderSettings().lease_duration_seconds == 15
    with pytest.raises(ValidationError, match="must exceed SIPTRUNK_LEASE_RENEW"):
        LeaderSettings(lease_duration_seconds=10, renew_deadline_seconds=10)
    with pytest.raises(ValidationError, match=r"1\.2 x"):
        LeaderSettings(renew_deadline_seconds=3, retry_period_seconds=3)


def test_a_wait_for_quota_is_counted() -> None:
    import httpx
    from google.oauth2.credentials import Credentials

    now = [1000.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"name": "projects/p/locations/global/sipTrunks/t", "expectedHostname": ["a"]})

    async def scenario() -> None:
        client = SipTrunksClient(ClientSettings(requests_per_minute=1), credentials=Credentials(token="t"),
                                 transport=httpx.MockTransport(answer), sleep=sleep, clock=lambda: now[0])
        async with client:
            await client.get("projects/p/locations/global/sipTrunks/t")
            await client.get("projects/p/locations/global/sipTrunks/t")  # waits a minute for the quota

    def waits() -> float:
        return REGISTRY.get_sample_value("siptrunk_rate_limiter_waits_total", {"priority": "read"}) or 0.0

    before = waits()
    asyncio.run(scenario())
    assert waits() == before + 1


def test_the_ops_server_says_leader_standby_or_not_ready_and_serves_metrics() -> None:
    roles: list[str | None] = [None, "standby", "leader"]

    async def scenario() -> list[tuple[int, str]]:
        server = OpsServer("127.0.0.1", free_port(), role=lambda: roles[0])
        await server.start()
        seen = []
        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(3):
                    async with session.get(f"http://127.0.0.1:{server.port}/readyz") as response:
                        seen.append((response.status, await response.text()))
                    roles.pop(0)
                async with session.get(f"http://127.0.0.1:{server.port}/metrics") as response:
                    seen.append((response.status, response.content_type))
        finally:
            await server.stop()
        return seen

    assert asyncio.run(scenario()) == [(503, '{"role": "starting"}'), (200, '{"role": "standby"}'),
                                       (200, '{"role": "leader"}'), (200, "text/plain")]
    assert REGISTRY.get_sample_value("siptrunk_leader") in (0.0, 1.0)


def test_a_lease_call_that_fails_in_any_way_is_a_failed_try_not_a_dead_thread() -> None:
    from siptrunk_operator.leader import _SafeLock

    class Broken:
        name, namespace, identity = "l", "ns", "me"

        def get(self, name: str, namespace: str) -> Any:
            raise ConnectionError("apiserver restarting")

        def create(self, *_: Any) -> Any:
            raise OSError("reset")

        def update(self, *_: Any) -> Any:
            return True

    lock = _SafeLock(Broken())
    found, error = lock.get("l", "ns")
    assert found is False and isinstance(error, ConnectionError)
    assert lock.create("l", "ns", None) is False and lock.update("l", "ns", None) is True
    assert (lock.name, lock.identity) == ("l", "me")


def test_an_election_that_ends_in_any_way_stops_the_process() -> None:
    from siptrunk_operator.leader import LeaderElector

    lost: list[bool] = []

    class Crashing:
        def run(self) -> None:
            raise RuntimeError("unexpected")

    elector = LeaderElector(LeaderSettings(), identity="me", on_lost=lambda: lost.append(True))
    elector._run(Crashing())
    assert lost == [True]
