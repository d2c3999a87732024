"""Back-off schedule and the retry decision table.

Dialogflow's SLA asks for a back-off starting at 1 s, doubling per consecutive error, capped at 32 s.
Which errors are retried depends on whether the call is idempotent: a create (the server assigns
the name) must not be re-sent once the request may have reached the server.

==========================  ==========================  =====================================
error                       get / list / patch / delete  create
==========================  ==========================  =====================================
503 Unavailable             retry                        retry (the server answered: no trunk)
429 RateLimited             retry after max(hint, back-off), unless the hint overruns the deadline
500 / 502 ServerError       retry ``max_server_error_retries`` times  OutcomeUnknown (may have been applied)
504 DeadlineExceeded        retry like 500               OutcomeUnknown (may have been applied)
connect error, nothing sent retry                        retry
token endpoint unreachable  retry                        retry (nothing reached the API)
sent, then lost/timed out   retry                        OutcomeUnknown at once
401 Unauthenticated         refresh the token, retry once at once (the server rejected it unread)
other 4xx, 501              raise                        raise
==========================  ==========================  =====================================

Every retry is also bounded by ``max_attempts`` and the call's overall deadline.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .errors import (
    ApiError,
    ApiTransportError,
    DeadlineExceeded,
    RateLimited,
    ServerError,
    Unauthenticated,
    Unavailable,
)

Jitter = Literal["full", "equal"]


class Action(enum.Enum):
    RAISE = "raise"
    RETRY = "retry"
    RETRY_SERVER_ERROR = "retry-server-error"
    """Retry, counted against the (small) server-error budget."""
    OUTCOME_UNKNOWN = "outcome-unknown"
    REAUTHENTICATE = "reauthenticate"
    """Force a token refresh and retry once without back-off."""


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 1.0
    maximum: float = 32.0
    multiplier: float = 2.0
    jitter: Jitter = "equal"

    def ceiling(self, retry: int) -> float:
        """The un-jittered delay before retry number ``retry`` (0-based): 1, 2, 4, ... capped."""
        return min(self.maximum, self.initial * self.multiplier ** min(retry, 64))

    def delay(self, retry: int, rng: Callable[[], float]) -> float:
        """Full jitter: uniform in [0, ceiling]; equal jitter: uniform in [ceiling/2, ceiling]."""
        ceiling = self.ceiling(retry)
        if self.jitter == "full":
            return ceiling * rng()
        return ceiling / 2 + ceiling / 2 * rng()


def classify(error: ApiError, *, idempotent: bool) -> Action:
    """What to do after ``error`` on a call; see the module table."""
    if isinstance(error, ApiTransportError):
        if error.request_sent and not idempotent:
            return Action.OUTCOME_UNKNOWN
        return Action.RETRY
    if isinstance(error, Unavailable | RateLimited):
        return Action.RETRY
    if isinstance(error, DeadlineExceeded):
        return Action.RETRY_SERVER_ERROR if idempotent else Action.OUTCOME_UNKNOWN
    if isinstance(error, ServerError) and error.http_status in (500, 502):
        # AIP-194: INTERNAL may come after the write was applied; a create must not be re-sent.
        return Action.RETRY_SERVER_ERROR if idempotent else Action.OUTCOME_UNKNOWN
    if isinstance(error, Unauthenticated) and error.http_status == 401:
        return Action.REAUTHENTICATE  # a revoked or clock-skewed token; not a failed refresh
    return Action.RAISE


def retry_delay(error: ApiError, backoff: Backoff, retry: int, rng: Callable[[], float]) -> float:
    """The back-off delay, but never shorter than the server's RetryInfo / Retry-After hint."""
    delay = backoff.delay(retry, rng)
    return max(delay, error.retry_delay) if error.retry_delay is not None else delay
