"""Async client for ``projects.locations.sipTrunks`` (Dialogflow ES, v2 / v2beta1) over REST."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic.alias_generators import to_camel

from siptrunk_operator.metrics import API_LATENCY, API_REQUESTS, RATE_LIMIT_WAIT_SECONDS, RATE_LIMIT_WAITS
from siptrunk_operator.models import MUTABLE_FIELDS, SipTrunk, TrunkName, parent_path

from .auth import CredentialsSource, HttpxAuthRequest, TokenSource, load_credentials
from .errors import ApiError, ApiTransportError, InvalidRequest, NotSent, OutcomeUnknown, error_from_response
from .ratelimit import RateLimiter, Sleep, priority_for
from .retry import Action, Backoff, classify, retry_delay
from .routing import base_headers, check_location, check_segment, encode_path, endpoint_for, request_params
from .settings import ClientSettings

_LOG = logging.getLogger(__name__)
T = TypeVar("T")
# Connect-phase failures: no byte of the request reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_OUTPUT_ONLY = ("connections",)
_ALT = {"$alt": "json;enum-encoding=int"}  # as Google's REST client: enums as numbers both ways
SERVER_TIMEOUT_HEADER = "X-Server-Timeout"
"""Google's system parameter: seconds the server may spend on the request (REST only)."""

RetryHook = Callable[[ApiError, float], Awaitable[None]]
"""Called with the error and the back-off delay before a call is retried: progress can be reported
while a call still retries, instead of only when it gives up."""


@dataclass(frozen=True, slots=True)
class _Call:
    method: str
    project: str
    location: str
    path: str
    """Resource path after the version, e.g. ``projects/p/locations/l/sipTrunks``."""
    routing: str
    """``x-goog-request-params`` value."""
    idempotent: bool
    params: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None

    def describe(self) -> str:
        return f"{self.method} {self.path}"


def _checked_parent(project: str, location: str) -> str:
    """``projects/{project}/locations/{location}``, refusing anything that could leave the path."""
    try:
        return parent_path(check_segment("project", project), check_location(location))
    except ValueError as exc:
        problem = str(exc)
    raise InvalidRequest(problem)  # outside the handler: no context to carry


def _checked_name(name: str) -> TrunkName:
    try:
        trunk = TrunkName.parse(name)
        check_segment("trunk id", trunk.trunk_id)
    except ValueError as exc:
        problem = str(exc)
    else:
        _checked_parent(trunk.project, trunk.location)
        return trunk
    raise InvalidRequest(problem)


def _update_mask(paths: Sequence[str]) -> str:
    """Comma-separated camelCase paths; snake_case accepted. Refuses an empty mask (it would mean
    "replace every field")—pass ``["*"]`` to ask for that explicitly."""
    if isinstance(paths, str):
        raise TypeError("update_mask must be a sequence of field paths, not a string")
    camel = [path if path == "*" else to_camel(path) for path in paths]
    unknown = sorted(set(camel) - {*MUTABLE_FIELDS, "*"})
    if unknown or not camel:
        raise ValueError(f"update_mask must name some of {', '.join(MUTABLE_FIELDS)} or '*'; got {paths!r}")
    return ",".join(dict.fromkeys(camel))


def _trunk_body(trunk: SipTrunk, *, drop: Sequence[str] = ()) -> dict[str, Any]:
    body = trunk.to_wire(enums_as_int=True)
    for key in (*_OUTPUT_ONLY, *drop):
        body.pop(key, None)
    return body


