"""The planner: from the object, what this pass has learnt and the clock, the next action or the result.

`next_step` is called again after every action with the facts that action added, so each branch of
the lifecycle (create with crash-safe recovery, adopt, update, drift, conflict, delete) is a pure,
table-tested decision. The loop (`engine/loop.py`) only executes what it asks for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from siptrunk_operator.api import ApiError
from siptrunk_operator.plan import health
from siptrunk_operator.plan.actions import (
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
    ObserveMode,
    PatchTrunk,
    RecordIdentity,
    ReleaseFinalizer,
    ReportProgress,
    Result,
    Step,
    WriteMarker,
)
from siptrunk_operator.plan.conditions import (
    ConditionUpdate,
    is_settled,
    ready_false,
    ready_true,
    synced_failed,
    synced_ok,
)
from siptrunk_operator.plan.drift import patch_body, update_mask
from siptrunk_operator.plan.errors import Verdict, classify, flips_ready, nothing_created
from siptrunk_operator.plan.errors import action_of as failed_action
from siptrunk_operator.plan.identity import (
    ObjectRef,
    Recovery,
    ambiguous_message,
    conflict_owner,
    existing_message,
    fingerprint,
    recover_create,
)
from siptrunk_operator.plan.pacing import create_settles_at, create_settles_in
from siptrunk_operator.plan.tenancy import Grant, forbidden, parents_of
from siptrunk_operator.plan.view import TRUNK_NAME_ANNOTATION, ObjectView, PendingMarker
from siptrunk_operator.reasons import ConditionType, EventReason, Reason
from siptrunk_operator.settings import OperatorSettings

Claims = Callable[[str], Sequence[ObjectRef]]
"""Every SipTrunk object that claims a trunk name."""


@dataclass(frozen=True)
class Context:
    settings: OperatorSettings
    claims: Claims
    now: str
    """Wall-clock time, RFC 3339 (stamped into the pending marker)."""
    resync_due: bool = False
    retry_in: float | None = None
    """Seconds until a failed pass is retried at its own pace; meanwhile only health is mirrored."""
    grant: Grant | None = None
    """What the tenancy policy allows this object's namespace; None: single-tenant, everything."""
    credentials_problem: str | None = None
    """Why the object's credentialsSecretRef cannot be used (missing Secret, key, bad JSON)."""


def next_step(view: ObjectView, facts: Facts, ctx: Context) -> Step:
    if view.deleting:
        return _delete_step(view, facts, ctx)
    if view.spec is None:
        return _invalid(view, str(view.spec_error), ctx)
    refused = _refused(view, ctx)
    if refused is not None:
        return refused
    if facts.kube_failure is not None:
        return _failed(view, facts.kube_failure, flip_ready=False, observed=facts.observed)
    if facts.failure is not None:
        return _api_failure_step(view, facts, ctx)
    try:
        name = view.claimed_name
        adopted = view.spec.adopted_name()
    except ValueError as err:
        return _invalid(view, str(err), ctx)
    if view.identity_problem:
        return _invalid(view, view.identity_problem, ctx)
    if ctx.retry_in is not None:
        return _mirror_only(view, name, facts, ctx.retry_in)
    if adopted and name != adopted and not view.observe_only:
        return _invalid(view, f"spec.resourceID names {adopted} but this object owns {name}; "
                              "create a new SipTrunk to manage another trunk.", ctx)
    if name and (facts.created is None or facts.created.name == view.identity):
        return _existing_step(view, name, facts, ctx)
    if view.observe_only:
        return _invalid(view, "ObserveOnly needs spec.resourceID to name the trunk to observe.", ctx)
    return _create_step(view, facts, ctx, replacing=name)  # `name` is set when re-creating a missing trunk


# -- failures --------------------------------------------------------------------------------------


