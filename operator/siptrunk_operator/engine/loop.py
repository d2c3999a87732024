"""One pass over one object: plan a step, execute it, add what it taught to the facts, repeat;
then write the status the plan ended with and post its Events.

Every decision is `plan.steps.next_step`; this module only performs I/O. Writes carry the
resourceVersion they were planned from, and a 409 re-reads the object and plans again with the
facts learnt so far (nothing done twice: a created trunk is still known, an Event already earned is
still posted once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from siptrunk_operator.api import ApiError, RetryHook
from siptrunk_operator.engine.identities import Resolved
from siptrunk_operator.engine.registry import ObjectState, Registry
from siptrunk_operator.external import TrunkExternal
from siptrunk_operator.kubeapi import KubeError, StaleObjectError
from siptrunk_operator.logs import reconcile_scope
from siptrunk_operator.metrics import RECONCILES
from siptrunk_operator.plan.actions import (
    Action,
    CheckUninstall,
    ClearMarker,
    CreateTrunk,
    DeleteTrunk,
    EnsureFinalizer,
    Event,
    Facts,
    ListParent,
    Observation,
    Observe,
    PatchTrunk,
    RecordIdentity,
    ReleaseFinalizer,
    ReportProgress,
    Result,
    Step,
    WriteMarker,
)
from siptrunk_operator.plan.errors import kube_verdict, nothing_created
from siptrunk_operator.plan.pacing import resync_interval, wake_at
from siptrunk_operator.plan.status import plan_status
from siptrunk_operator.plan.steps import Claims, Context, next_step, policy_problem, retrying
from siptrunk_operator.plan.tenancy import Grant
from siptrunk_operator.plan.view import (
    CREATE_PENDING_ANNOTATION,
    RESYNC_ANNOTATION,
    TRUNK_NAME_ANNOTATION,
    ObjectView,
)
from siptrunk_operator.refresher import utc_now
from siptrunk_operator.settings import FINALIZER, OperatorSettings

_LOG = logging.getLogger(__name__)
MAX_STEPS = 16
MAX_REPLANS = 4


class KubeWrites(Protocol):
    """The Kubernetes calls a pass makes (KubeApi; fakes in tests)."""

    async def read(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def patch_metadata(self, namespace: str, name: str, resource_version: str, *,
                             annotations: Mapping[str, str | None] | None = None,
                             finalizers: list[str] | None = None) -> dict[str, Any]: ...

    async def patch_status(self, namespace: str, name: str, resource_version: str,
                           status: Mapping[str, Any]) -> dict[str, Any]: ...

    async def crd_is_being_deleted(self) -> bool: ...


class EventSink(Protocol):
    def post(self, view: ObjectView, event: Event) -> None: ...


class Resolver(Protocol):
    """The identity (hence the TrunkExternal) an object's pass uses (engine/identities.py)."""

    async def resolve(self, view: ObjectView) -> Resolved: ...


class OneIdentity:
    """Every object uses the same external (the operator's own identity)."""

    def __init__(self, external: TrunkExternal) -> None:
        self.external = external

    async def resolve(self, view: ObjectView) -> Resolved:
        return Resolved(self.external)


def carried_over(facts: Facts, planned: ObjectView, fresh: ObjectView) -> Facts:
    """What a pass keeps when a conflict makes it plan again. What it did stays done (a created or
    deleted trunk, its own marker, a released finalizer); what it observed or concluded for the old
    spec is dropped when the spec changed, so a fix made meanwhile is acted on at once."""
    if fresh.generation == planned.generation and fresh.deleting == planned.deleting:
        return facts
    return Facts(created=facts.created, deleted=facts.deleted, marker_written=facts.marker_written,
                 create_in_doubt=facts.create_in_doubt, released=facts.released, uninstalling=facts.uninstalling)