class SipTrunksClient:
    """Dialogflow SipTrunks over REST with retries, per-project rate limiting and typed errors.

    One ``httpx.AsyncClient`` (connection pool) per Google host. Use as ``async with`` or call
    :meth:`aclose`. ``sleep``, ``rng``, ``clock`` and ``transport`` are injectable for tests.
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        credentials: CredentialsSource | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
        auth_request: HttpxAuthRequest | None = None,
    ) -> None:
        self.settings = settings = settings or ClientSettings()
        self._sleep = sleep
        self._rng = rng
        self._clock = clock
        self._transport = transport
        self._backoff = Backoff(settings.initial_backoff, settings.max_backoff, jitter=settings.jitter)
        self._limiter = RateLimiter(
            settings.requests_per_minute, margin=settings.rate_limit_margin_seconds, clock=clock, sleep=sleep
        )
        self._owns_auth_request = auth_request is None
        self._auth_request = auth_request or HttpxAuthRequest(timeout=settings.timeout_seconds)
        self._tokens = TokenSource(lambda: load_credentials(settings, credentials), self._auth_request)
        self._headers = base_headers(settings.quota_project)
        self._pools: dict[str, httpx.AsyncClient] = {}
        self._closed = False

    # -- public API -------------------------------------------------------------------------------

    async def create(self, project: str, location: str, trunk: SipTrunk, *, deadline: float | None = None,
                     on_retry: RetryHook | None = None) -> SipTrunk:
        """Create a trunk; the server assigns its name. Raises :class:`OutcomeUnknown` if the
        request may have been applied but no answer arrived: list the parent to find out.

        ``deadline`` (on the client's clock) is hard: no attempt is sent after it, each attempt is
        abandoned by it, and the server is told to give up by then (``X-Server-Timeout``). So once it
        has passed (plus the server's own slack) the create can no longer commit. If it passes while
        the call waits for quota, :class:`NotSent` says nothing was sent."""
        parent = _checked_parent(project, location)
        call = _Call(
            "POST", project, location, f"{parent}/sipTrunks", request_params(parent=parent),
            idempotent=False, body=_trunk_body(trunk, drop=("name",)),
        )  # fmt: skip
        return await self._call(call, SipTrunk.model_validate, hard_deadline=deadline, on_retry=on_retry)

    async def get(self, name: str) -> SipTrunk:
        trunk = _checked_name(name)
        call = _Call("GET", trunk.project, trunk.location, str(trunk), request_params(name=str(trunk)), idempotent=True)
        return await self._call(call, SipTrunk.model_validate)

    async def patch(self, trunk: SipTrunk, update_mask: Sequence[str], *,
                    on_retry: RetryHook | None = None) -> SipTrunk:
        """Update the fields named in ``update_mask`` (camelCase or snake_case) from ``trunk``.
        Idempotent for a given body and mask, so it is retried like a read."""
        if not trunk.name:
            raise ValueError("patch needs trunk.name")
        name = _checked_name(trunk.name)
        call = _Call(
            "PATCH", name.project, name.location, str(name), request_params(sip_trunk__name=str(name)),
            idempotent=True, params={"updateMask": _update_mask(update_mask)}, body=_trunk_body(trunk),
        )  # fmt: skip
        return await self._call(call, SipTrunk.model_validate, on_retry=on_retry)

    async def delete(self, name: str, *, on_retry: RetryHook | None = None) -> None:
        """Delete a trunk. Raises :class:`NotFound` if it does not exist—including when a retry
        follows a delete whose response was lost; callers should treat that as done."""
        trunk = _checked_name(name)
        call = _Call(
            "DELETE", trunk.project, trunk.location, str(trunk), request_params(name=str(trunk)), idempotent=True
        )
        await self._call(call, lambda _: None, on_retry=on_retry)

    async def list_pages(
        self, project: str, location: str, page_size: int | None = None, page_token: str | None = None,
        *, decode: Callable[[Any], tuple[list[SipTrunk], str]] | None = None,
    ) -> AsyncIterator[tuple[list[SipTrunk], str]]:
        """Yield ``(trunks, next_page_token)`` per page; the last page has an empty token.
        ``decode`` (e.g. a :class:`PageDecoder`) replaces the plain page decoding."""
        if page_size is not None and page_size < 0:
            raise ValueError("page_size must be >= 0")
        parent = _checked_parent(project, location)
        token = page_token or ""
        while True:
            params = {"pageSize": str(page_size)} if page_size else {}
            if token:
                params["pageToken"] = token
            call = _Call(
                "GET", project, location, f"{parent}/sipTrunks", request_params(parent=parent),
                idempotent=True, params=params,
            )  # fmt: skip
            trunks, next_token = await self._call(call, decode or _decode_page)
            yield trunks, next_token
            if not next_token:
                return
            if next_token == token:
                raise ApiError(f"list of {parent} returned the same page token twice")
            token = next_token

    async def list_trunks(self, project: str, location: str, page_size: int | None = None) -> AsyncIterator[SipTrunk]:
        """Every trunk under ``projects/{project}/locations/{location}``, fetching pages lazily."""
        async for trunks, _ in self.list_pages(project, location, page_size):
            for trunk in trunks:
                yield trunk

    def with_credentials(self, credentials_json: str) -> SipTrunksClient:
        """A client for another key (a tenant's), sharing this client's rate limiter: Google's quota
        is per project, whoever calls."""
        # Not the operator's quota project either: a tenant's calls are billed to the tenant's.
        settings = self.settings.model_copy(update={"credentials_json": credentials_json, "credentials_file": None,
                                                    "quota_project": None})
        other = SipTrunksClient(settings, sleep=self._sleep, rng=self._rng, clock=self._clock,
                                transport=self._transport)
        other._limiter = self._limiter
        return other

    def quota_backlog(self, project: str) -> int:
        """Requests for ``project`` waiting for the client-side quota."""
        return self._limiter.waiting(project)

    async def aclose(self) -> None:
        self._closed = True
        pools, self._pools = list(self._pools.values()), {}
        await asyncio.gather(*(pool.aclose() for pool in pools))
        if self._owns_auth_request:
            self._auth_request.close()  # closing idle sync connections does not block

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- plumbing ---------------------------------------------------------------------------------

    def _pool(self, host: str) -> httpx.AsyncClient:
        pool = self._pools.get(host)
        if pool is None:
            pool = self._pools[host] = httpx.AsyncClient(
                transport=self._transport,
                headers=self._headers,
                timeout=self.settings.timeout_seconds,
                follow_redirects=False,
                trust_env=self.settings.emulator_url is None,  # no proxy between us and a local emulator
            )
        return pool

    async def _call(self, call: _Call, decode: Callable[[Any], T], *, hard_deadline: float | None = None,
                    on_retry: RetryHook | None = None) -> T:
        """Run ``call`` under the retry table of :mod:`.retry`, then decode its JSON response.

        The deadline starts once the rate limiter admits the first attempt; each retry queues again.
        Writes queue ahead of reads for the same project. A ``hard_deadline`` also bounds the
        wait for quota: nothing is sent once it has passed.
        """
        if self._closed:
            raise RuntimeError("SipTrunksClient is closed")
        await self._admit(call)
        deadline = self._clock() + self.settings.deadline_seconds
        if hard_deadline is not None:
            deadline = min(deadline, hard_deadline)
            if self._clock() >= deadline:
                raise NotSent(f"{call.describe()} was not sent: its deadline passed while it waited for quota")
        attempt = backoffs = server_errors = 0
        reauthenticated = False
        while True:
            attempt += 1
            try:
                response = await self._attempt(
                    call, min(self.settings.timeout_seconds, deadline - self._clock()),
                    hard_deadline=deadline if hard_deadline is not None else None,
                )
            except ApiError as err:
                err.attempts = attempt
                action = classify(err, idempotent=call.idempotent)
                if action is Action.OUTCOME_UNKNOWN:
                    raise OutcomeUnknown(
                        f"{call.describe()} may or may not have been applied ({err}); list to find out",
                        http_status=err.http_status,
                    ) from err
                if action is Action.REAUTHENTICATE and not reauthenticated:
                    reauthenticated = True
                    self._tokens.invalidate()
                else:
                    server_errors += action is Action.RETRY_SERVER_ERROR
                    delay = retry_delay(err, self._backoff, backoffs, self._rng)
                    backoffs += 1
                    if (
                        action in (Action.RAISE, Action.REAUTHENTICATE)
                        or server_errors > self.settings.max_server_error_retries
                        or attempt >= self.settings.max_attempts
                        or self._clock() + delay >= deadline
                    ):
                        raise
                    _LOG.info("%s failed (%s); retry %d in %.2fs", call.describe(), err, attempt, delay)
                    if on_retry is not None:
                        await on_retry(err, delay)
                    await self._sleep(delay)
                await self._admit(call)
                if hard_deadline is not None and self._clock() >= deadline:
                    raise  # the last answer stands: nothing was created, and nothing more is sent
            else:
                return _decode(call, response, decode)

    async def _admit(self, call: _Call) -> None:
        priority = priority_for(call.method)
        waited = await self._limiter.acquire(call.project, priority)
        if waited > 0:
            RATE_LIMIT_WAITS.labels(priority.name.lower()).inc()
            RATE_LIMIT_WAIT_SECONDS.labels(priority.name.lower()).observe(waited)

    async def _attempt(self, call: _Call, seconds: float, *, hard_deadline: float | None = None) -> httpx.Response:
        """One HTTP attempt. With a hard deadline the time left is measured after the token is
        fetched, nothing is sent once it has passed, and the whole attempt (pool, connect, send,
        answer) is cut off at it, so the server is never told more time than is left."""
        endpoint = endpoint_for(call.location, self.settings.emulator_url)
        headers = {
            **await self._tokens.headers(),
            **self._headers,  # our quota project wins over one carried by the credentials
            **endpoint.host_header,
            "x-goog-request-params": call.routing,
        }
        if hard_deadline is not None:
            left = hard_deadline - self._clock()
            if left <= 0:
                raise NotSent(f"{call.describe()} was not sent: its deadline passed before it could be")
            seconds = min(seconds, left)
            headers[SERVER_TIMEOUT_HEADER] = f"{seconds:.3f}"
        content = None
        if call.body is not None:
            content = json.dumps(call.body, separators=(",", ":")).encode()
            headers["content-type"] = "application/json"
        url = f"{endpoint.base_url}/{self.settings.api_version}/{encode_path(call.path)}"
        started = time.perf_counter()
        # httpx's exceptions carry the request, Authorization header and all: each is turned into
        # an error of ours raised outside its handler, so neither __cause__ nor __context__ keeps it.
        failure: ApiError | None = None
        try:
            async with asyncio.timeout(seconds if hard_deadline is not None else None):
                response = await self._pool(endpoint.host).request(
                    call.method, url, params={**call.params, **_ALT}, content=content,
                    headers=headers, timeout=max(seconds, 0.001),
                )  # fmt: skip
        except TimeoutError:  # the hard deadline cut the attempt off: it may have been sent
            API_REQUESTS.labels(call.method, "0").inc()
            failure = ApiTransportError(f"no answer from {endpoint.host} by the deadline", request_sent=True)
        except httpx.InvalidURL:
            failure = InvalidRequest(f"{call.method} {call.path!r} is not a valid URL")
        except _NOT_SENT as exc:
            API_REQUESTS.labels(call.method, "0").inc()
            failure = ApiTransportError(f"{type(exc).__name__} connecting to {endpoint.host}", request_sent=False)
        except httpx.TransportError as exc:
            API_REQUESTS.labels(call.method, "0").inc()
            failure = ApiTransportError(f"{type(exc).__name__} talking to {endpoint.host}", request_sent=True)
        finally:
            API_LATENCY.labels(call.method).observe(time.perf_counter() - started)
        if failure is not None:
            raise failure
        API_REQUESTS.labels(call.method, str(response.status_code)).inc()
        _LOG.debug("%s -> %d", call.describe(), response.status_code)
        if not response.is_success:
            raise error_from_response(response.status_code, response.content, response.headers)
        return response


def _decode(call: _Call, response: httpx.Response, decode: Callable[[Any], T]) -> T:
    """Decode a 2xx body. An undecodable answer to a create leaves its outcome unknown."""
    try:
        return decode(response.json() if response.content.strip() else {})
    except ValueError as exc:  # JSONDecodeError, pydantic.ValidationError
        message = f"malformed response to {call.describe()} ({type(exc).__name__})"
        if call.idempotent:
            raise ApiError(message, http_status=response.status_code) from None
        raise OutcomeUnknown(message, http_status=response.status_code) from None


class PageDecoder:
    """Decodes list pages, reusing the model of an item identical to the one last seen under its
    name: a listing repeated every few seconds then costs a dict comparison per unchanged trunk."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[dict[str, Any], SipTrunk]] = {}

    def __call__(self, data: Any) -> tuple[list[SipTrunk], str]:
        if not isinstance(data, dict):
            raise ValueError("list response is not an object")
        trunks: list[SipTrunk] = []
        for item in data.get("sipTrunks") or []:
            name = item.get("name") if isinstance(item, dict) else None
            seen = self._seen.get(name) if isinstance(name, str) else None
            if seen is not None and seen[0] == item:
                trunks.append(seen[1])
                continue
            trunk = SipTrunk.model_validate(item)
            if isinstance(name, str):
                self._seen[name] = (item, trunk)
            trunks.append(trunk)
        return trunks, str(data.get("nextPageToken") or "")

    def retain(self, names: set[str]) -> None:
        """Forget trunks a complete listing no longer holds."""
        self._seen = {n: v for n, v in self._seen.items() if n in names}


def _decode_page(data: Any) -> tuple[list[SipTrunk], str]:
    if not isinstance(data, dict):
        raise ValueError("list response is not an object")
    trunks = [SipTrunk.model_validate(item) for item in data.get("sipTrunks") or []]
    return trunks, str(data.get("nextPageToken") or "")
