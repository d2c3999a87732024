# mypy: disable-error-code="no-untyped-call"
"""Credentials: loading, refresh off the event loop, the httpx transport for google-auth, no leaks."""

from __future__ import annotations

import asyncio
import datetime
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import google.auth
import google.auth.exceptions
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import _helpers
from google.auth.credentials import Credentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from siptrunk_operator.api import (
    ApiTransportError,
    ClientSettings,
    OutcomeUnknown,
    SipTrunksClient,
    Unauthenticated,
)
from siptrunk_operator.api.auth import HttpxAuthRequest, TokenSource, load_credentials
from siptrunk_operator.models import SipTrunk

pytestmark = pytest.mark.anyio
NAME = "projects/p/locations/global/sipTrunks/abc"


class CountingCredentials(Credentials):
    """Refresh blocks on ``gate`` (if given) and issues ``token-N`` valid for ``lifetime``."""

    def __init__(self, lifetime: datetime.timedelta = datetime.timedelta(hours=1), gate: Any = None) -> None:
        super().__init__()
        self.lifetime = lifetime
        self.gate = gate
        self.refresh_threads: list[threading.Thread] = []

    def refresh(self, request: Any) -> None:
        self.refresh_threads.append(threading.current_thread())
        if self.gate is not None:
            assert self.gate.wait(timeout=5), "refresh was never released"
        self.token = f"token-{len(self.refresh_threads)}"
        self.expiry = _helpers.utcnow() + self.lifetime


def token_source(credentials: Credentials) -> TokenSource:
    return TokenSource(lambda: credentials, HttpxAuthRequest())


async def test_refresh_runs_in_a_thread_and_does_not_block_the_loop() -> None:
    gate = threading.Event()
    credentials = CountingCredentials(gate=gate)
    source = token_source(credentials)

    async def release() -> None:
        await asyncio.sleep(0.01)
        gate.set()  # only possible if the loop keeps running during the refresh

    headers, _ = await asyncio.gather(source.headers(), release())
    assert headers["authorization"] == "Bearer token-1"
    assert credentials.refresh_threads[0] is not threading.main_thread()


async def test_concurrent_callers_share_one_refresh() -> None:
    gate = threading.Event()
    credentials = CountingCredentials(gate=gate)
    source = token_source(credentials)
    tasks = [asyncio.create_task(source.headers()) for _ in range(20)]
    await asyncio.sleep(0.01)
    gate.set()
    results = await asyncio.gather(*tasks)
    assert {h["authorization"] for h in results} == {"Bearer token-1"}
    assert len(credentials.refresh_threads) == 1


async def test_refresh_shortly_before_expiry_not_earlier() -> None:
    credentials = CountingCredentials()
    source = token_source(credentials)
    await source.headers()
    await source.headers()
    assert len(credentials.refresh_threads) == 1  # an hour left: reuse
    credentials.expiry = _helpers.utcnow() + datetime.timedelta(minutes=2)  # inside the refresh margin
    assert (await source.headers())["authorization"] == "Bearer token-2"
    credentials.expiry = _helpers.utcnow() + datetime.timedelta(minutes=10)
    await source.headers()
    assert len(credentials.refresh_threads) == 2


async def test_credentials_loaded_lazily_in_a_thread() -> None:
    loaded_in: list[threading.Thread] = []

    def loader() -> Credentials:
        loaded_in.append(threading.current_thread())
        return user_credentials.Credentials(token="static")

    source = TokenSource(loader, HttpxAuthRequest())
    assert loaded_in == []
    assert (await source.headers())["authorization"] == "Bearer static"
    await source.headers()
    assert len(loaded_in) == 1
    assert loaded_in[0] is not threading.main_thread()


# -- google-auth transport over httpx ---------------------------------------------------------


def test_httpx_request_implements_google_auth_interface() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, headers={"X-Thing": "1"}, content=b"payload")

    request = HttpxAuthRequest(httpx.Client(transport=httpx.MockTransport(handler)))
    response = request("https://oauth2.example/token", method="POST", body=b"a=b", headers={"k": "v"}, timeout=3)
    assert (response.status, response.headers["x-thing"], response.data) == (201, "1", b"payload")
    assert (seen[0].method, seen[0].content, seen[0].headers["k"]) == ("POST", b"a=b", "v")
    assert seen[0].extensions["timeout"]["read"] == 3
    assert isinstance(request, google.auth.transport.Request)
    request.close()


