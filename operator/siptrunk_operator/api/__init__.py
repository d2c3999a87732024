"""Production client for Dialogflow's ``projects.locations.sipTrunks`` REST API."""

from .client import PageDecoder, RetryHook, SipTrunksClient
from .errors import (
    ApiError,
    ApiTransportError,
    Conflict,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    InvalidRequest,
    NotFound,
    NotSent,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    ServerError,
    Unauthenticated,
    Unavailable,
)
from .settings import ClientSettings

__all__ = [
    "ApiError",
    "ApiTransportError",
    "ClientSettings",
    "Conflict",
    "DeadlineExceeded",
    "FailedPrecondition",
    "InvalidArgument",
    "InvalidRequest",
    "NotFound",
    "NotSent",
    "OutcomeUnknown",
    "PageDecoder",
    "PermissionDenied",
    "RateLimited",
    "RetryHook",
    "ServerError",
    "SipTrunksClient",
    "Unauthenticated",
    "Unavailable",
]
