"""When an object is reconciled again: one clock per object, like controller-runtime's RequeueAfter."""

from __future__ import annotations

import datetime as dt
import hashlib

from siptrunk_operator.plan.actions import Result
from siptrunk_operator.settings import OperatorSettings

_MIN_WAKE_SECONDS = 1.0
"""A floor, so a resync clock that failed to advance can never spin the loop."""


def resync_interval(uid: str, annotation: str | None, settings: OperatorSettings) -> float:
    """Seconds between drift corrections: the annotation (clamped to the bounds) or the default,
    jittered deterministically per object to [0.75x, 1.25x) so a fleet does not resync in lockstep."""
    base = settings.resync_seconds
    if annotation:
        try:
            base = float(annotation)
        except ValueError:
            base = settings.resync_seconds
    low, high = settings.min_resync_seconds, settings.max_resync_seconds
    base = min(max(base, low), high)
    fraction = int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16) / 0x1_0000_0000
    return max(low, base * (0.75 + fraction / 2))


def wake_at(result: Result, resync_at: float, now: float) -> float:
    """The one time this object is reconciled again unless an event comes first: a failure's retry
    (at its own pace: a stalled spec is not retried faster at resync), else the resync."""
    if result.retry_after is not None:
        return now + result.retry_after
    return max(resync_at, now + _MIN_WAKE_SECONDS)


def _instant(stamp: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def create_settles_at(started: str, settings: OperatorSettings) -> str | None:
    """When a create whose pending marker says `started` can no longer commit (RFC 3339): its hard
    deadline plus the margin. None when the stamp cannot be read."""
    instant = _instant(started)
    if instant is None:
        return None
    settle = instant + dt.timedelta(seconds=settings.create_deadline_seconds + settings.create_settle_margin_seconds)
    return settle.strftime("%Y-%m-%dT%H:%M:%SZ")


def create_settles_in(started: str, now: str, settings: OperatorSettings) -> float:
    """Seconds until that moment; 0 once it has passed, or when a stamp cannot be read (a marker
    this operator did not write: there is nothing of its own to wait for)."""
    instant, current = _instant(started), _instant(now)
    if instant is None or current is None:
        return 0.0
    waited = (current - instant).total_seconds()
    return max(0.0, settings.create_deadline_seconds + settings.create_settle_margin_seconds - waited)