def _failed(view: ObjectView, verdict: Verdict, *, flip_ready: bool = True, observed: Observation | None = None,
            extra: Sequence[ConditionUpdate] = ()) -> Step:
    """A pass that ends in a failure: Synced=False (Ready too when it says the trunk is not as spec),
    a Warning Event when the reason is new, and a retry at the verdict's pace."""
    conditions = [*extra, synced_failed(verdict.reason, verdict.message)]
    if flip_ready:
        conditions.append(ready_false(verdict.reason, verdict.message))
    new = view.condition_reason(ConditionType.SYNCED) != verdict.reason or (
        flip_ready and view.condition_reason(ConditionType.READY) != verdict.reason)
    events = (Event(verdict.reason, verdict.message, warning=True),) if new else ()
    mirror = observed if observed is not None and observed.trunk is not None else None
    return Step(result=Result(conditions=tuple(conditions), events=events, mirror=mirror,
                              retry_after=verdict.retry_after))


def policy_problem(view: ObjectView, grant: Grant | None) -> str | None:
    """Why the tenancy policy forbids this object any API call (the spec's parent and any recorded
    trunk's parent alike), or None. The loop asks it too: a refused object is given no identity."""
    spec = view.spec
    if spec is None:
        return None
    parents = parents_of(spec.project_id, spec.location, (view.identity, view.status.get("name")))
    return forbidden(view.namespace, grant, parents, own_credentials=spec.credentials_secret_ref is not None)


def _refused(view: ObjectView, ctx: Context) -> Step | None:
    """Outside the tenancy policy, or without usable credentials: no API call at all."""
    problem = policy_problem(view, ctx.grant)
    if problem is not None:
        return _failed(view, Verdict(Reason.FORBIDDEN, problem, ctx.settings.permission_retry_seconds),
                       flip_ready=not view.deleting)
    if ctx.credentials_problem is not None:
        return _failed(view, Verdict(Reason.CREDENTIALS_UNAVAILABLE, ctx.credentials_problem,
                                     ctx.settings.permission_retry_seconds), flip_ready=not view.deleting)
    return None


def _invalid(view: ObjectView, message: str, ctx: Context) -> Step:
    return _failed(view, Verdict(Reason.INVALID_SPEC, message, ctx.settings.invalid_spec_retry_seconds))


def _api_failure_step(view: ObjectView, facts: Facts, ctx: Context) -> Step:
    err = facts.failure
    assert err is not None
    action = failed_action(err)
    if view.pending is not None and facts.created is None and (
            (action == "create" and nothing_created(err)) or (action == "list" and facts.own_marker)):
        # The create certainly did not happen (or was never sent): a marker left behind would make
        # a later pass adopt a matching trunk someone else made.
        return Step(ClearMarker())
    verdict = classify(err, settings=ctx.settings)
    if action == "create" and view.pending is not None and facts.created is None:
        # It may still commit: nothing is decided (and no listing made) before it settles.
        wait = create_settles_in(view.pending.started, ctx.now, ctx.settings)
        return _failed(view, replace(verdict, retry_after=max(wait, 1.0)), flip_ready=False,
                       extra=(_pending_condition(view.pending, ctx),))
    return _failed(view, verdict, flip_ready=flips_ready(err), observed=facts.observed)


def retrying(view: ObjectView, err: ApiError, delay: float, settings: OperatorSettings) -> Result:
    """What status says while a call is still being retried by the client: Synced=False with the
    error class at the first retry, not only once the call gives up."""
    verdict = classify(err, settings=settings)
    message = f"{verdict.message} (retrying in {delay:.0f} s)"
    new = view.condition_reason(ConditionType.SYNCED) != verdict.reason
    events = (Event(verdict.reason, message, warning=True),) if new else ()
    return Result(conditions=(synced_failed(verdict.reason, message),), events=events)


# -- an object that names its trunk ------------------------------------------------------------------


def observe_mode(view: ObjectView, ctx: Context) -> ObserveMode:
    """Settled objects read the shared listing only; anything still to apply (or due for a resync,
    when a stale listing must not be trusted) may GET its trunk."""
    if ctx.resync_due or not settled(view):
        return ObserveMode.CACHE_FIRST
    return ObserveMode.CACHE_ONLY


def settled(view: ObjectView) -> bool:
    """The current generation was applied and the trunk recorded: the listing takes it from here."""
    return view.identity is not None and view.pending is None \
        and is_settled(view.condition(ConditionType.READY), view.generation)