def outcome(facts: Facts, result: Result) -> tuple[str, str]:
    """(result, reason) labels of a pass: `error` when an API or Kubernetes call failed, and the
    reason status gives (an enum value, so the label set stays bounded)."""
    failed = facts.failure is not None or facts.kube_failure is not None
    by_type = {str(c.type): str(c.reason) for c in result.conditions}
    reason = by_type.get("Synced") if failed else by_type.get("Ready")
    return ("error" if failed else "success"), reason or by_type.get("Ready") or "Unchanged"


def _metadata_landed(view: ObjectView, annotations: Mapping[str, str | None] | None, finalizer: bool) -> bool:
    wrote = all(view.annotations.get(k) == v for k, v in (annotations or {}).items())
    return wrote and (view.has_finalizer or not finalizer)


def log_ref(view: ObjectView) -> dict[str, Any]:
    return {"k8s_ref": {"namespace": view.namespace, "name": view.name, "uid": view.uid}}


@dataclass
class _Pass:
    view: ObjectView
    facts: Facts = field(default_factory=Facts)
    events: list[Event] = field(default_factory=list)
    planned_at: float = 0.0
    """When the step being executed was planned (monotonic; its wall-clock twin is in the plan)."""
    marker_at: float | None = None
    """When this pass's pending marker was stamped: its create's hard deadline counts from here."""
    reported_retry: bool = False
    external: TrunkExternal | None = None
    """The API seam for this object's identity; None when its credentials cannot be used."""


