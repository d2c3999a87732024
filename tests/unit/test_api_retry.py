# mypy: disable-error-code="no-untyped-call"
"""Back-off schedule, the retry table, and the client's retry loop (httpx.MockTransport, fake time)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from google.oauth2.credentials import Credentials

from siptrunk_operator.api import (
    ApiError,
    ApiTransportError,
    ClientSettings,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    NotSent,
    OutcomeUnknown,
    RateLimited,
    ServerError,
    SipTrunksClient,
    Unauthenticated,
    Unavailable,
)
from siptrunk_operator.api.retry import Action, Backoff, classify, retry_delay
from siptrunk_operator.models import SipTrunk

pytestmark = pytest.mark.anyio
NAME = "projects/p/locations/global/sipTrunks/abc"
TRUNK = {"name": NAME, "expectedHostname": ["sbc.example.com"]}


# -- schedule -------------------------------------------------------------------------------------


def test_ceiling_doubles_from_one_second_capped_at_32() -> None:
    assert [Backoff().ceiling(n) for n in range(9)] == [1, 2, 4, 8, 16, 32, 32, 32, 32]
    assert Backoff().ceiling(10_000) == 32


@pytest.mark.parametrize(("jitter", "low"), [("full", 0.0), ("equal", 0.5)])
def test_jitter_bounds(jitter: str, low: float) -> None:
    backoff = Backoff(jitter=jitter)  # type: ignore[arg-type]
    for n in range(8):
        ceiling = backoff.ceiling(n)
        assert backoff.delay(n, lambda: 0.0) == pytest.approx(low * ceiling)
        assert backoff.delay(n, lambda: 0.999999) == pytest.approx(ceiling, rel=1e-5)
        assert low * ceiling <= backoff.delay(n, lambda: 0.37) <= ceiling


def test_server_hint_is_a_floor() -> None:
    backoff = Backoff()
    assert retry_delay(RateLimited("x", retry_delay=10.0), backoff, 0, lambda: 1.0) == 10.0
    assert retry_delay(RateLimited("x", retry_delay=0.1), backoff, 3, lambda: 1.0) == 8.0
    assert retry_delay(Unavailable("x"), backoff, 1, lambda: 1.0) == 2.0


# -- decision table -------------------------------------------------------------------------------

CASES: list[tuple[ApiError, Action, Action]] = [
    # error, action for idempotent calls, action for create
    (Unavailable("x", http_status=503), Action.RETRY, Action.RETRY),
    (RateLimited("x", http_status=429), Action.RETRY, Action.RETRY),
    (ServerError("x", http_status=500), Action.RETRY_SERVER_ERROR, Action.OUTCOME_UNKNOWN),
    (ServerError("x", http_status=502), Action.RETRY_SERVER_ERROR, Action.OUTCOME_UNKNOWN),
    (ServerError("x", http_status=501), Action.RAISE, Action.RAISE),
    (DeadlineExceeded("x", http_status=504), Action.RETRY_SERVER_ERROR, Action.OUTCOME_UNKNOWN),
    (ApiTransportError("x", request_sent=False), Action.RETRY, Action.RETRY),
    (ApiTransportError("x", request_sent=True), Action.RETRY, Action.OUTCOME_UNKNOWN),
    (Unauthenticated("x", http_status=401), Action.REAUTHENTICATE, Action.REAUTHENTICATE),
    (Unauthenticated("refresh failed"), Action.RAISE, Action.RAISE),
    (InvalidArgument("x", http_status=400), Action.RAISE, Action.RAISE),
    (NotFound("x", http_status=404), Action.RAISE, Action.RAISE),
]


@pytest.mark.parametrize(("error", "idempotent_action", "create_action"), CASES)
def test_classify(error: ApiError, idempotent_action: Action, create_action: Action) -> None:
    assert classify(error, idempotent=True) is idempotent_action
    assert classify(error, idempotent=False) is create_action


# -- the client's loop ----------------------------------------------------------------------------


class FakeTime:
    """A clock that only the injected sleep advances; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


Step = httpx.Response | Exception


def error_response(code: int, status: str, *details: dict[str, Any]) -> httpx.Response:
    payload = {"error": {"code": code, "message": f"{status} from fake", "status": status, "details": details}}
    return httpx.Response(code, json=payload)