def _existing_step(view: ObjectView, name: str, facts: Facts, ctx: Context) -> Step:
    spec = view.spec
    assert spec is not None
    owner = None if view.observe_only else conflict_owner(view.ref, ctx.claims(name))
    if owner is not None:
        where = f"SipTrunk {owner}" if owner.namespace == view.namespace else "a SipTrunk in another namespace"
        message = f"Trunk {name} is owned by {where}; this object never writes to it."
        return _failed(view, Verdict(Reason.CONFLICT, message, ctx.settings.permission_retry_seconds))
    if facts.unobservable is not None:
        return _unobservable(facts.unobservable.problem)
    if facts.observed is None or facts.observed.name != name:
        return Step(Observe(name, observe_mode(view, ctx)))
    observed = facts.observed
    if observed.trunk is None:
        return _missing_step(view, name, facts, ctx)
    manage = not view.observe_only
    if manage and (view.identity != name or view.pending is not None):
        adopted = view.identity is None and spec.resource_id is not None
        events = (Event(EventReason.ADOPTED, f"Adopted existing trunk {name}"),) if adopted else ()
        return Step(RecordIdentity(name), events=events)
    if manage and not view.has_finalizer:
        return Step(EnsureFinalizer())
    mask = update_mask(spec, observed.trunk) if manage else ()
    if mask and facts.patched is None:
        drift = settled(view)
        if drift and not ctx.resync_due:
            message = (f"{', '.join(mask)} of {name} differ from spec in the API; the next resync reverts them.")
            return Step(result=Result(conditions=(ready_false(Reason.DRIFTED, message), synced_ok()),
                                      mirror=observed))
        fields = ", ".join(mask)
        event = Event(EventReason.DRIFT_REVERTED, f"Reverted out-of-band changes to {fields} of {name}",
                      warning=True) if drift else Event(EventReason.UPDATED, f"Updated {fields} of trunk {name}")
        return Step(PatchTrunk(patch_body(spec, name, mask), mask), events=(event,))
    round_trip = not observed.from_cache
    return Step(result=Result(
        conditions=(ready_true(name, observe_only=view.observe_only), synced_ok()),
        mirror=observed, record_name=name, round_trip=round_trip, resynced=ctx.resync_due or round_trip,
    ))


def _mirror_only(view: ObjectView, name: str | None, facts: Facts, retry_in: float) -> Step:
    """A failure is retried at its own pace: until then a listing change only refreshes health."""
    waiting = Result(write_status=False, retry_after=retry_in)
    if not name:
        return Step(result=waiting)
    if facts.observed is None and facts.unobservable is None:
        return Step(Observe(name, ObserveMode.CACHE_ONLY))
    if facts.observed is None or facts.observed.trunk is None:
        return Step(result=waiting)
    return Step(result=Result(mirror=facts.observed, retry_after=retry_in))


def _unobservable(problem: str | None) -> Step:
    if problem is None:  # the first listing is on its way; it wakes this object
        return Step(result=Result(write_status=False))
    return Step(result=Result(
        conditions=(synced_failed(Reason.LIST_FAILED, problem), *health.unknown_health(Reason.LIST_FAILED, problem)),
        clear_mirror=True,
    ))


def _missing_step(view: ObjectView, name: str, facts: Facts, ctx: Context) -> Step:
    spec = view.spec
    assert spec is not None
    if view.policy.recreate_if_missing:
        # Through recovery, so a re-create interrupted earlier is found instead of repeated.
        return _create_step(view, facts, ctx, replacing=name)
    message = (f"Trunk {name} does not exist in the API (deleted outside Kubernetes?). It is not "
               "re-created; set spec.recreateIfMissing: true to re-create it, or delete this object.")
    new = view.condition_reason(ConditionType.READY) != Reason.NOT_FOUND_IN_API
    return Step(result=Result(
        conditions=(ready_false(Reason.NOT_FOUND_IN_API, message), synced_ok(),
                    *health.unknown_health(Reason.NOT_FOUND_IN_API, f"Trunk {name} does not exist.")),
        events=(Event(Reason.NOT_FOUND_IN_API, message, warning=True),) if new else (),
        clear_mirror=True, round_trip=True,
    ))