class Reconciler:
    def __init__(self, resolver: Resolver, kube: KubeWrites, registry: Registry, events: EventSink,
                 settings: OperatorSettings, claims: Claims, *, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], str] = utc_now,
                 grant_for: Callable[[ObjectView], Grant | None] = lambda _: None) -> None:
        self.resolver, self.kube, self.registry, self.events = resolver, kube, registry, events
        self.settings, self.claims, self._clock, self._wall = settings, claims, clock, wall
        self.grant_for = grant_for

    def _resync_at(self, state: ObjectState) -> float:
        view = state.view
        return state.verified_at + resync_interval(view.uid, view.annotations.get(RESYNC_ANNOTATION), self.settings)

    async def reconcile(self, uid: str) -> float | None:
        """One pass; returns when (monotonic) to run it again, or None once the object is gone."""
        with reconcile_scope():
            return await self._reconcile(uid)

    async def _reconcile(self, uid: str) -> float | None:
        state = self.registry.get(uid)
        if state is None:
            return None
        run = _Pass(state.view)
        for _ in range(MAX_REPLANS):
            try:
                result = await self._plan_and_act(run, state)
                stored = await self._write_status(run, result)
            except StaleObjectError:
                fresh = await self._reread(run.view)
                if fresh is None:
                    self._post(run)
                    return None
                run.facts = carried_over(run.facts, run.view, fresh)
                run.view = fresh
                continue
            run.events.extend(result.events)
            self._post(run)
            RECONCILES.labels(*outcome(run.facts, result)).inc()
            now = self._clock()
            if result.resynced:
                state.verified_at = now
            state.retry_at = None if result.retry_after is None else now + result.retry_after
            if run.facts.released:
                return None
            return wake_at(result, self._resync_at(state), now) if stored else now + self.settings.error_retry_seconds
        _LOG.warning("the object kept changing under the operator; trying again shortly", extra=log_ref(run.view))
        self._post(run)
        return self._clock() + self.settings.error_retry_seconds

    async def _reread(self, view: ObjectView) -> ObjectView | None:
        try:
            body = await self.kube.read(view.namespace, view.name)
        except KubeError:
            return view  # plan again from what we have; the guarded write tells if it is stale
        return None if body is None else self.registry.stored(body)

    def _follow(self, run: _Pass) -> None:
        """Keep the shared listing (of this object's identity) watching the trunk it names, and only that."""
        view, external = run.view, run.external
        try:
            name = None if view.deleting or external is None else view.claimed_name
        except ValueError:
            name = None
        state = self.registry.get(view.uid)
        if state is not None and state.follower is not None and state.follower is not external and state.watched:
            state.follower.forget(state.watched)  # the identity changed (a rotated key): move the watch
            self.registry.watch(view.uid, None)
        previous = state.follower if state is not None and state.follower is not None else external
        stopped, started = self.registry.watch(view.uid, name)
        if stopped and previous is not None:
            previous.forget(stopped)
        if started and external is not None:
            try:
                external.watch(started)
            except ValueError:  # a name the listing cannot parse: the planner refuses it as InvalidSpec
                self.registry.watch(view.uid, None)
                return
        if state is not None:
            state.follower = external if name else None

    async def _plan_and_act(self, run: _Pass, state: ObjectState) -> Result:
        grant = self.grant_for(run.view)
        resolved = Resolved(None)  # a refused object gets no identity: no Secret read, no listing
        if policy_problem(run.view, grant) is None:
            try:
                resolved = await self.resolver.resolve(run.view)
            except KubeError as err:
                return self._kube_failed(run, err)
        run.external = resolved.external
        self._follow(run)
        for _ in range(MAX_STEPS):
            now = self._clock()
            retry_in = None if state.retry_at is None or state.retry_at <= now else state.retry_at - now
            ctx = Context(self.settings, self.claims, now=self._wall(), resync_due=now >= self._resync_at(state),
                          retry_in=retry_in, grant=grant, credentials_problem=resolved.problem)
            step: Step = next_step(run.view, run.facts, ctx)
            if step.action is None:
                return step.result
            run.planned_at = now
            await self._act(run, step.action)
            if run.facts.failure is None and run.facts.kube_failure is None:
                run.events.extend(step.events)
        _LOG.error("no plan converged in %d steps: %s", MAX_STEPS, run.facts, extra=log_ref(run.view))
        return Result(retry_after=self.settings.error_retry_seconds, write_status=False)

    def _kube_failed(self, run: _Pass, err: KubeError) -> Result:
        """The pass could not even start (its Secret could not be read): plan from that failure."""
        run.facts = run.facts.add(kube_failure=kube_verdict(err.status, type(err).__name__, self.settings))
        ctx = Context(self.settings, self.claims, now=self._wall())
        return next_step(run.view, run.facts, ctx).result

    async def _act(self, run: _Pass, action: Action) -> None:
        try:
            await self._perform(run, action)
        except ApiError as err:
            in_doubt = run.facts.create_in_doubt or (isinstance(action, CreateTrunk) and not nothing_created(err))
            run.facts = run.facts.add(failure=err, create_in_doubt=in_doubt)
        except KubeError as err:
            run.facts = run.facts.add(kube_failure=kube_verdict(err.status, type(err).__name__, self.settings))

    def _api(self, run: _Pass) -> TrunkExternal:
        if run.external is None:  # the planner refuses every API action without usable credentials
            raise AssertionError("an API action was planned without credentials")
        return run.external

    async def _perform(self, run: _Pass, action: Action) -> None:
        view, facts = run.view, run.facts
        match action:
            case Observe(name=name, mode=mode):
                observed = await self._api(run).observe(name, mode)
                run.facts = facts.add(observed=observed) if isinstance(observed, Observation) \
                    else facts.add(unobservable=observed)
            case ListParent(project=project, location=location):
                # One that started after this step was planned: after the decision to create, and
                # after an earlier attempt's create could last commit.
                listing = await self._api(run).list_parent(project, location, started_after=run.planned_at)
                run.facts = facts.add(listing=listing)
            case WriteMarker(value=value):
                await self._patch(run, {CREATE_PENDING_ANNOTATION: value}, finalizer=True)
                run.marker_at = run.planned_at
                run.facts = facts.add(marker_written=True)
            case ClearMarker():
                await self._patch(run, {CREATE_PENDING_ANNOTATION: None})
            case RecordIdentity(name=name):
                await self._patch(run, {TRUNK_NAME_ANNOTATION: name, CREATE_PENDING_ANNOTATION: None}, finalizer=True)
            case EnsureFinalizer():
                await self._patch(run, None, finalizer=True)
            case CreateTrunk(project=project, location=location, trunk=trunk):
                self._still_current(view)
                stamped = run.planned_at if run.marker_at is None else run.marker_at
                created = await self._api(run).create(project, location, trunk,
                                                     deadline=stamped + self.settings.create_deadline_seconds,
                                                     on_retry=self._reporter(run))
                run.facts = facts.add(created=created, observed=Observation(str(created.name), created, self._wall()))
            case PatchTrunk(trunk=trunk, mask=mask):
                patched = await self._api(run).update(trunk, mask, on_retry=self._reporter(run))
                run.facts = facts.add(patched=mask, observed=Observation(str(patched.name), patched, self._wall()))
            case DeleteTrunk(name=name):
                existed = await self._api(run).delete(name, on_retry=self._reporter(run))
                run.facts = facts.add(deleted=(*facts.deleted, (name, existed)))
            case ReportProgress(conditions=conditions):
                if not await self._write_status(run, Result(conditions=conditions)):
                    raise KubeError("the progress status write failed")
            case CheckUninstall():
                run.facts = facts.add(uninstalling=await self.kube.crd_is_being_deleted())
            case ReleaseFinalizer():
                await self.kube.patch_metadata(view.namespace, view.name, view.resource_version,
                                               finalizers=[f for f in view.finalizers if f != FINALIZER])
                run.facts = facts.add(released=True)

    def _reporter(self, run: _Pass) -> RetryHook:
        """Status follows a write the client is still retrying: Synced=False at its first retry."""

        async def report(err: ApiError, delay: float) -> None:
            if run.reported_retry:
                return
            run.reported_retry = True
            result = retrying(run.view, err, delay, self.settings)
            try:
                await self._write_status(run, result)
            except StaleObjectError:
                return  # the pass's own end writes the truth
            run.events.extend(result.events)

        return report

    def _still_current(self, view: ObjectView) -> None:
        """Before a create: if a newer version of the object arrived (deleted, edited) while this
        pass waited, plan again rather than create for a spec that no longer stands."""
        state = self.registry.get(view.uid)
        if state is not None and (state.view.deleting or state.view.generation != view.generation):
            raise StaleObjectError(view.name)

    async def _patch(self, run: _Pass, annotations: Mapping[str, str | None] | None, *,
                     finalizer: bool = False) -> None:
        view = run.view
        finalizers = [*view.finalizers, FINALIZER] if finalizer and not view.has_finalizer else None
        try:
            body = await self.kube.patch_metadata(view.namespace, view.name, view.resource_version,
                                                  annotations=annotations, finalizers=finalizers)
        except StaleObjectError:
            # A retried write whose first attempt landed (its answer was lost) is done, not stale.
            landed = await self._reread(view)
            if landed is None or not _metadata_landed(landed, annotations, finalizer):
                raise
            run.view = landed
        else:
            run.view = self.registry.stored(body)
        self._follow(run)

    async def _write_status(self, run: _Pass, result: Result) -> bool:
        """Write the planned status if it changes anything; False if the API server refused."""
        write = plan_status(run.view, result, now=self._wall())
        if write is None:
            return True
        view = run.view
        try:
            body = await self.kube.patch_status(view.namespace, view.name, view.resource_version, write.patch)
        except KubeError as err:
            _LOG.warning("status write failed: %s", err, extra=log_ref(view))
            return False
        except StaleObjectError:
            landed = await self._reread(view)
            if landed is None or any(landed.status.get(k) != v for k, v in write.patch.items() if v is not None):
                raise
            run.view = landed  # a retried write whose first attempt landed
        else:
            run.view = self.registry.stored(body)
        run.events.extend(write.events)
        return True

    def _post(self, run: _Pass) -> None:
        """Once per pass, whatever way it ends."""
        for event in run.events:
            self.events.post(run.view, event)
