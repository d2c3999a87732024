"""Fixtures for API-level tests against the sipTrunks emulator.

Stable fixtures (other test modules rely on these names):

* ``emulator``: a running :class:`EmulatorServer` in its start-up state (open mode,
  ``connect_after=2.0``, no trunks, faults, log entries, identities or tokens). One server serves
  the whole session; it is reset before every test, so nothing a test changes leaks.
* ``emulator_url``: its base URL, ``http://127.0.0.1:PORT``.
* ``control``: an :class:`EmulatorControl` on it.

Helpers: ``api`` (an httpx client with a bearer token, open mode), ``new_trunk`` (create through
the API), ``service_account`` (a generated key registered as an identity), ``sign_jwt`` (a JWT
signed with such a key), ``gapic`` (Google's own REST client pointed at the emulator).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
import pytest
from google.auth import crypt
from google.auth import jwt as google_jwt
from google.auth.credentials import Credentials
from google.cloud import dialogflow_v2, dialogflow_v2beta1
from google.oauth2 import credentials as oauth2_credentials

from siptrunk_operator.emulator import EmulatorConfig, EmulatorControl, EmulatorServer
from siptrunk_operator.emulator.iam import generate_service_account_key

PROJECT = "sandbox"
GLOBAL_PARENT = f"projects/{PROJECT}/locations/global"
OPEN_TOKEN = "open-mode-test-token"


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    server = EmulatorServer(EmulatorConfig())
    server.start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> EmulatorServer:
    with EmulatorControl(emulator_server.url) as control:
        control.reset()
    return emulator_server


@pytest.fixture
def emulator_url(emulator: EmulatorServer) -> str:
    return emulator.url


@pytest.fixture
def control(emulator_url: str) -> Iterator[EmulatorControl]:
    with EmulatorControl(emulator_url) as ctl:
        yield ctl


@pytest.fixture
def api(emulator_url: str) -> Iterator[httpx.Client]:
    """Raw REST access with a bearer token (any token passes in open mode)."""
    with httpx.Client(base_url=emulator_url, headers={"Authorization": f"Bearer {OPEN_TOKEN}"}, timeout=10) as client:
        yield client


NewTrunk = Callable[..., dict[str, Any]]


@pytest.fixture
def new_trunk(api: httpx.Client) -> NewTrunk:
    """``new_trunk(parent=GLOBAL_PARENT, version="v2", **body)``: create a trunk, return its JSON."""

    def create(parent: str = GLOBAL_PARENT, version: str = "v2", **body: Any) -> dict[str, Any]:
        body.setdefault("expectedHostname", ["sbc.example.com"])
        response = api.post(f"/{version}/{parent}/sipTrunks", json=body)
        assert response.status_code == 200, response.text
        trunk: dict[str, Any] = response.json()
        return trunk

    return create


ServiceAccount = Callable[..., dict[str, str]]


@pytest.fixture
def service_account(control: EmulatorControl, emulator_url: str) -> ServiceAccount:
    """``service_account(email, projects=[PROJECT], permissions=None, register=True)`` -> key file dict."""

    def make(
        email: str,
        projects: Iterable[str] = (PROJECT,),
        permissions: Iterable[str] | None = None,
        register: bool = True,
    ) -> dict[str, str]:
        key, public_pem = generate_service_account_key(email, f"{emulator_url}/token", PROJECT)
        if register:
            control.add_identity(email, public_pem, list(projects), permissions)
        return key

    return make


SignJwt = Callable[..., str]


@pytest.fixture
def sign_jwt() -> SignJwt:
    """``sign_jwt(key, **claims)``: a JWT from ``key``'s email (iss/sub), valid 10 minutes, signed by google-auth."""

    def sign(key: dict[str, str], **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": key["client_email"], "sub": key["client_email"], "iat": now, "exp": now + 600}
        token: bytes = google_jwt.encode(crypt.RSASigner.from_service_account_info(key), payload | claims)
        return token.decode()

    return sign


GAPIC_MODULES = {"v2": dialogflow_v2, "v2beta1": dialogflow_v2beta1}
Gapic = Callable[..., Any]


@pytest.fixture
def gapic(emulator_url: str) -> Gapic:
    """``gapic(version, credentials=None)``: Google's ``SipTrunksClient`` (REST transport) on the emulator.

    ``api_endpoint`` keeps its explicit ``http://`` scheme (the REST transport only adds ``https://``
    when the endpoint has none). Without credentials it sends a static open-mode bearer token.
    """

    def make(version: str, credentials: Credentials | None = None) -> Any:
        return GAPIC_MODULES[version].SipTrunksClient(
            credentials=credentials or oauth2_credentials.Credentials(token=OPEN_TOKEN),
            transport="rest",
            client_options={"api_endpoint": emulator_url},
        )

    return make