# -- create, with crash-safe recovery ------------------------------------------------------------------


@dataclass(frozen=True)
class _ClaimedElsewhere:
    """Trunk names another SipTrunk claims, asked only for the few trunks that match (a listing
    holds up to thousands: checking every one for every create would be quadratic)."""

    view: ObjectView
    claims: Claims

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any((c.namespace, c.name) != (self.view.namespace, self.view.name)
                                             for c in self.claims(name))


def _recover(view: ObjectView, facts: Facts, ctx: Context, *, sent: str | None, exclude: str | None) -> Recovery:
    assert view.spec is not None
    return recover_create(view.spec, facts.listing or (), _ClaimedElsewhere(view, ctx.claims), sent=sent,
                          exclude=exclude)


def _pending_condition(marker: PendingMarker, ctx: Context) -> ConditionUpdate:
    settles = create_settles_at(marker.started, ctx.settings) or "its deadline"
    return ready_false(Reason.CREATE_PENDING,
                       f"A create started at {marker.started} may still complete in the API; at {settles} (its "
                       "deadline plus a margin) the operator lists the trunks and adopts what it made, or creates "
                       "it again.")


def _creating(view: ObjectView) -> bool:
    """Status already says, for this generation, that the trunk is being created."""
    ready = view.condition(ConditionType.READY)
    return ready is not None and ready.reason == Reason.CREATING and ready.observed_generation == view.generation


def _create_step(view: ObjectView, facts: Facts, ctx: Context, *, replacing: str | None = None) -> Step:
    """Progress (confirmed), a listing, then the marker (confirmed) and the create, or adopt.

    The listing comes before the marker, so a marker only ever stands for a create about to be
    sent: whatever matches it later was made by that create (or by a person racing it; then the
    object says so). A marker from an earlier attempt means a create may be in flight: nothing is
    decided until its hard deadline plus a margin has passed; then a listing tells whether it
    committed (adopt) or not (a new marker, and a create within that marker's own deadline)."""
    spec = view.spec
    assert spec is not None
    if facts.created is not None:
        created = str(facts.created.name)
        event = Event(EventReason.RECREATED, f"Trunk {replacing} was deleted outside Kubernetes; re-created it as "
                                             f"{created} (a new name)", warning=True) if replacing \
            else Event(EventReason.CREATED, f"Created trunk {created}")
        return Step(RecordIdentity(created), events=(event,))
    marker = view.pending
    earlier = marker is not None and not facts.own_marker
    if earlier and marker is not None:
        wait = create_settles_in(marker.started, ctx.now, ctx.settings)
        if wait > 0:
            return Step(result=Result(conditions=(_pending_condition(marker, ctx),), retry_after=wait))
    elif not _creating(view):
        message = f"Creating the trunk in {spec.parent}."
        return Step(ReportProgress((ready_false(Reason.CREATING, message),)))
    if facts.listing is None:
        return Step(ListParent(spec.project_id, spec.location))
    sent = marker.fingerprint if earlier and marker is not None else None
    recovery = _recover(view, facts, ctx, sent=sent, exclude=replacing)
    if recovery.adopt and earlier:
        return Step(RecordIdentity(recovery.adopt), events=(Event(
            EventReason.RECOVERED, f"An interrupted create had made trunk {recovery.adopt}; adopted it "
                                   "instead of creating a duplicate"),))
    if recovery.create:
        sending = fingerprint(spec.expected_hostname, spec.display_name)
        if marker is None or earlier or marker.fingerprint != sending:
            # A create is only sent within its own marker's deadline, and the marker names what is sent.
            return Step(WriteMarker(str(PendingMarker(ctx.now, sending))))
        return Step(CreateTrunk(spec.project_id, spec.location, spec.desired_trunk()))
    if earlier and marker is not None and recovery.ambiguous:
        message = ambiguous_message(spec, recovery.ambiguous, marker.started, deleting=False)
        return _failed(view, Verdict(Reason.CREATE_OUTCOME_UNKNOWN, message, ctx.settings.refresh_slow_seconds))
    if marker is not None:
        return Step(ClearMarker())  # this pass's marker, for a spec edited meanwhile: nothing was sent
    found = (recovery.adopt,) if recovery.adopt else recovery.ambiguous
    message = existing_message(spec, found)
    return _failed(view, Verdict(Reason.EXISTING_TRUNK_FOUND, message, ctx.settings.invalid_spec_retry_seconds))


