"""Google-shaped API errors (AIP-193) raised by the emulator.

Every error body is ``{"error": {"code", "message", "status", "details": [...]}}`` with exactly one
``google.rpc.ErrorInfo`` first, then optional ``RetryInfo``, ``QuotaFailure`` or ``BadRequest``.

Reasons and statuses used by the emulator (ErrorInfo domain ``dialogflow.googleapis.com`` unless
marked ``[g]`` = ``googleapis.com`` or ``[iam]`` = ``iam.googleapis.com``):

=============================  ====  ===================  ============================================
situation                      HTTP  status               ErrorInfo.reason (extra details)
=============================  ====  ===================  ============================================
no ``Authorization`` header    401   UNAUTHENTICATED      CREDENTIALS_MISSING [g]
unknown/unverifiable token     401   UNAUTHENTICATED      ACCESS_TOKEN_TYPE_UNSUPPORTED [g]
expired token                  401   UNAUTHENTICATED      ACCESS_TOKEN_EXPIRED [g]
IAM denial (Google's shape)    403   PERMISSION_DENIED    IAM_PERMISSION_DENIED [iam]
host/location mismatch         400   INVALID_ARGUMENT     LOCATION_HOST_MISMATCH
bad JSON, unknown field        400   INVALID_ARGUMENT     INVALID_JSON_PAYLOAD
missing/invalid field value    400   INVALID_ARGUMENT     INVALID_FIELD_VALUE (BadRequest)
bad ``updateMask`` path        400   INVALID_ARGUMENT     INVALID_UPDATE_MASK (BadRequest)
negative/non-int ``pageSize``  400   INVALID_ARGUMENT     INVALID_PAGE_SIZE (BadRequest)
bad ``pageToken``              400   INVALID_ARGUMENT     INVALID_PAGE_TOKEN (BadRequest)
trunk does not exist           404   NOT_FOUND            SIP_TRUNK_NOT_FOUND
no such URL                    404   NOT_FOUND            URL_NOT_FOUND
over ``quota_per_minute``      429   RESOURCE_EXHAUSTED   RATE_LIMIT_EXCEEDED [g] (QuotaFailure, RetryInfo)
injected 429                   429   RESOURCE_EXHAUSTED   RATE_LIMIT_EXCEEDED [g] (QuotaFailure, RetryInfo)
injected 503                   503   UNAVAILABLE          SERVICE_UNAVAILABLE (RetryInfo if a delay is set)
injected 500, emulator bug     500   INTERNAL             INTERNAL_ERROR
injected 403                   403   PERMISSION_DENIED    IAM_PERMISSION_DENIED [iam]
injected other code            any   status_for_code()    the status name (RetryInfo if a delay is set)
=============================  ====  ===================  ============================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

DIALOGFLOW_DOMAIN = "dialogflow.googleapis.com"
GOOGLEAPIS_DOMAIN = "googleapis.com"
IAM_DOMAIN = "iam.googleapis.com"
_TYPE_PREFIX = "type.googleapis.com/google.rpc."

_STATUS_BY_CODE: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def status_for_code(code: int) -> str:
    """The canonical ``google.rpc.Code`` name Google pairs with an HTTP status."""
    if code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[code]
    return "FAILED_PRECONDITION" if 400 <= code < 500 else "UNKNOWN"


def duration(seconds: float) -> str:
    """A ``google.protobuf.Duration`` in JSON form: ``"2s"``, ``"1.500s"``."""
    if math.isclose(seconds, round(seconds)):
        return f"{round(seconds)}s"
    return f"{seconds:.3f}s" if math.isclose(seconds, round(seconds, 3)) else f"{seconds:.9f}s"


class ApiError(Exception):
    """An error the emulator answers in Google's JSON error shape."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str,
        domain: str = DIALOGFLOW_DOMAIN,
        metadata: Mapping[str, str] | None = None,
        status: str | None = None,
        retry_delay: float | None = None,
        extra_details: Sequence[dict[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or status_for_code(code)
        self.reason = reason
        self.domain = domain
        self.metadata = dict(metadata or {})
        self.retry_delay = retry_delay
        self.extra_details = list(extra_details)
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        details: list[dict[str, Any]] = [
            {
                "@type": _TYPE_PREFIX + "ErrorInfo",
                "reason": self.reason,
                "domain": self.domain,
                "metadata": self.metadata,
            }
        ]
        if self.retry_delay is not None:
            details.append({"@type": _TYPE_PREFIX + "RetryInfo", "retryDelay": duration(self.retry_delay)})
        details.extend(self.extra_details)
        error = {"code": self.code, "message": self.message, "status": self.status, "details": details}
        return {"error": error}


def invalid_argument(message: str, *, reason: str = "INVALID_FIELD_VALUE", field: str | None = None) -> ApiError:
    """A 400; with ``field`` it also carries a ``BadRequest`` field violation naming it."""
    extra: list[dict[str, Any]] = []
    if field is not None:
        extra.append(
            {
                "@type": _TYPE_PREFIX + "BadRequest",
                "fieldViolations": [{"field": field, "description": message}],
            }
        )
    return ApiError(400, message, reason=reason, extra_details=extra)


def not_found(name: str) -> ApiError:
    return ApiError(404, f"SipTrunk '{name}' not found.", reason="SIP_TRUNK_NOT_FOUND", metadata={"resource": name})


def url_not_found(method: str, path: str) -> ApiError:
    return ApiError(404, f"The requested URL {method} {path} was not found on this server.", reason="URL_NOT_FOUND")


def permission_denied(permission: str, resource: str) -> ApiError:
    """Google's real IAM denial: the same message whether or not the resource exists."""
    return ApiError(
        403,
        f"Permission '{permission}' denied on resource '{resource}' (or it may not exist).",
        reason="IAM_PERMISSION_DENIED",
        domain=IAM_DOMAIN,
        metadata={"permission": permission, "resource": resource},
    )


_UNAUTHENTICATED_MESSAGES = {
    "CREDENTIALS_MISSING": "Request is missing required authentication credential.",
    "ACCESS_TOKEN_TYPE_UNSUPPORTED": "Request had invalid authentication credentials.",
    "ACCESS_TOKEN_EXPIRED": "Request had invalid authentication credentials.",
}


def unauthenticated(reason: str) -> ApiError:
    message = (
        f"{_UNAUTHENTICATED_MESSAGES[reason]} Expected OAuth 2 access token, login cookie or other "
        "valid authentication credential. "
        "See https://developers.google.com/identity/sign-in/web/devconsole-project."
    )
    return ApiError(
        401,
        message,
        reason=reason,
        domain=GOOGLEAPIS_DOMAIN,
        metadata={"service": DIALOGFLOW_DOMAIN},
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
    )


def quota_exceeded(project: str | None, retry_delay: float | None, *, limit_value: int | None = None) -> ApiError:
    """Google's 429 for "All other requests per minute" of consumer ``project``.

    The emulator has no project numbers: the project ID stands in for one in the message.
    """
    consumer = f"projects/{project or 'unknown'}"
    message = (
        "Quota exceeded for quota metric 'All other requests' and limit 'All other requests per minute' "
        f"of service '{DIALOGFLOW_DOMAIN}' for consumer 'project_number:{project or 'unknown'}'."
    )
    metadata = {
        "service": DIALOGFLOW_DOMAIN,
        "consumer": consumer,
        "quota_metric": f"{DIALOGFLOW_DOMAIN}/other_requests",
        "quota_limit": "OtherRequestsPerMinutePerProject",
    }
    if limit_value is not None:
        metadata["quota_limit_value"] = str(limit_value)
    quota_failure = {
        "@type": _TYPE_PREFIX + "QuotaFailure",
        "violations": [{"subject": consumer, "description": message}],
    }
    return ApiError(
        429,
        message,
        reason="RATE_LIMIT_EXCEEDED",
        domain=GOOGLEAPIS_DOMAIN,
        metadata=metadata,
        retry_delay=retry_delay,
        extra_details=[quota_failure],
    )


def unavailable(retry_delay: float | None) -> ApiError:
    return ApiError(503, "The service is currently unavailable.", reason="SERVICE_UNAVAILABLE", retry_delay=retry_delay)


def deadline_exceeded() -> ApiError:
    return ApiError(504, "Deadline expired before operation could complete.", reason="DEADLINE_EXCEEDED")


def internal() -> ApiError:
    return ApiError(500, "Internal error encountered.", reason="INTERNAL_ERROR")
