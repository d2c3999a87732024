"""Production client for Dialogflow's ``projects.locations.sipTrunks`` REST API."""

from .client import PageDecoder, SipTrunksClient
from .errors import (
    ApiError,
    ApiTransportError,
    Conflict,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
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
    "NotFound",
    "OutcomeUnknown",
    "PageDecoder",
    "PermissionDenied",
    "RateLimited",
    "ServerError",
    "SipTrunksClient",
    "Unauthenticated",
    "Unavailable",
]
