"""Typed API errors, parsed once from Google's AIP-193 error body.

Body shape: ``{"error": {"code", "message", "status", "details": [ErrorInfo, RetryInfo, ...]}}``.
Non-JSON bodies (proxies, load balancers) are tolerated: the text becomes the message.
"""

# The class names are the project's public API (they mirror Google's status names): no Error suffix.
# ruff: noqa: N818

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_MAX_MESSAGE = 300
REDACTED = "[REDACTED]"
_TOKEN = r"[A-Za-z0-9._~+/=-]{8,}"  # RFC 6750 b64token: stops at quotes, commas and JSON escapes
_KEYS = r"access_token|refresh_token|id_token|subject_token|client_secret|assertion|private_key_id|key_id|kid"
# Belt and braces: never let something that looks like a credential reach a message, a log line,
# a status or an Event. Each pattern keeps its group 1 (a label) and blanks the rest. The text may
# be JSON (a log line, a response body): the patterns stop at quotes and backslash escapes, so
# redacting a JSON document leaves it valid JSON.
_SECRET_PATTERNS = re.compile(
    # a PEM private key, whole or cut short (in JSON its newlines are the two characters \n)
    r"(-----BEGIN[A-Z ]*PRIVATE KEY-----)(?:.*?-----END[A-Z ]*PRIVATE KEY-----|[A-Za-z0-9+/=\s\\]*)"
    r"|MII(?:[A-Za-z0-9+/]|\n|\\n){60,}={0,2}"  # DER (a key, or a certificate) in base64, lines and all
    rf"|(?i:\b((?:bearer|basic)\s+)){_TOKEN}"  # an Authorization header's credentials
    r"|(?<![A-Za-z0-9])ya29\.[A-Za-z0-9._~+/=-]+"  # Google OAuth 2.0 access token
    r"|(?<![A-Za-z0-9])1//[A-Za-z0-9_-]{20,}"  # Google refresh token
    r"|(?<![A-Za-z0-9])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"  # a JWT (signed assertion, ID token)
    # a credential field in JSON (also backslash-escaped, inside a log line) or form/query text
    rf"|(?i:(\b(?:{_KEYS})\b\\?[\"']?\s*[:=]\s*\\?[\"']?))[^\"'\\&\s,;}}]+",
    re.DOTALL,
)


def _blank(match: re.Match[str]) -> str:
    label = next((group for group in match.groups() if group), "")
    return label + REDACTED


def scrub(text: str) -> str:
    """``text`` with anything shaped like a credential blanked: bearer and access tokens, refresh
    tokens, JWTs, private keys (PEM or base64 DER) and the values of credential fields
    (``access_token``, ``private_key_id``, ``kid``, ...). Nothing else changes."""
    return _SECRET_PATTERNS.sub(_blank, text)


def redact(text: str) -> str:
    """:func:`scrub`, then shorten ``text`` to a message's length."""
    text = scrub(text)
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


class ApiError(Exception):
    """Base for every error the client raises for an API call."""

    transient: bool = False
    """Worth retrying later with the same request (class default; 501 is a non-transient ServerError)."""
    default_status: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        status: str | None = None,
        reason: str | None = None,
        domain: str | None = None,
        metadata: Mapping[str, str] | None = None,
        retry_delay: float | None = None,
    ) -> None:
        self.message = redact(message)
        super().__init__(self.message)
        self.http_status = http_status
        self.status = status or self.default_status
        # The server's words too (ErrorInfo), for they reach status and logs as the message does.
        self.reason = None if reason is None else redact(reason)
        self.domain = domain
        self.metadata: dict[str, str] = {key: redact(value) for key, value in (metadata or {}).items()}
        self.retry_delay = retry_delay
        self.attempts = 1
        """How many HTTP attempts the call made before giving up (set by the retry loop)."""
        self.action: str | None = None
        """The API method that failed (get, list, create, update, delete), set by the caller's seam
        so the error names the missing permission without a side channel."""

    def __str__(self) -> str:
        head = " ".join(str(part) for part in (self.http_status, self.status) if part is not None)
        text = f"{head}: {self.message}" if head else self.message
        return f"{text} [reason={self.reason}]" if self.reason else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class InvalidArgument(ApiError):
    """400 INVALID_ARGUMENT or OUT_OF_RANGE."""

    default_status: ClassVar[str | None] = "INVALID_ARGUMENT"


class InvalidRequest(InvalidArgument):
    """The client refused to build the request: a resource name whose segments could leave their
    place in the path, or a URL the HTTP client refuses. Nothing was sent; the spec (or a recorded
    name) must change, so it is reported like a 400."""

    default_status: ClassVar[str | None] = None