# -- delete ---------------------------------------------------------------------------------------------


def _abandon_reason(view: ObjectView, name: str | None, ctx: Context) -> str | None:
    what = f"trunk {name}" if name else "any trunk"
    if view.spec is None:
        return f"The spec cannot be read ({view.spec_error}): {what} is left in the API; delete it there if unwanted."
    if view.identity_problem:
        return f"{view.identity_problem} Nothing is deleted in the API."
    if view.policy.observe_only:
        return f"ObserveOnly: {what} is left in the API."
    if view.policy.abandon:
        return f"deletionPolicy Abandon: {what} is left in the API."
    if name and conflict_owner(view.ref, ctx.claims(name)) is not None:
        return f"Trunk {name} belongs to another SipTrunk; it is left in the API."
    return None


def _delete_step(view: ObjectView, facts: Facts, ctx: Context) -> Step:
    """Delete the trunk (and any trunk an interrupted create made) unless a policy says abandon; the
    finalizer goes only once the API confirms."""
    if facts.released or not view.has_finalizer:
        return Step(result=Result(write_status=False))
    if facts.kube_failure is not None:
        return _failed(view, facts.kube_failure, flip_ready=False)
    if facts.failure is not None:
        return _failed(view, classify(facts.failure, settings=ctx.settings), flip_ready=False)
    try:
        name = view.claimed_name
    except ValueError:
        name = view.recorded_name
    reason = _abandon_reason(view, name, ctx)
    refused = _refused(view, ctx) if reason is None else None
    if refused is not None:
        return refused  # the finalizer stays: nothing is lost; a policy fix or Abandon releases it
    if reason is None and facts.uninstalling is None:
        return Step(CheckUninstall())
    if reason is None and facts.uninstalling:
        reason = f"The SipTrunk CRD is being deleted (uninstall): {f'trunk {name}' if name else 'any trunk'} " \
                 "is left in the API."
    if reason is not None:
        return Step(ReleaseFinalizer(), events=(Event(EventReason.ABANDONED, reason, warning=view.spec is None),))
    targets = [name] if name else []
    if facts.created is not None and facts.created.name not in targets:
        targets.append(str(facts.created.name))  # deleted while this pass was creating
    marker = view.pending
    if marker is not None and view.spec is not None and view.spec.resource_id is None and not facts.own_marker:
        # A create of an earlier attempt may be in flight (this pass's own is known: facts.created).
        # A resourceID set by a person says which trunk is this object's: no recovery then.
        wait = create_settles_in(marker.started, ctx.now, ctx.settings)
        if wait > 0:
            return Step(result=Result(conditions=(_pending_condition(marker, ctx),), retry_after=wait))
        if facts.listing is None:
            return Step(ListParent(view.spec.project_id, view.spec.location))
        recovery = _recover(view, facts, ctx, sent=marker.fingerprint, exclude=name)
        if recovery.ambiguous:
            message = ambiguous_message(view.spec, recovery.ambiguous, marker.started, deleting=True)
            return _failed(view, Verdict(Reason.CREATE_OUTCOME_UNKNOWN, message, ctx.settings.refresh_slow_seconds),
                           flip_ready=False)
        targets += [recovery.adopt] if recovery.adopt else []
    remaining = [t for t in targets if t not in facts.deleted_names]
    if remaining:
        return Step(DeleteTrunk(remaining[0]))
    events = tuple(Event(EventReason.DELETED, f"Deleted trunk {n}" if existed else
                         f"Trunk {n} was already gone from the API") for n, existed in facts.deleted)
    if not targets:
        events = (Event(EventReason.DELETED, "No trunk was recorded for this object; nothing to delete in the API."),)
    return Step(ReleaseFinalizer(), events=events)


__all__ = ["TRUNK_NAME_ANNOTATION", "Claims", "Context", "next_step", "observe_mode", "policy_problem", "retrying",
           "settled"]
