"""google-auth credentials without blocking the event loop and without ``requests``.

google-auth is synchronous: loading Application Default Credentials may probe the metadata server
and a refresh is a blocking HTTP call. Both run in a worker thread, behind an asyncio lock so that
concurrent callers share one refresh. Tokens are refreshed when google-auth stops considering them
``valid``, which is ``REFRESH_THRESHOLD`` (3 min 45 s) before expiry.
"""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import google.auth
import google.auth.exceptions
import google.auth.transport
import httpx
from google.auth.credentials import Credentials
from google.oauth2 import service_account

from .errors import ApiError, ApiTransportError, Unauthenticated
from .routing import USER_AGENT
from .settings import ClientSettings

SCOPES = ("https://www.googleapis.com/auth/dialogflow",)
"""The narrowest scope the sipTrunks methods accept: a leaked token reaches Dialogflow only."""
_LOG = logging.getLogger(__name__)

CredentialsSource = Credentials | Mapping[str, Any] | str | Path


class _Response(google.auth.transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._status = response.status_code
        self._headers = {key.lower(): value for key, value in response.headers.items()}
        self._data = response.content

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> dict[str, str]:
        return self._headers

    @property
    def data(self) -> bytes:
        return self._data


class HttpxAuthRequest(google.auth.transport.Request):
    """google-auth's transport interface over a synchronous ``httpx.Client`` (token endpoints, metadata)."""

    def __init__(self, client: httpx.Client | None = None, *, timeout: float = 30.0) -> None:
        self._client = client
        self._timeout = timeout

    @property
    def client(self) -> httpx.Client:
        """Created on first use: static tokens never need it."""
        if self._client is None:
            self._client = httpx.Client(headers={"user-agent": USER_AGENT})
        return self._client

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        try:
            response = self.client.request(
                method,
                url,
                content=body,
                headers=dict(headers or {}),
                timeout=self._timeout if timeout is None else timeout,
            )
        except httpx.HTTPError as exc:
            failed = type(exc).__name__
        else:
            return _Response(response)
        # The message names the host only, and it is raised outside the handler so that no
        # __context__ keeps httpx's request: its body holds a signed assertion, or a secret.
        raise google.auth.exceptions.TransportError(  # type: ignore[no-untyped-call]
            f"{failed} while calling {urlsplit(url).netloc}"
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _service_account(info: object) -> Credentials:
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ValueError("not a service-account key (type must be 'service_account')")
    credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        info, scopes=list(SCOPES)
    )
    return _as_credentials(credentials)


def credentials_from_info(info: Mapping[str, Any] | str) -> Credentials:
    """Service-account key credentials from the key JSON (a dict or its text).

    Only ``service_account`` keys are accepted inline: other credential configurations (external
    accounts) can make google-auth run commands or fetch URLs, so they must come from a file the
    deployment controls (``credentials_file`` / ``GOOGLE_APPLICATION_CREDENTIALS``).
    """
    try:
        return _service_account(json.loads(info) if isinstance(info, str) else dict(info))
    except (ValueError, TypeError, google.auth.exceptions.GoogleAuthError) as exc:
        problem = _summary(exc)
    # Never quote the document (it holds a private key), nor keep it as __context__: a JSON
    # decoding error holds the whole document.
    raise Unauthenticated(f"invalid service-account key JSON: {problem}")


def credentials_from_file(path: Path | str) -> Credentials:
    """Any google-auth credentials file, as ``GOOGLE_APPLICATION_CREDENTIALS`` would load it.

    The path is deployment configuration (as trusted as ADC's), so non-service-account types are
    loaded with google-auth's generic loader, silencing its warning the way its ADC code does.
    """
    try:
        info = json.loads(Path(path).read_text())
        if isinstance(info, dict) and info.get("type") == "service_account":
            return _service_account(info)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            loaded = google.auth.load_credentials_from_file(str(path), scopes=list(SCOPES))  # type: ignore[no-untyped-call]
    except (OSError, ValueError, TypeError, google.auth.exceptions.GoogleAuthError) as exc:
        problem = _summary(exc)
    else:
        return _as_credentials(loaded[0])
    raise Unauthenticated(f"cannot load credentials from {path}: {problem}")  # no __context__: see above


def load_credentials(settings: ClientSettings, explicit: CredentialsSource | None = None) -> Credentials:
    """Explicit credentials, else the settings' inline JSON or file, else ADC. Blocking."""
    if isinstance(explicit, Credentials):
        return explicit
    if isinstance(explicit, Path):
        return credentials_from_file(explicit)
    if isinstance(explicit, str) and not explicit.lstrip().startswith("{"):
        return credentials_from_file(explicit)
    if explicit is not None:
        return credentials_from_info(explicit)
    if settings.credentials_json:
        return credentials_from_info(settings.credentials_json)
    if settings.credentials_file:
        return credentials_from_file(settings.credentials_file)
    try:
        loaded = google.auth.default(scopes=list(SCOPES))
    except google.auth.exceptions.DefaultCredentialsError as exc:
        problem = _summary(exc)
    else:
        return _as_credentials(loaded[0])
    raise Unauthenticated(f"no Application Default Credentials: {problem}")


def _as_credentials(value: object) -> Credentials:
    if not isinstance(value, Credentials):
        raise Unauthenticated(f"unsupported credentials type {type(value).__name__}")
    return value


class TokenSource:
    """Authorization headers for requests; refreshes off the event loop, one refresh at a time."""

    def __init__(self, loader: Callable[[], Credentials], request: google.auth.transport.Request) -> None:
        self._loader = loader
        self._request = request
        self._credentials: Credentials | None = None
        self._rejected: str | None = None
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """The API rejected the current token (401): refresh before the next request."""
        if self._credentials is not None:
            self._rejected = self._credentials.token

    def _needs_refresh(self) -> bool:
        credentials = self._credentials
        return credentials is None or not credentials.valid or credentials.token == self._rejected

    def _load_and_refresh(self) -> None:
        if self._credentials is None:
            self._credentials = self._loader()
        if self._needs_refresh():
            _LOG.debug("refreshing access token (%s)", type(self._credentials).__name__)
            self._rejected = None
            self._credentials.refresh(self._request)  # type: ignore[no-untyped-call]

    async def headers(self) -> dict[str, str]:
        """``authorization`` (and a quota project the credentials carry, if any)."""
        if self._needs_refresh():
            async with self._lock:
                if self._needs_refresh():
                    await self._refresh()
        headers: dict[str, str] = {}
        assert self._credentials is not None
        self._credentials.apply(headers)  # type: ignore[no-untyped-call]
        return headers

    async def _refresh(self) -> None:
        """Refresh; a failure becomes an :class:`ApiError` raised outside the handler, so that no
        __context__ keeps google-auth's exception (its args hold the token endpoint's response)."""
        failure: ApiError
        try:
            await asyncio.to_thread(self._load_and_refresh)
            return
        except google.auth.exceptions.TransportError as exc:
            # Nothing reached the API: safe to retry, even a create.
            failure = ApiTransportError(f"token endpoint unreachable: {_summary(exc)}", request_sent=False)
        except google.auth.exceptions.RefreshError as exc:
            failure = ApiTransportError(f"token refresh failed: {_summary(exc)}", request_sent=False) \
                if exc.retryable else Unauthenticated(f"token refresh failed: {_summary(exc)}")
        except google.auth.exceptions.GoogleAuthError as exc:
            failure = Unauthenticated(f"credentials error: {_summary(exc)}")
        raise failure


def _summary(exc: BaseException) -> str:
    """The leading message only: google-auth appends the token endpoint's response as further args."""
    first = exc.args[0] if exc.args else ""
    return first if isinstance(first, str) and first else type(exc).__name__
