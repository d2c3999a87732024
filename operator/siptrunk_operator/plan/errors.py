"""How each API error class is reported (condition reason, message) and when it is retried."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from siptrunk_operator.api import (
    ApiError,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    InvalidRequest,
    NotFound,
    NotSent,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from siptrunk_operator.reasons import Reason
from siptrunk_operator.settings import OperatorSettings


class ApiAction(enum.StrEnum):
    GET = "get"
    LIST = "list"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"

    @property
    def permission(self) -> str:
        return f"dialogflow.siptrunks.{self.value}"


@dataclass(frozen=True)
class Verdict:
    """A failure as status reports it: the reason, a human message, and when to try again."""

    reason: Reason
    message: str
    retry_after: float


def action_of(err: ApiError) -> ApiAction:
    """The failed API method, carried on the error by the API seam (a read if unknown)."""
    try:
        return ApiAction(err.action or ApiAction.GET)
    except ValueError:
        return ApiAction.GET


def classify(err: ApiError, *, settings: OperatorSettings) -> Verdict:
    """Map an API error to a condition reason, a human message and a retry delay (seconds)."""
    action = action_of(err)
    if isinstance(err, InvalidRequest):  # refused by the client: nothing reached the API
        return Verdict(Reason.INVALID_SPEC, f"The {action} was not sent to the API: {err}",
                       settings.invalid_spec_retry_seconds)
    if isinstance(err, InvalidArgument | FailedPrecondition):
        return Verdict(Reason.INVALID_SPEC, f"The API rejected the {action}: {err}",
                       settings.invalid_spec_retry_seconds)
    if isinstance(err, PermissionDenied):
        permission = err.permission or action.permission
        return Verdict(Reason.PERMISSION_DENIED,
                       f"The operator's identity lacks {permission} for the {action}: {err}",
                       settings.permission_retry_seconds)
    if isinstance(err, Unauthenticated):
        return Verdict(Reason.PERMISSION_DENIED, f"The API did not accept the operator's credentials: {err}",
                       settings.permission_retry_seconds)
    if isinstance(err, RateLimited):
        return Verdict(Reason.RATE_LIMITED, f"Quota exhausted during the {action}: {err}",
                       max(err.retry_delay or 0.0, settings.error_retry_seconds))
    if isinstance(err, OutcomeUnknown):
        # Transient: the next attempt lists the parent to find out (CreateOutcomeUnknown is the
        # stalled case where that listing is ambiguous).
        return Verdict(Reason.OUTCOME_UNKNOWN, f"The {action} may or may not have happened: {err}",
                       settings.error_retry_seconds)
    return Verdict(Reason.API_UNAVAILABLE, f"Transient API error during the {action}: {err}",
                   settings.error_retry_seconds)


def flips_ready(err: ApiError) -> bool:
    """Whether a failure says the trunk is not as spec: a failed create, list or update, or a spec
    the API rejects. A failed read says nothing new, so Ready keeps its value (Synced says why)."""
    return action_of(err) in (ApiAction.CREATE, ApiAction.LIST, ApiAction.UPDATE) \
        or isinstance(err, InvalidArgument | FailedPrecondition)


NOTHING_CREATED = (InvalidArgument, FailedPrecondition, PermissionDenied, Unauthenticated, NotFound, Conflict,
                   RateLimited, Unavailable, NotSent)
"""Errors after which a create certainly did not happen, so its pending marker can go."""


def nothing_created(err: ApiError) -> bool:
    return isinstance(err, NOTHING_CREATED)


def kube_verdict(status: int | None, kind: str, settings: OperatorSettings) -> Verdict:
    """A Kubernetes write that failed (not a conflict, which re-reads): retried after a short delay."""
    detail = f"HTTP {status}" if status else kind
    return Verdict(Reason.KUBERNETES_API_ERROR, f"Writing to the Kubernetes API failed ({detail}); retrying.",
                   settings.error_retry_seconds)
