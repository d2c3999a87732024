"""Which watch events are worth a reconcile: changes a person or the operator's own writes made
to what the plan reads. The operator's status writes come back as events too; they are not."""

from __future__ import annotations

from siptrunk_operator.plan.view import WATCHED_ANNOTATIONS, ObjectView


def newer(current: str, previous: str) -> bool:
    """Whether resourceVersion `current` is newer. They are opaque; when both are integers (etcd
    revisions), order them, so an event delayed behind the operator's own write is not taken as
    news. Otherwise any difference counts (a wasted pass at worst: writes are guarded)."""
    if current.isdigit() and previous.isdigit():
        return int(current) > int(previous)
    return current != previous


def needs_reconcile(previous: ObjectView | None, current: ObjectView) -> bool:
    if previous is None:
        return True
    if not newer(current.resource_version, previous.resource_version):
        return False
    return (current.generation != previous.generation
            or current.deleting != previous.deleting
            or current.has_finalizer != previous.has_finalizer
            or any(current.annotations.get(k) != previous.annotations.get(k) for k in WATCHED_ANNOTATIONS)
            or current.status != previous.status)
