"""How each API error class is reported (condition reason, message) and when it is retried."""

from __future__ import annotations

from dataclasses import dataclass

from siptrunk_operator.api import (
    ApiError,
    FailedPrecondition,
    InvalidArgument,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
)
from siptrunk_operator.settings import OperatorSettings

_PERMISSIONS = {
    "create": "dialogflow.siptrunks.create",
    "update": "dialogflow.siptrunks.update",
    "delete": "dialogflow.siptrunks.delete",
    "get": "dialogflow.siptrunks.get",
    "list": "dialogflow.siptrunks.list",
}


@dataclass(frozen=True)
class Verdict:
    reason: str
    message: str
    retry_after: float


def classify(err: ApiError, *, action: str, settings: OperatorSettings) -> Verdict:
    """Map an API error to a condition reason, a human message and a retry delay (seconds)."""
    if isinstance(err, InvalidArgument | FailedPrecondition):
        return Verdict("InvalidSpec", f"The API rejected the {action}: {err}",
                       settings.invalid_spec_retry_seconds)
    if isinstance(err, PermissionDenied):
        permission = err.permission or _PERMISSIONS.get(action, "dialogflow.siptrunks.*")
        return Verdict(
            "PermissionDenied",
            f"The operator's identity lacks {permission} for the {action}: {err}",
            settings.permission_retry_seconds,
        )
    if isinstance(err, Unauthenticated):
        return Verdict("PermissionDenied", f"The API did not accept the operator's credentials: {err}",
                       settings.permission_retry_seconds)
    if isinstance(err, RateLimited):
        return Verdict("RateLimited", f"Quota exhausted during the {action}: {err}",
                       max(err.retry_delay or 0.0, settings.error_retry_seconds))
    if isinstance(err, OutcomeUnknown):
        # Transient: the next attempt lists the parent to find out (CreateOutcomeUnknown is the
        # stalled case where that listing is ambiguous).
        return Verdict("OutcomeUnknown", f"The {action} may or may not have happened: {err}",
                       settings.error_retry_seconds)
    return Verdict("APIUnavailable", f"Transient API error during the {action}: {err}",
                   settings.error_retry_seconds)