class Script:
    """Answers requests from a list of responses/exceptions; repeats the last one."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        return step


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_client(fake_time: FakeTime) -> Callable[..., SipTrunksClient]:
    def make(handler: Callable[[httpx.Request], httpx.Response], **settings: Any) -> SipTrunksClient:
        return SipTrunksClient(
            ClientSettings(requests_per_minute=0, **settings),
            credentials=Credentials(token="unit-token"),
            sleep=fake_time.sleep,
            clock=fake_time.clock,
            rng=lambda: 1.0,  # no jitter: delays equal the ceiling
            transport=httpx.MockTransport(handler),
        )

    return make


def ok(data: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.Response(200, json=TRUNK if data is None else data)


async def test_503_retried_with_doubling_backoff(
    make_client: Callable[..., SipTrunksClient], fake_time: FakeTime
) -> None:
    script = Script(*[error_response(503, "UNAVAILABLE")] * 3, ok())
    async with make_client(script) as client:
        trunk = await client.get(NAME)
    assert trunk.name == NAME
    assert len(script.requests) == 4
    assert fake_time.sleeps == [1.0, 2.0, 4.0]


async def test_503_gives_up_after_max_attempts(
    make_client: Callable[..., SipTrunksClient], fake_time: FakeTime
) -> None:
    script = Script(error_response(503, "UNAVAILABLE"))
    async with make_client(script, max_attempts=4) as client:
        with pytest.raises(Unavailable) as info:
            await client.get(NAME)
    assert len(script.requests) == 4
    assert info.value.attempts == 4
    assert fake_time.sleeps == [1.0, 2.0, 4.0]


async def test_503_gives_up_at_the_deadline(make_client: Callable[..., SipTrunksClient], fake_time: FakeTime) -> None:
    script = Script(error_response(503, "UNAVAILABLE"))
    async with make_client(script, deadline_seconds=20, max_attempts=100) as client:
        with pytest.raises(Unavailable):
            await client.get(NAME)
    # 1 + 2 + 4 + 8 = 15 s slept; the next 16 s would overrun the 20 s deadline.
    assert fake_time.sleeps == [1.0, 2.0, 4.0, 8.0]
    assert sum(fake_time.sleeps) <= 20


async def test_backoff_capped_at_32(make_client: Callable[..., SipTrunksClient], fake_time: FakeTime) -> None:
    script = Script(*[error_response(503, "UNAVAILABLE")] * 8, ok())
    async with make_client(script, deadline_seconds=1000, max_attempts=20) as client:
        await client.get(NAME)
    assert fake_time.sleeps == [1, 2, 4, 8, 16, 32, 32, 32]


async def test_429_waits_for_retry_info(make_client: Callable[..., SipTrunksClient], fake_time: FakeTime) -> None:
    hint = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "6s"}
    script = Script(error_response(429, "RESOURCE_EXHAUSTED", hint), ok())
    async with make_client(script) as client:
        await client.get(NAME)
    assert fake_time.sleeps == [6.0]


async def test_429_honours_retry_after_header(make_client: Callable[..., SipTrunksClient], fake_time: FakeTime) -> None:
    limited = httpx.Response(429, headers={"Retry-After": "9"}, text="Too Many Requests")
    script = Script(limited, ok())
    async with make_client(script) as client:
        await client.get(NAME)
    assert fake_time.sleeps == [9.0]


async def test_429_hint_beyond_deadline_raises_at_once(
    make_client: Callable[..., SipTrunksClient], fake_time: FakeTime
) -> None:
    hint = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3600s"}
    script = Script(error_response(429, "RESOURCE_EXHAUSTED", hint))
    async with make_client(script) as client:
        with pytest.raises(RateLimited) as info:
            await client.get(NAME)
    assert info.value.retry_delay == 3600
    assert fake_time.sleeps == []
    assert len(script.requests) == 1


async def test_500_retried_twice_only(
    make_client: Callable[..., SipTrunksClient], fake_time: FakeTime
) -> None:
    script = Script(error_response(500, "INTERNAL"))
    async with make_client(script) as client:
        with pytest.raises(ServerError):
            await call(client, "get")
    assert len(script.requests) == 3
    assert fake_time.sleeps == [1.0, 2.0]


async def test_500_on_create_is_outcome_unknown_not_retried(
    make_client: Callable[..., SipTrunksClient], fake_time: FakeTime
) -> None:
    """INTERNAL may follow an applied write (AIP-194): re-sending a create could duplicate the trunk."""
    script = Script(error_response(500, "INTERNAL"))
    async with make_client(script) as client:
        with pytest.raises(OutcomeUnknown):
            await call(client, "create")
    assert len(script.requests) == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize("method", ["get", "list", "patch", "delete", "create"])
@pytest.mark.parametrize(
    ("code", "status"), [(400, "INVALID_ARGUMENT"), (403, "PERMISSION_DENIED"), (404, "NOT_FOUND")]
)
async def test_other_4xx_never_retried(
    make_client: Callable[..., SipTrunksClient], fake_time: FakeTime, method: str, code: int, status: str
) -> None:
    script = Script(error_response(code, status))
    async with make_client(script) as client:
        with pytest.raises(ApiError) as info:
            await call(client, method)
    assert info.value.http_status == code
    assert len(script.requests) == 1
    assert fake_time.sleeps == []


async def call(client: SipTrunksClient, method: str) -> object:
    if method == "get":
        return await client.get(NAME)
    if method == "list":
        return [trunk async for trunk in client.list_trunks("p", "global")]
    if method == "patch":
        return await client.patch(SipTrunk.model_validate(TRUNK), ["displayName"])
    if method == "delete":
        await client.delete(NAME)
        return None
    return await client.create("p", "global", SipTrunk(expected_hostname=["sbc.example.com"]))


NOT_SENT = [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("pool")]
SENT = [
    httpx.ReadError("reset"),
    httpx.ReadTimeout("slow"),
    httpx.WriteError("broken pipe"),
    httpx.RemoteProtocolError("Server disconnected without sending a response."),
]


@pytest.mark.parametrize("method", ["get", "list", "patch", "delete", "create"])
@pytest.mark.parametrize("exc", NOT_SENT, ids=lambda e: type(e).__name__)
async def test_connect_errors_retried_for_every_method(
    make_client: Callable[..., SipTrunksClient], method: str, exc: Exception
) -> None:
    empty = {} if method in ("delete", "list") else TRUNK
    script = Script(exc, exc, ok(empty))
    async with make_client(script) as client:
        await call(client, method)
    assert len(script.requests) == 3


@pytest.mark.parametrize("method", ["get", "list", "patch", "delete"])
@pytest.mark.parametrize("exc", SENT, ids=lambda e: type(e).__name__)
async def test_lost_responses_retried_when_idempotent(
    make_client: Callable[..., SipTrunksClient], method: str, exc: Exception
) -> None:
    empty = {} if method in ("delete", "list") else TRUNK
    script = Script(exc, ok(empty))
    async with make_client(script) as client:
        await call(client, method)
    assert len(script.requests) == 2


@pytest.mark.parametrize("exc", SENT, ids=lambda e: type(e).__name__)
async def test_create_with_lost_response_is_outcome_unknown_without_retry(
    make_client: Callable[..., SipTrunksClient], fake_time: FakeTime, exc: Exception
) -> None:
    script = Script(exc, ok())
    async with make_client(script) as client:
        with pytest.raises(OutcomeUnknown) as info:
            await call(client, "create")
    assert len(script.requests) == 1
    assert fake_time.sleeps == []
    assert isinstance(info.value.__cause__, ApiTransportError)
    assert type(exc).__name__ in str(info.value)


async def test_create_504_is_outcome_unknown(make_client: Callable[..., SipTrunksClient]) -> None:
    script = Script(error_response(504, "DEADLINE_EXCEEDED"), ok())
    async with make_client(script) as client:
        with pytest.raises(OutcomeUnknown):
            await call(client, "create")
    assert len(script.requests) == 1


async def test_create_with_malformed_success_is_outcome_unknown(
    make_client: Callable[..., SipTrunksClient],
) -> None:
    script = Script(httpx.Response(200, text="<html>proxy</html>"))
    async with make_client(script) as client:
        with pytest.raises(OutcomeUnknown):
            await call(client, "create")
        with pytest.raises(ApiError) as info:
            await call(client, "get")
    assert not isinstance(info.value, OutcomeUnknown)


async def test_delete_retried_after_lost_response_reports_not_found(
    make_client: Callable[..., SipTrunksClient],
) -> None:
    """The first DELETE went through but its response was lost; the retry finds nothing."""
    script = Script(httpx.ReadError("reset"), error_response(404, "NOT_FOUND"))
    async with make_client(script) as client:
        with pytest.raises(NotFound) as info:
            await client.delete(NAME)
    assert info.value.attempts == 2
    assert [r.method for r in script.requests] == ["DELETE", "DELETE"]


async def test_connect_errors_exhausted_raise_transport_error(
    make_client: Callable[..., SipTrunksClient], fake_time: FakeTime
) -> None:
    script = Script(httpx.ConnectError("refused"))
    async with make_client(script, max_attempts=3) as client:
        with pytest.raises(ApiTransportError) as info:
            await client.get(NAME)
    assert info.value.request_sent is False
    assert len(script.requests) == 3


async def test_per_attempt_timeout_is_bounded_by_deadline(
    make_client: Callable[..., SipTrunksClient], fake_time: FakeTime
) -> None:
    seen: list[dict[str, Any]] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        fake_time.now += 9  # each attempt "takes" 9 s
        return error_response(503, "UNAVAILABLE")

    async with make_client(capture, timeout_seconds=10, deadline_seconds=25) as client:
        with pytest.raises(Unavailable):
            await client.get(NAME)
    reads = [timeout["read"] for timeout in seen]
    assert reads[0] == 10
    assert all(read <= 10 for read in reads)
    assert reads[-1] < 10  # the last attempt only got what was left of the deadline


# -- a create's hard deadline, and reporting retries -------------------------------------------------------


async def test_a_create_is_never_sent_after_its_hard_deadline(
    make_client: Callable[..., SipTrunksClient], fake_time: FakeTime
) -> None:
    script = Script(ok())
    async with make_client(script) as client:
        with pytest.raises(NotSent):
            await client.create("p", "global", SipTrunk(expected_hostname=["a.example.com"]),
                                deadline=fake_time.now)  # it waited for quota past its deadline
    assert script.requests == []


async def test_a_create_tells_the_server_its_deadline_and_stops_retrying_at_it(
    make_client: Callable[..., SipTrunksClient], fake_time: FakeTime
) -> None:
    seen: list[tuple[str, float]] = []

    def slow_503(request: httpx.Request) -> httpx.Response:
        seen.append((request.headers["X-Server-Timeout"], request.extensions["timeout"]["read"]))
        fake_time.now += 5  # each attempt "takes" 5 s
        return error_response(503, "UNAVAILABLE")

    async with make_client(slow_503, max_attempts=100) as client:
        with pytest.raises(Unavailable):
            await client.create("p", "global", SipTrunk(expected_hostname=["a.example.com"]),
                                deadline=fake_time.now + 20)
    assert seen[0] == ("20.000", 20)
    assert [float(header) for header, _ in seen] == [read for _, read in seen]  # both are what is left
    assert all(read <= 20 for _, read in seen) and len(seen) == 3  # 5 + 1 + 5 + 2 + 5 = 18; the next would end past 20
    assert fake_time.now <= 1000 + 20


async def test_calls_without_a_hard_deadline_send_no_server_timeout(
    make_client: Callable[..., SipTrunksClient]
) -> None:
    script = Script(ok())
    async with make_client(script) as client:
        await client.get(NAME)
        await client.create("p", "global", SipTrunk(expected_hostname=["a.example.com"]))
    assert all("X-Server-Timeout" not in request.headers for request in script.requests)


async def test_every_retry_is_reported_before_its_back_off(
    make_client: Callable[..., SipTrunksClient], fake_time: FakeTime
) -> None:
    script = Script(error_response(503, "UNAVAILABLE"), error_response(503, "UNAVAILABLE"), ok({}))
    reported: list[tuple[str, float, float]] = []

    async def report(err: ApiError, delay: float) -> None:
        reported.append((type(err).__name__, delay, fake_time.now))

    async with make_client(script) as client:
        await client.delete(NAME, on_retry=report)
    assert reported == [("Unavailable", 1.0, 1000.0), ("Unavailable", 2.0, 1001.0)]


async def test_the_time_a_token_refresh_takes_counts_against_a_creates_deadline(
    make_client: Callable[..., SipTrunksClient], fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = Script(ok())

    async def slow_token() -> dict[str, str]:
        fake_time.now += 5  # the refresh took longer than what was left
        return {"Authorization": "Bearer unit-token"}

    async with make_client(script) as client:
        monkeypatch.setattr(client._tokens, "headers", slow_token)
        with pytest.raises(NotSent):
            await client.create("p", "global", SipTrunk(expected_hostname=["a.example.com"]),
                                deadline=fake_time.now + 3)
        assert script.requests == []
        await client.create("p", "global", SipTrunk(expected_hostname=["a.example.com"]),
                            deadline=fake_time.now + 8)
    assert script.requests[0].headers["X-Server-Timeout"] == "3.000"  # what was left after the refresh
