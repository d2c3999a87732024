"""The actions a plan can ask for, the facts a pass learns, and the result it ends with. Values only."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any

from siptrunk_operator.api import ApiError
from siptrunk_operator.api.errors import scrub
from siptrunk_operator.models import SipTrunk
from siptrunk_operator.plan.conditions import ConditionUpdate
from siptrunk_operator.plan.errors import Verdict
from siptrunk_operator.reasons import EventReason, Reason


class ObserveMode(enum.Enum):
    CACHE_ONLY = "cache-only"
    """Settled objects: read the shared listing; never call the API for this object alone."""
    CACHE_FIRST = "cache-first"
    """Read the shared listing if it is fresh and holds the trunk; otherwise GET it."""


@dataclass(frozen=True)
class Observation:
    """The trunk an object claims, as last seen: `trunk` is None when the API says it does not exist."""

    name: str
    trunk: SipTrunk | None
    observed_at: str
    """Wall-clock time (RFC 3339) the API reported this state: a status write never goes back past it."""
    from_cache: bool = False


@dataclass(frozen=True)
class Unobservable:
    """Cache-only and the cache cannot answer: not listed yet, or the listing keeps failing."""

    problem: str | None
    """None while the first listing is awaited; otherwise why the listing cannot be trusted."""


# -- actions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observe:
    name: str
    mode: ObserveMode


@dataclass(frozen=True)
class ListParent:
    """A listing of the parent that started after this step was planned."""

    project: str
    location: str


@dataclass(frozen=True)
class WriteMarker:
    """Confirmed right before the create (after its listing): the finalizer plus the create-pending
    annotation, stamped with the time its hard deadline counts from."""

    value: str


@dataclass(frozen=True)
class ClearMarker:
    pass


@dataclass(frozen=True)
class RecordIdentity:
    """The trunk-name annotation (and finalizer); clears the pending marker."""

    name: str


@dataclass(frozen=True)
class EnsureFinalizer:
    pass


@dataclass(frozen=True)
class CreateTrunk:
    project: str
    location: str
    trunk: SipTrunk


@dataclass(frozen=True)
class PatchTrunk:
    trunk: SipTrunk
    mask: tuple[str, ...]


@dataclass(frozen=True)
class DeleteTrunk:
    name: str


@dataclass(frozen=True)
class CheckUninstall:
    """Whether the SipTrunk CRD itself is being deleted (then nothing is deleted in the API)."""


@dataclass(frozen=True)
class ReleaseFinalizer:
    pass


@dataclass(frozen=True)
class ReportProgress:
    """A status write in the middle of a pass (confirmed before the pass goes on): what the
    operator is about to do, e.g. Creating before the create request is sent."""

    conditions: tuple[ConditionUpdate, ...]


Action = (Observe | ListParent | WriteMarker | ClearMarker | RecordIdentity | EnsureFinalizer | CreateTrunk
          | PatchTrunk | DeleteTrunk | CheckUninstall | ReleaseFinalizer | ReportProgress)


# -- what a pass learns ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """Everything one pass has learnt so far; the loop adds each action's result."""

    observed: Observation | None = None
    unobservable: Unobservable | None = None
    listing: tuple[SipTrunk, ...] | None = None
    marker_written: bool = False
    """This pass wrote the pending marker (so what its create did is known to this pass)."""
    create_in_doubt: bool = False
    """This pass sent a create whose outcome is unknown (it may still commit): kept across re-plans,
    so its marker is then judged like an earlier attempt's."""
    created: SipTrunk | None = None
    patched: tuple[str, ...] | None = None
    deleted: tuple[tuple[str, bool], ...] = ()
    """(name, existed) per trunk deleted this pass."""
    failure: ApiError | None = None
    kube_failure: Verdict | None = None
    uninstalling: bool | None = None
    released: bool = False

    def add(self, **changes: Any) -> Facts:
        return replace(self, **changes)

    @property
    def own_marker(self) -> bool:
        """The pending marker is this pass's, and nothing it sent is in doubt."""
        return self.marker_written and not self.create_in_doubt

    @property
    def deleted_names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.deleted)


@dataclass(frozen=True)
class Event:
    reason: EventReason | Reason
    message: str
    warning: bool = False

    def __post_init__(self) -> None:
        # Whatever a message quotes (an error, a name), no credential reaches an Event or its log line.
        object.__setattr__(self, "message", scrub(self.message))


@dataclass(frozen=True)
class Result:
    """How a pass ends: the status it reports and when the loop should run again."""

    conditions: tuple[ConditionUpdate, ...] = ()
    events: tuple[Event, ...] = ()
    mirror: Observation | None = None
    """Mirror this observation's trunk (fields, connections, health) into status."""
    clear_mirror: bool = False
    record_name: str | None = None
    round_trip: bool = False
    """The pass talked to the API itself and succeeded: lastSyncTime moves."""
    retry_after: float | None = None
    """Seconds until a failed pass is tried again; None: at the next resync."""
    resynced: bool = False
    """The pass verified the trunk against spec: the resync clock restarts."""
    write_status: bool = True
    """False once the object is gone (finalizer released) or nothing is known yet."""


@dataclass(frozen=True)
class Step:
    """The planner's answer: one action to take next (with the Events it earns once done), or the result."""

    action: Action | None = None
    events: tuple[Event, ...] = ()
    result: Result = field(default_factory=Result)
