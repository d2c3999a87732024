"""The status a pass writes: mirror, conditions, kstatus pair; None when nothing would change.

A status write never goes backwards: the loop writes it with the resourceVersion it planned from
(optimistic concurrency), and passes over one object never overlap, so an observation is never
older than the one the status already shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from siptrunk_operator.plan import health
from siptrunk_operator.plan.actions import Event, Result
from siptrunk_operator.plan.conditions import merge_conditions, progress_conditions
from siptrunk_operator.plan.view import ObjectView
from siptrunk_operator.reasons import EventReason


@dataclass(frozen=True)
class StatusWrite:
    patch: dict[str, Any]
    """A merge patch of `status`; lists (conditions, connections) are replaced whole."""
    events: tuple[Event, ...]
    """Connection transitions: posted only once this write is stored, so a retried write never repeats them."""


CONFIRMATIONS = frozenset({"lastSyncTime", "observedTime"})
"""Timestamps that move on every look: alone they are not worth a write (1,000 trunks would
otherwise rewrite their status at every listing)."""


def _same(current: Mapping[str, Any], key: str, value: Any) -> bool:
    return (current.get(key) or None) == (value or None)


def plan_status(view: ObjectView, result: Result, *, now: str) -> StatusWrite | None:
    if not result.write_status:
        return None
    patch: dict[str, Any] = {}
    updates = list(result.conditions)
    events: list[Event] = []
    mirror = result.mirror
    if mirror is not None and mirror.trunk is not None:
        mirrored = health.observed_status(mirror.trunk)
        patch.update(mirrored)
        patch["observedTime"] = mirror.observed_at
        updates += health.health_conditions(mirror.trunk)
        for healthy, message in health.connection_transitions(view.status.get("connections"),
                                                              mirrored["connections"]):
            reason = EventReason.CONNECTION_HEALTHY if healthy else EventReason.CONNECTION_UNHEALTHY
            events.append(Event(reason, message, warning=not healthy))
    elif result.clear_mirror:
        patch.update(health.CLEARED_WHEN_MISSING)
    if result.record_name:
        patch["name"] = result.record_name
    if result.round_trip:
        patch["lastSyncTime"] = now
    patch["observedGeneration"] = view.generation
    merged = merge_conditions(view.status.get("conditions"), updates, generation=view.generation, now=now)
    patch["conditions"] = merge_conditions(merged, progress_conditions(merged), generation=view.generation, now=now)
    changed = {key: value for key, value in patch.items() if not _same(view.status, key, value)}
    if set(changed) <= CONFIRMATIONS:
        return None
    return StatusWrite(changed, tuple(events))