def test_httpx_request_transport_errors_name_only_the_host() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"failed sending {request.content!r}")

    request = HttpxAuthRequest(httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(google.auth.exceptions.TransportError) as info:
        request("https://oauth2.example/token", method="POST", body=b"assertion=SIGNED-JWT")
    assert "oauth2.example" in str(info.value)
    assert "SIGNED-JWT" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None  # not even suppressed: httpx's request (the assertion) is not kept


# -- service-account keys ---------------------------------------------------------------------


def service_account_key(token_uri: str) -> dict[str, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "operator@p.iam.gserviceaccount.com",
        "token_uri": token_uri,
    }


@pytest.fixture(scope="module")
def sa_key() -> dict[str, str]:
    return service_account_key("https://token.example/token")


class TokenEndpoint:
    def __init__(self) -> None:
        self.grants: list[dict[str, list[str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "token.example":
            self.grants.append(parse_qs(request.content.decode()))
            return httpx.Response(200, json={"access_token": "sa-token", "expires_in": 3600, "token_type": "Bearer"})
        assert request.headers["authorization"] == "Bearer sa-token"
        return httpx.Response(200, json={"name": NAME})


@pytest.mark.parametrize("form", ["dict", "text", "file", "settings-json", "settings-file"])
async def test_service_account_key_forms(sa_key: dict[str, str], tmp_path: Path, form: str) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(sa_key))
    explicit_by_form: dict[str, dict[str, Any]] = {
        "dict": {"credentials": sa_key},
        "text": {"credentials": json.dumps(sa_key)},
        "file": {"credentials": str(path)},
    }
    settings_by_form: dict[str, dict[str, Any]] = {
        "settings-json": {"credentials_json": json.dumps(sa_key)},
        "settings-file": {"credentials_file": path},
    }
    explicit = explicit_by_form.get(form, {})
    settings = settings_by_form.get(form, {})
    endpoint = TokenEndpoint()
    client = SipTrunksClient(
        ClientSettings(requests_per_minute=0, **settings),
        transport=httpx.MockTransport(endpoint),
        auth_request=HttpxAuthRequest(httpx.Client(transport=httpx.MockTransport(endpoint))),
        **explicit,
    )
    async with client:
        assert (await client.get(NAME)).name == NAME
        await client.get(NAME)
    assert len(endpoint.grants) == 1
    assert endpoint.grants[0]["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]


def test_load_credentials_precedence(sa_key: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = user_credentials.Credentials(token="explicit")
    adc = user_credentials.Credentials(token="adc")
    calls: list[Any] = []

    def fake_default(scopes: Any = None, **kwargs: Any) -> tuple[Credentials, str]:
        calls.append(scopes)
        return adc, "p"

    monkeypatch.setattr(google.auth, "default", fake_default)
    assert load_credentials(ClientSettings(), explicit) is explicit
    assert load_credentials(ClientSettings()) is adc
    assert calls == [["https://www.googleapis.com/auth/dialogflow"]]
    from_json = load_credentials(ClientSettings(credentials_json=json.dumps(sa_key)))
    assert isinstance(from_json, service_account.Credentials)
    assert from_json.service_account_email == sa_key["client_email"]


@pytest.mark.parametrize(
    "bad",
    [
        '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----SECRETKEY"',
        {"type": "service_account", "private_key": "SECRETKEY"},
        {"type": "external_account", "credential_source": {"executable": {"command": "SECRETKEY"}}},
        "{not json SECRETKEY",
    ],
)
def test_bad_keys_raise_without_quoting_them(bad: Any) -> None:
    with pytest.raises(Unauthenticated) as info:
        load_credentials(ClientSettings(), bad)
    assert "SECRETKEY" not in str(info.value)
    assert "SECRETKEY" not in repr(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None  # a JSON decoding error would hold the whole document


def test_missing_adc_is_unauthenticated(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_adc(**kwargs: Any) -> None:
        raise google.auth.exceptions.DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", no_adc)
    with pytest.raises(Unauthenticated, match="default credentials were not found"):
        load_credentials(ClientSettings())


# -- refresh failures inside calls ------------------------------------------------------------


class FailingCredentials(CountingCredentials):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.failures = 1

    def refresh(self, request: Any) -> None:
        if self.failures:
            self.failures -= 1
            raise self.error
        super().refresh(request)


def client_with(credentials: Credentials, handler: Callable[[httpx.Request], httpx.Response]) -> SipTrunksClient:
    async def no_sleep(_: float) -> None:
        pass

    return SipTrunksClient(
        ClientSettings(requests_per_minute=0),
        credentials=credentials,
        transport=httpx.MockTransport(handler),
        sleep=no_sleep,
    )


async def test_token_endpoint_outage_is_retried_even_for_create() -> None:
    """Nothing reached the API, so retrying a create cannot duplicate it."""
    credentials = FailingCredentials(google.auth.exceptions.TransportError("token.example unreachable"))
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"name": NAME})

    async with client_with(credentials, handler) as client:
        created = await client.create("p", "global", SipTrunk(expected_hostname=["a.example.com"]))
    assert created.name == NAME
    assert len(requests) == 1
    assert requests[0].headers["authorization"] == "Bearer token-1"


async def test_rejected_refresh_is_unauthenticated_and_not_retried() -> None:
    error = google.auth.exceptions.RefreshError("invalid_grant: Invalid JWT Signature.", {"error": "invalid_grant"})
    credentials = FailingCredentials(error)
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={})

    async with client_with(credentials, handler) as client:
        with pytest.raises(Unauthenticated, match="invalid_grant") as info:
            await client.get(NAME)
    assert "{" not in str(info.value)  # the token endpoint's response body is not echoed
    assert info.value.__cause__ is None and info.value.__context__ is None  # nor kept, for a logger to print
    assert requests == []


async def test_exhausted_token_outage_raises_transport_error_not_outcome_unknown() -> None:
    credentials = FailingCredentials(google.auth.exceptions.TransportError("down"))
    credentials.failures = 100
    async with client_with(credentials, lambda r: httpx.Response(200, json={})) as client:
        with pytest.raises(ApiTransportError) as info:
            await client.create("p", "global", SipTrunk(expected_hostname=["a.example.com"]))
    assert not isinstance(info.value, OutcomeUnknown)
    assert info.value.request_sent is False


# -- 401 from the API -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "create"])
async def test_401_refreshes_the_token_and_retries_once(method: str) -> None:
    credentials = CountingCredentials()
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.headers["authorization"] == "Bearer token-1":
            return httpx.Response(401, json={"error": {"code": 401, "status": "UNAUTHENTICATED"}})
        return httpx.Response(200, json={"name": NAME})

    async with client_with(credentials, handler) as client:
        if method == "get":
            await client.get(NAME)
        else:
            await client.create("p", "global", SipTrunk(expected_hostname=["a.example.com"]))
    assert [r.headers["authorization"] for r in requests] == ["Bearer token-1", "Bearer token-2"]


async def test_second_401_is_raised() -> None:
    credentials = CountingCredentials()
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(401, json={"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "no"}})

    async with client_with(credentials, handler) as client:
        with pytest.raises(Unauthenticated) as info:
            await client.get(NAME)
        assert info.value.http_status == 401
        assert len(requests) == 2
    assert len(credentials.refresh_threads) == 2


def test_emulator_url_over_plain_http_must_be_loopback() -> None:
    from pydantic import ValidationError

    from siptrunk_operator.api import ClientSettings

    assert ClientSettings(emulator_url="http://127.0.0.1:8085/").emulator_url == "http://127.0.0.1:8085"
    assert ClientSettings(emulator_url="https://emulator.example.com").emulator_url
    with pytest.raises(ValidationError, match="loopback"):
        ClientSettings(emulator_url="http://emulator.example.com:8085")