class FailedPrecondition(ApiError):
    """400 FAILED_PRECONDITION."""

    default_status = "FAILED_PRECONDITION"


class Unauthenticated(ApiError):
    """401, or credentials that could not be loaded or refreshed."""

    default_status = "UNAUTHENTICATED"


class PermissionDenied(ApiError):
    """403 PERMISSION_DENIED."""

    default_status = "PERMISSION_DENIED"

    @property
    def permission(self) -> str | None:
        """The IAM permission named in ErrorInfo metadata, e.g. ``dialogflow.siptrunks.get``."""
        return self.metadata.get("permission")


class NotFound(ApiError):
    """404 NOT_FOUND. On delete it also means "already gone" (including after a retried delete)."""

    default_status = "NOT_FOUND"


class Conflict(ApiError):
    """409 ALREADY_EXISTS or ABORTED."""

    default_status = "ALREADY_EXISTS"


class RateLimited(ApiError):
    """429 RESOURCE_EXHAUSTED; ``retry_delay`` is the server's hint, if any."""

    transient = True
    default_status = "RESOURCE_EXHAUSTED"


class ServerError(ApiError):
    """500 and other 5xx without a more specific class."""

    transient = True
    default_status = "INTERNAL"


class Unavailable(ApiError):
    """503 UNAVAILABLE."""

    transient = True
    default_status = "UNAVAILABLE"


class DeadlineExceeded(ApiError):
    """504 DEADLINE_EXCEEDED."""

    transient = True
    default_status = "DEADLINE_EXCEEDED"


class ApiTransportError(ApiError):
    """The network failed (connect, read, protocol) and retries, if allowed, did not help."""

    transient = True

    def __init__(self, message: str, *, request_sent: bool) -> None:
        super().__init__(message)
        self.request_sent = request_sent
        """False when no byte of the request can have reached the server (safe to retry a create)."""


class OutcomeUnknown(ApiError):
    """A non-idempotent write may or may not have been applied; reconcile by listing."""


class NotSent(ApiError):
    """The call's hard deadline passed before it could be sent (it waited for quota): nothing happened."""

    transient = True


_BY_HTTP_STATUS: dict[int, type[ApiError]] = {
    400: InvalidArgument,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
    503: Unavailable,
    504: DeadlineExceeded,
}


def _error_class(http_status: int, status: str | None) -> type[ApiError]:
    if http_status == 400 and status == "FAILED_PRECONDITION":
        return FailedPrecondition
    if http_status in _BY_HTTP_STATUS:
        return _BY_HTTP_STATUS[http_status]
    return ServerError if http_status >= 500 else ApiError


def parse_duration(value: object) -> float | None:
    """A protobuf Duration in JSON (``"1.5s"``) or object form (``{"seconds": 1, "nanos": 5e8}``)."""
    try:
        if isinstance(value, str) and value.endswith("s"):
            return max(0.0, float(value[:-1]))
        if isinstance(value, Mapping):
            return max(0.0, float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9)
    except (TypeError, ValueError):
        pass
    return None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """An HTTP ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _error_payload(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, list) and data:  # some Google frontends wrap the error in a list
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else None


def _parse_details(details: object) -> dict[str, Any]:
    """The first ErrorInfo (reason, domain, metadata) and RetryInfo (retry_delay)."""
    fields: dict[str, Any] = {}
    for detail in details if isinstance(details, list) else []:
        kind = detail.get("@type") if isinstance(detail, dict) else None
        if kind == _ERROR_INFO and "reason" not in fields:
            metadata = detail.get("metadata")
            fields["reason"] = detail.get("reason")
            fields["domain"] = detail.get("domain")
            fields["metadata"] = {str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {}
        elif kind == _RETRY_INFO and "retry_delay" not in fields:
            fields["retry_delay"] = parse_duration(detail.get("retryDelay"))
    return fields


def error_from_response(http_status: int, body: bytes, headers: Mapping[str, str] | None = None) -> ApiError:
    """Build the typed error for a non-2xx response."""
    error = _error_payload(body)
    if error is None:
        status = None
        message = body.decode("utf-8", "replace").strip() or f"HTTP {http_status}"
        fields: dict[str, Any] = {}
    else:
        status = error["status"] if isinstance(error.get("status"), str) else None
        message = str(error.get("message") or f"HTTP {http_status}")
        fields = _parse_details(error.get("details"))
    if fields.get("retry_delay") is None:
        fields["retry_delay"] = parse_retry_after((headers or {}).get("retry-after"))
    err = _error_class(http_status, status)(message, http_status=http_status, status=status, **fields)
    if http_status == 501:
        err.transient = False  # UNIMPLEMENTED will not start working on a retry
    return err
