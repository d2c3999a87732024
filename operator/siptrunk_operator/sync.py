"""Carries out one reconcile of one SipTrunk: reads, asks `reconcile` what to do, writes.

The kopf handlers build a `TrunkObject`, call `Syncer.converge` or `Syncer.delete`, and turn the
returned `Outcome` into a status patch and Events. Every decision is a call into `reconcile`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from siptrunk_operator import health, reconcile
from siptrunk_operator.api import (
    ApiError,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RateLimited,
    SipTrunksClient,
    Unauthenticated,
    Unavailable,
)
from siptrunk_operator.errors_policy import Verdict, classify
from siptrunk_operator.kube import CREATE_PENDING_ANNOTATION, KUBE_ERRORS, TRUNK_NAME_ANNOTATION, KubeWriter
from siptrunk_operator.models import SipTrunk
from siptrunk_operator.reconcile import ConditionUpdate, ObjectRef
from siptrunk_operator.refresher import TrunkRefresher
from siptrunk_operator.settings import OperatorSettings
from siptrunk_operator.spec import SipTrunkSpec

Claims = Callable[[str], Sequence[ObjectRef]]
"""Every SipTrunk object that claims a trunk name (from the kopf index)."""


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class TrunkObject:
    """What a handler knows of one SipTrunk object."""

    namespace: str
    name: str
    uid: str
    created: str
    generation: int
    spec: SipTrunkSpec
    annotations: Mapping[str, str]
    status: Mapping[str, Any]
    deleting: bool = False

    @property
    def recorded_name(self) -> str | None:
        """The trunk this object created or adopted; the annotation survives a lost status."""
        return self.annotations.get(TRUNK_NAME_ANNOTATION) or self.status.get("name") or None

    @property
    def claimed_name(self) -> str | None:
        """The trunk this object owns: the recorded annotation is authoritative (a resourceID added
        later cannot redirect a delete), then spec.resourceID, then status."""
        if self.spec.observe_only:  # a reader follows its resourceID; it owns nothing
            return self.spec.adopted_name() or self.recorded_name
        return self.annotations.get(TRUNK_NAME_ANNOTATION) or self.spec.adopted_name() or self.recorded_name

    @property
    def create_pending(self) -> bool:
        return CREATE_PENDING_ANNOTATION in self.annotations

    @property
    def pending_fingerprint(self) -> str | None:
        """What the interrupted create sent (hostnames + display name), recorded in the marker."""
        value = self.annotations.get(CREATE_PENDING_ANNOTATION, "")
        return value.partition(" ")[2] or None

    @property
    def ref(self) -> ObjectRef:
        established = self.annotations.get(TRUNK_NAME_ANNOTATION) == self.claimed_name
        return ObjectRef(0 if established else 1, self.created, self.namespace, self.name)

    @property
    def ready_reason(self) -> str | None:
        return self.condition_reason(reconcile.READY)

    def condition(self, kind: str) -> Mapping[str, Any] | None:
        return next((c for c in self.status.get("conditions") or [] if c.get("type") == kind), None)

    def condition_reason(self, kind: str) -> str | None:
        found = self.condition(kind)
        return None if found is None else str(found.get("reason"))


@dataclass(frozen=True)
class Event:
    reason: str
    message: str
    warning: bool = False


@dataclass
class Outcome:
    """The result of one reconcile: what to write into status and which Events to post."""

    trunk: SipTrunk | None = None
    conditions: list[ConditionUpdate] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    retry: Verdict | None = None
    record_name: str | None = None
    trunk_missing: bool = False
    """The recorded trunk is gone: its mirrored fields are cleared and health becomes Unknown."""

    def say(self, reason: str, message: str, *, warning: bool = False) -> None:
        self.events.append(Event(reason, message, warning))

    def fail(self, verdict: Verdict, *, ready: bool | None = False) -> Outcome:
        self.conditions.append(reconcile.synced_failed(verdict.reason, verdict.message))
        if ready is False:
            self.conditions.append(reconcile.ready_false(verdict.reason, verdict.message))
        self.say(verdict.reason, verdict.message, warning=True)
        self.retry = verdict
        return self


class _Step:
    """The API method being called, so an error names the right permission."""

    def __init__(self) -> None:
        self.action = "get"


_NOTHING_CREATED = (InvalidArgument, FailedPrecondition, PermissionDenied, Unauthenticated, NotFound, Conflict,
                    RateLimited, Unavailable)
"""Errors after which a create certainly did not happen, so the pending marker can go."""


class Syncer:
    def __init__(self, client: SipTrunksClient, kube: KubeWriter, refresher: TrunkRefresher,
                 settings: OperatorSettings) -> None:
        self.client, self.kube, self.refresher, self.settings = client, kube, refresher, settings

    def _invalid(self, outcome: Outcome, message: str) -> Outcome:
        return outcome.fail(Verdict("InvalidSpec", message, self.settings.invalid_spec_retry_seconds))

    # -- converge ------------------------------------------------------------------------------

    async def converge(self, obj: TrunkObject, claims: Claims, *, drift_check: bool = False) -> Outcome:
        """Bring the trunk to spec (or, ObserveOnly, just read it). Never raises ApiError."""
        outcome = Outcome()
        step = _Step()
        try:
            name = obj.claimed_name
            adopted = obj.spec.adopted_name()
            if adopted and name != adopted and not obj.spec.observe_only:
                return self._invalid(outcome, f"spec.resourceID names {adopted} but this object owns {name}; "
                                              "create a new SipTrunk to manage another trunk.")
            if name:
                others = [c for c in claims(name) if (c.namespace, c.name) != (obj.namespace, obj.name)]
                owner = None if obj.spec.observe_only else reconcile.conflict_owner(obj.ref, others)
                if owner is not None:
                    message = f"Trunk {name} is owned by SipTrunk {owner}; this object never writes to it."
                    outcome.conditions.append(reconcile.ready_false("Conflict", message))
                    # Retried slowly: the conflict ends when the owner is deleted or lets go.
                    return outcome.fail(Verdict("Conflict", message, self.settings.permission_retry_seconds))
                await self._converge_existing(obj, name, claims, outcome, step, drift_check=drift_check)
            elif obj.spec.observe_only:
                return self._invalid(outcome, "ObserveOnly needs spec.resourceID to name the trunk to observe.")
            else:
                await self._create_or_recover(obj, claims, outcome, step)
        except ValueError as err:  # a resourceID the API could never accept
            return self._invalid(outcome, str(err))
        except KUBE_ERRORS as err:
            return outcome.fail(self._kube_verdict(err), ready=None)
        except ApiError as err:
            verdict = classify(err, action=step.action, settings=self.settings)
            # Ready reports what is known: a failed create or a rejected patch means "not as spec";
            # a failed read leaves the previous Ready in place (Synced=False says why).
            return outcome.fail(verdict, ready=False if step.action in ("create", "list", "update")
                                or verdict.reason == "InvalidSpec" else None)
        if outcome.retry is None:
            outcome.conditions.append(reconcile.synced_ok())
        return outcome

    async def _converge_existing(self, obj: TrunkObject, name: str, claims: Claims, outcome: Outcome,
                                 step: _Step, *, drift_check: bool) -> None:
        step.action = "get"
        try:
            trunk = await self.client.get(name)
        except NotFound:
            await self._missing(obj, name, claims, outcome, step)
            return
        outcome.trunk = trunk  # observed, even if a later step fails: health stays current
        if not obj.spec.observe_only and (obj.annotations.get(TRUNK_NAME_ANNOTATION) != name
                                          or obj.create_pending):
            await self.kube.annotate(obj.namespace, obj.name,
                                     {TRUNK_NAME_ANNOTATION: name, CREATE_PENDING_ANNOTATION: None})
            outcome.record_name = name
            if obj.spec.resource_id:
                outcome.say("Adopted", f"Adopted existing trunk {name}")
        mask = [] if obj.spec.observe_only else reconcile.update_mask(obj.spec, trunk)
        if mask:
            step.action = "update"
            trunk = await self.client.patch(reconcile.patch_body(obj.spec, name, mask), mask)
            if drift_check:
                outcome.say("DriftReverted", f"Reverted out-of-band changes to {', '.join(mask)} of {name}",
                            warning=True)
            else:
                outcome.say("Updated", f"Updated {', '.join(mask)} of trunk {name}")
        self.refresher.record(trunk)
        self.refresher.watch(name)
        outcome.trunk = trunk
        outcome.conditions.append(reconcile.ready_in_sync(trunk, observe_only=obj.spec.observe_only))

    async def _missing(self, obj: TrunkObject, name: str, claims: Claims, outcome: Outcome, step: _Step) -> None:
        self.refresher.forget(name)
        outcome.trunk_missing = True
        outcome.conditions += health.unknown_health("NotFoundInAPI", f"Trunk {name} does not exist.")
        if obj.spec.recreate_if_missing and not obj.spec.observe_only and not obj.spec.resource_id:
            # Through recovery, so a re-create interrupted earlier is found instead of repeated.
            await self._create_or_recover(obj, claims, outcome, step, replacing=name)
            return
        message = (f"Trunk {name} does not exist in the API (deleted outside Kubernetes?). It is not "
                   "re-created; set spec.recreateIfMissing: true to re-create it, or delete this object.")
        outcome.conditions.append(reconcile.ready_false("NotFoundInAPI", message))
        if obj.ready_reason != "NotFoundInAPI":
            outcome.say("NotFoundInAPI", message, warning=True)

    async def _unowned_matches(self, obj: TrunkObject, claims: Claims, step: _Step,
                               exclude: str | None = None) -> tuple[list[SipTrunk], set[str]]:
        step.action = "list"
        listed = [t async for t in self.client.list_trunks(obj.spec.project_id, obj.spec.location)
                  if t.name != exclude]
        owned_elsewhere = {
            t.name for t in listed
            if t.name and any((c.namespace, c.name) != (obj.namespace, obj.name) for c in claims(t.name))
        }
        return listed, owned_elsewhere

    async def _create_or_recover(self, obj: TrunkObject, claims: Claims, outcome: Outcome, step: _Step,
                                 *, replacing: str | None = None) -> None:
        listed, owned_elsewhere = await self._unowned_matches(obj, claims, step, exclude=replacing)
        recovery = reconcile.recover_create(obj.spec, listed, owned_elsewhere,
                                            sent=obj.pending_fingerprint if obj.create_pending else None)
        if recovery.ambiguous:
            stuck = "CreateOutcomeUnknown" if obj.create_pending else "ExistingTrunkFound"
            message = (reconcile.ambiguous_message(obj.spec, recovery.ambiguous) if obj.create_pending
                       else reconcile.existing_message(obj.spec, recovery.ambiguous))
            outcome.conditions.append(reconcile.ready_false(stuck, message))
            outcome.fail(Verdict(stuck, message, self.settings.invalid_spec_retry_seconds))
            return
        if recovery.adopt and obj.create_pending:
            await self.kube.annotate(obj.namespace, obj.name, {
                TRUNK_NAME_ANNOTATION: recovery.adopt, CREATE_PENDING_ANNOTATION: None})
            outcome.record_name = recovery.adopt
            outcome.say("Recovered", f"An interrupted create had made trunk {recovery.adopt}; adopted it "
                                     "instead of creating a duplicate")
            await self._converge_existing(obj, recovery.adopt, claims, outcome, step, drift_check=False)
            return
        if recovery.adopt:
            # Not ours: a trunk with these hostnames already exists. Taking it silently could later
            # delete something this object never made; ask for an explicit resourceID instead.
            message = reconcile.existing_message(obj.spec, [recovery.adopt])
            outcome.conditions.append(reconcile.ready_false("ExistingTrunkFound", message))
            outcome.fail(Verdict("ExistingTrunkFound", message, self.settings.invalid_spec_retry_seconds))
            return
        trunk = await self._create(obj, outcome, step)
        if replacing:
            outcome.say("Recreated", f"Trunk {replacing} was deleted outside Kubernetes; re-created it as "
                                     f"{trunk.name} (a new name)", warning=True)
        else:
            outcome.say("Created", f"Created trunk {trunk.name}")

    async def _create(self, obj: TrunkObject, outcome: Outcome, step: _Step) -> SipTrunk:
        """Marker first (confirmed by the API server), then create, then the name; see recover_create."""
        marker = f"{utc_now()} {reconcile.fingerprint(obj.spec.expected_hostname, obj.spec.display_name)}"
        await self.kube.annotate(obj.namespace, obj.name, {CREATE_PENDING_ANNOTATION: marker})
        step.action = "create"
        try:
            trunk = await self.client.create(obj.spec.project_id, obj.spec.location,
                                             obj.spec.desired_trunk())
        except _NOTHING_CREATED:
            await self.kube.annotate(obj.namespace, obj.name, {CREATE_PENDING_ANNOTATION: None})
            raise
        # Any other failure (OutcomeUnknown, 5xx, network) keeps the marker: the next attempt lists.
        assert trunk.name
        await self.kube.annotate(obj.namespace, obj.name, {
            TRUNK_NAME_ANNOTATION: trunk.name, CREATE_PENDING_ANNOTATION: None})
        outcome.record_name = trunk.name
        self.refresher.record(trunk)
        self.refresher.watch(trunk.name)
        outcome.trunk = trunk
        outcome.conditions.append(reconcile.ready_in_sync(trunk))
        return trunk

    # -- delete --------------------------------------------------------------------------------

    async def delete(self, obj: TrunkObject, claims: Claims) -> Outcome:
        """Delete the trunk (and any trunk an interrupted create made) unless a policy says abandon;
        sets `retry` when the finalizer must stay."""
        outcome = Outcome()
        step = _Step()
        try:
            name = obj.claimed_name
        except ValueError:
            name = obj.recorded_name
        try:
            abandon_reason = await self._abandon_reason(obj, name, claims)
            if abandon_reason:
                outcome.say("Abandoned", abandon_reason)
                return outcome
            targets = [name] if name else []
            if obj.create_pending:
                found = await self._interrupted_create_for_delete(obj, claims, outcome, step, exclude=name)
                if outcome.retry is not None:
                    return outcome
                targets += [found] if found else []
            if not targets:
                outcome.say("Deleted", "No trunk was recorded for this object; nothing to delete in the API.")
            for target in targets:
                step.action = "delete"
                try:
                    await self.client.delete(target)
                except NotFound:
                    outcome.say("Deleted", f"Trunk {target} was already gone from the API")
                else:
                    outcome.say("Deleted", f"Deleted trunk {target}")
                self.refresher.forget(target)
        except KUBE_ERRORS as err:
            return outcome.fail(self._kube_verdict(err), ready=None)
        except ApiError as err:
            return outcome.fail(classify(err, action=step.action, settings=self.settings), ready=None)
        return outcome

    def _kube_verdict(self, err: Exception) -> Verdict:
        status = getattr(err, "status", None)
        detail = f"HTTP {status}" if status else type(err).__name__
        return Verdict("KubernetesAPIError", f"Writing to the Kubernetes API failed ({detail}); retrying.",
                       self.settings.error_retry_seconds)

    async def _interrupted_create_for_delete(self, obj: TrunkObject, claims: Claims, outcome: Outcome,
                                             step: _Step, *, exclude: str | None) -> str | None:
        """The trunk an interrupted create may have made, so deleting the object does not orphan it."""
        listed, owned_elsewhere = await self._unowned_matches(obj, claims, step, exclude=exclude)
        recovery = reconcile.recover_create(obj.spec, listed, owned_elsewhere, sent=obj.pending_fingerprint)
        if recovery.ambiguous:
            message = reconcile.ambiguous_message(obj.spec, recovery.ambiguous)
            outcome.fail(Verdict("CreateOutcomeUnknown", message, self.settings.invalid_spec_retry_seconds),
                         ready=None)
        return recovery.adopt

    async def _abandon_reason(self, obj: TrunkObject, name: str | None, claims: Claims) -> str | None:
        """Why nothing may be deleted in the API; checked before any API call."""
        what = f"trunk {name}" if name else "any trunk"
        if obj.spec.observe_only:
            return f"ObserveOnly: {what} is left in the API."
        if obj.spec.deletion_policy.value == "Abandon":
            return f"deletionPolicy Abandon: {what} is left in the API."
        if name and reconcile.conflict_owner(
            obj.ref, [c for c in claims(name) if (c.namespace, c.name) != (obj.namespace, obj.name)]
        ) is not None:
            return f"Trunk {name} belongs to another SipTrunk; it is left in the API."
        if await self.kube.crd_is_being_deleted():
            return f"The SipTrunk CRD is being deleted (uninstall): {what} is left in the API."
        return None
