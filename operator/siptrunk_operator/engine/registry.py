"""One typed state per object, keyed by uid, and the trunk-name index the refresher wakes through.
Nothing outlives its object: `forget` drops every trace (deletion, uninstall)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from siptrunk_operator.external import TrunkExternal
from siptrunk_operator.plan.triggers import needs_reconcile, newer
from siptrunk_operator.plan.view import ObjectView


@dataclass
class ObjectState:
    view: ObjectView
    """The newest version of the object seen (watch event or the operator's own write)."""
    verified_at: float
    """When the trunk was last verified against spec (monotonic); the next resync is due one
    interval later (the interval may change with the object's annotation)."""
    watched: str | None = None
    """The trunk name this object follows in the shared listing."""
    retry_at: float | None = None
    """When a failed pass is retried at its own pace (monotonic); a change worth a pass clears it."""
    follower: TrunkExternal | None = None
    """The external (identity) whose shared listing follows `watched`."""


class Registry:
    def __init__(self) -> None:
        self._states: dict[str, ObjectState] = {}
        self._by_trunk: dict[str, set[str]] = defaultdict(set)

    def __len__(self) -> int:
        return len(self._states)

    def get(self, uid: str) -> ObjectState | None:
        return self._states.get(uid)

    def observe(self, body: Mapping[str, Any], *, now: float) -> bool:
        """Take a watch event's body; True if it is worth a reconcile."""
        view = ObjectView.from_body(body)
        state = self._states.get(view.uid)
        if state is None:
            self._states[view.uid] = ObjectState(view, now)  # a restart does not resync everything at once
            return True
        if not newer(view.resource_version, state.view.resource_version):
            return False
        worth = needs_reconcile(state.view, view)
        state.view = view
        if worth:
            state.retry_at = None  # a person's change is acted on at once, whatever the back-off
        return worth

    def stored(self, body: Mapping[str, Any]) -> ObjectView:
        """The object as the operator's own write returned it."""
        view = ObjectView.from_body(body)
        state = self._states.get(view.uid)
        if state is not None and newer(view.resource_version, state.view.resource_version):
            state.view = view
        return view

    def watch(self, uid: str, name: str | None) -> tuple[str | None, str | None]:
        """Point the object at trunk `name`; returns (stopped following, started following)."""
        state = self._states.get(uid)
        if state is None or state.watched == name:
            return None, None
        previous, state.watched = state.watched, name
        if previous is not None:
            self._unindex(previous, uid)
        if name is not None:
            self._by_trunk[name].add(uid)
        return (previous if previous is not None and not self._by_trunk.get(previous) else None), name

    def _unindex(self, name: str, uid: str) -> None:
        owners = self._by_trunk.get(name)
        if owners is not None:
            owners.discard(uid)
            if not owners:
                del self._by_trunk[name]

    def following(self, names: Iterable[str]) -> set[str]:
        return {uid for name in names for uid in self._by_trunk.get(name, ())}

    def forget(self, uid: str) -> ObjectState | None:
        state = self._states.pop(uid, None)
        if state is not None and state.watched is not None:
            self._unindex(state.watched, uid)
        return state

    def uids(self) -> list[str]:
        return list(self._states)

    def statuses(self) -> list[Mapping[str, Any]]:
        """Every object's status as last seen (what the metrics count)."""
        return [state.view.status for state in self._states.values()]
