"""kopf wiring only: build a TrunkObject, call the Syncer, write its Outcome as status + Events.

One lock per object serialises the change handlers and the status timer, so their status writes
(merge patches that replace the conditions list) never undo each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict
from typing import Any, cast

import kopf
from pydantic import ValidationError

from siptrunk_operator import health, reconcile
from siptrunk_operator.api import ClientSettings, SipTrunksClient
from siptrunk_operator.kube import CRD_NAME, RESYNC_ANNOTATION, KubeWriter
from siptrunk_operator.reconcile import ObjectRef
from siptrunk_operator.refresher import TrunkRefresher
from siptrunk_operator.settings import ANNOTATION_PREFIX, FINALIZER, OperatorSettings
from siptrunk_operator.spec import GROUP, PLURAL, VERSION, SipTrunkSpec
from siptrunk_operator.sync import Claims, Outcome, Syncer, TrunkObject, utc_now

SETTINGS = OperatorSettings.from_env()
RESOURCE = (GROUP, VERSION, PLURAL)
_LOG = logging.getLogger(__name__)


def _start_refresher(memo: Any) -> None:
    """Run the list refresher; if it ever dies, log why and start it again."""
    task = asyncio.create_task(memo.syncer.refresher.run(), name="trunk-refresher")

    def restart(done: asyncio.Task[None]) -> None:
        if done.cancelled() or memo.stopping:
            return
        _LOG.error("the trunk refresher stopped (%r); restarting it in 5 s", done.exception())
        asyncio.get_running_loop().call_later(5, _start_refresher, memo)

    task.add_done_callback(restart)
    memo.refresher_task = task


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # Events are posted explicitly, not from log lines
    settings.posting.default_backoffs = (1, 2, 4)  # best effort: a terminating namespace refuses them
    client = SipTrunksClient(ClientSettings.from_env())
    refresher = TrunkRefresher(
        client, fast_seconds=SETTINGS.refresh_fast_seconds, slow_seconds=SETTINGS.refresh_slow_seconds
    )
    memo.syncer = Syncer(client, KubeWriter(), refresher, SETTINGS)
    memo.last_sync = {}  # uid -> monotonic time of the last full reconcile (resync clock)
    memo.handled_at = {}  # uid -> monotonic time status was last written (handlers and timer)
    memo.retry_at = {}  # uid -> monotonic time a stalled or failed reconcile is tried again by the timer
    memo.locks = defaultdict(asyncio.Lock)
    memo.stopping = False
    _start_refresher(memo)


@kopf.on.cleanup()
async def stop(memo: Any, **_: Any) -> None:
    memo.stopping = True
    task: asyncio.Task[None] | None = getattr(memo, "refresher_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    syncer: Syncer | None = getattr(memo, "syncer", None)
    if syncer is not None:
        await syncer.client.aclose()


def _object(body: kopf.Body | dict[str, Any]) -> TrunkObject:
    meta = body.get("metadata", {})
    try:
        spec = SipTrunkSpec.from_body(body.get("spec", {}))
    except ValidationError as err:
        raise kopf.PermanentError(f"spec is invalid: {err.errors()[0]['msg']}") from None
    return TrunkObject(
        namespace=meta.get("namespace", ""), name=meta.get("name", ""), uid=meta.get("uid", ""),
        created=meta.get("creationTimestamp", ""), generation=int(meta.get("generation", 0)),
        spec=spec, annotations=dict(meta.get("annotations") or {}), status=dict(body.get("status") or {}),
        deleting=bool(meta.get("deletionTimestamp")),
    )


async def _reread(syncer: Syncer, obj: TrunkObject) -> TrunkObject | None:
    """The object as stored now (None once gone): whoever waited for the lock must not act on the
    snapshot its event carried."""
    fresh = await syncer.kube.read(obj.namespace, obj.name)
    return None if fresh is None else _object(fresh)


def _claims(index: kopf.Index[str, ObjectRef]) -> Claims:
    return lambda name: list(index.get(name, []))


@kopf.index(*RESOURCE)
def trunk_claims(body: kopf.Body, **_: Any) -> dict[str, ObjectRef] | None:
    """trunk name -> the SipTrunk objects owning it (resourceID, annotation or status).
    ObserveOnly objects only read, so they own nothing and never conflict."""
    try:
        obj = _object(body)
        name = obj.claimed_name
    except (kopf.PermanentError, ValueError):
        return None
    return {name: obj.ref} if name and not obj.spec.observe_only else None


def _write(outcome: Outcome, obj: TrunkObject, body: kopf.Body, patch: kopf.Patch, *, generation: int,
           memo: Any, raise_retry: bool = False, paces: bool = True) -> None:
    """Status patch + Events for an Outcome, and when to try again.

    `generation` is the one this outcome reflects: the object's for a change handler, the last
    handled one for the timer (which must not claim to have processed a newer spec). A retry is
    paced by the status timer (`memo.retry_at`), not by a kopf TemporaryError: kopf does not wake a
    sleeping handler on a spec change, so a long back-off would delay the user's fix. Only short,
    transient retries (and deletions, which must keep their finalizer) are left to kopf.
    """
    memo.handled_at[obj.uid] = time.monotonic()
    stalled = outcome.retry is not None and outcome.retry.reason in reconcile.STALLED_REASONS
    if not paces:
        pass  # a mirror-only write: a pending retry keeps its time
    elif outcome.retry is not None and stalled and not raise_retry:
        memo.retry_at[obj.uid] = time.monotonic() + outcome.retry.retry_after
    else:
        memo.retry_at.pop(obj.uid, None)
    now = utc_now()
    updates = list(outcome.conditions)
    if outcome.trunk is not None:
        patch.status.update(health.observed_status(outcome.trunk))
        updates += health.health_conditions(outcome.trunk)
        _post_transitions(obj, outcome.trunk, body)
    elif outcome.trunk_missing:
        patch.status.update(health.CLEARED_WHEN_MISSING)
    if outcome.record_name:
        patch.status["name"] = outcome.record_name
    if outcome.retry is None and outcome.trunk is not None:
        patch.status["lastSyncTime"] = now
    patch.status["observedGeneration"] = generation
    merged = reconcile.merge_conditions(obj.status.get("conditions"), updates, generation=generation, now=now)
    patch.status["conditions"] = reconcile.merge_conditions(
        merged, reconcile.progress_conditions(merged), generation=generation, now=now
    )
    for event in outcome.events:
        kopf.event(body, type="Warning" if event.warning else "Normal", reason=event.reason,
                   message=event.message)
    if outcome.retry is not None and (raise_retry or not stalled):
        raise kopf.TemporaryError(outcome.retry.message, delay=outcome.retry.retry_after)


def _post_transitions(obj: TrunkObject, trunk: Any, body: kopf.Body) -> None:
    current = health.observed_status(trunk)["connections"]
    for healthy, message in health.connection_transitions(obj.status.get("connections"), current):
        kopf.event(body, type="Normal" if healthy else "Warning",
                   reason="ConnectionHealthy" if healthy else "ConnectionUnhealthy", message=message)


def _settled(obj: TrunkObject) -> bool:
    """The current generation was applied and the last round trip succeeded: the list refresher
    takes it from here (a restart then costs no API call for this object)."""
    return bool(obj.recorded_name) and not obj.create_pending \
        and reconcile.is_settled(obj.condition(reconcile.READY), obj.generation) and obj.ready_reason != "Drifted" \
        and obj.condition_reason(reconcile.SYNCED) in (None, "Synced", "ListFailed")


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE)
async def sync_trunk(body: kopf.Body, patch: kopf.Patch, memo: Any, reason: str, **kwargs: Any) -> None:
    obj = _object(body)
    syncer: Syncer = memo.syncer
    if reason == kopf.Reason.RESUME and _settled(obj):
        syncer.refresher.watch(str(obj.recorded_name))  # no API call on restart for settled objects
        return
    async with memo.locks[obj.uid]:
        current = await _reread(syncer, obj)
        if current is None or current.deleting:
            return  # the delete handler takes it from here
        obj = current
        outcome = await syncer.converge(obj, _claims(kwargs["trunk_claims"]))
        memo.last_sync[obj.uid] = time.monotonic()
        _write(outcome, obj, body, patch, generation=obj.generation, memo=memo)


def _resync_due(obj: TrunkObject, memo: Any) -> bool:
    interval = reconcile.resync_interval(
        obj.uid, obj.annotations.get(RESYNC_ANNOTATION), SETTINGS.resync_seconds,
        (SETTINGS.min_resync_seconds, SETTINGS.max_resync_seconds),
    )
    last: float | None = memo.last_sync.get(obj.uid)
    if last is None:
        memo.last_sync[obj.uid] = last = time.monotonic()
    return time.monotonic() - last >= interval


@kopf.timer(*RESOURCE, interval=SETTINGS.status_tick_seconds,
            initial_delay=lambda **_: random.uniform(0, SETTINGS.status_tick_seconds))
async def refresh_status(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
    """Mirror the listed trunk into status; at resync time, correct drift. No API call of its own
    unless the trunk vanished from the listing, drifted, or the listing keeps failing."""
    obj = _object(body)
    lock: asyncio.Lock = memo.locks[obj.uid]
    # A handler running, or a write moments ago (its patch may not be in `body` yet), wins.
    recent = time.monotonic() - memo.handled_at.get(obj.uid, -1e9) < max(3.0, 2 * SETTINGS.status_tick_seconds)
    if obj.deleting or lock.locked() or recent:
        return
    claims = _claims(kwargs["trunk_claims"])
    retry_at = memo.retry_at.get(obj.uid)
    async with lock:
        if retry_at is not None and time.monotonic() >= retry_at:  # stalled: tried again at its pace
            await _full_sync(obj, body, patch, memo, claims, int(obj.status.get("observedGeneration") or 0))
            return
        try:
            name = obj.claimed_name
            if name:
                await _refresh_one(obj, name, body, patch, memo, claims, mirror_only=retry_at is not None)
        except ValueError:  # a malformed recorded name: sync_trunk reports it as InvalidSpec
            return


async def _refresh_one(obj: TrunkObject, name: str, body: kopf.Body, patch: kopf.Patch, memo: Any,
                       claims: Claims, *, mirror_only: bool = False) -> None:
    """`mirror_only` while a paced retry is pending: keep connection health current, touch nothing else."""
    syncer: Syncer = memo.syncer
    generation = int(obj.status.get("observedGeneration") or 0)
    syncer.refresher.watch(name)
    due = _resync_due(obj, memo)
    problem = syncer.refresher.listing_problem(name, max_age=3 * SETTINGS.refresh_slow_seconds)
    observation = syncer.refresher.observed(name)
    if mirror_only:
        trunk = observation.trunk if observation is not None and problem is None else None
        if trunk is not None and health.mirror_differs(trunk, obj.status):
            _write(Outcome(trunk=trunk), obj, body, patch, generation=generation, memo=memo, paces=False)
        return
    if problem is not None or observation is None:
        if due:  # fall back to a direct read at resync time rather than trust a stale cache
            await _full_sync(obj, body, patch, memo, claims, generation)
        elif problem is not None and obj.condition_reason(reconcile.SYNCED) != "ListFailed":
            _write(Outcome(trunk_missing=True, conditions=[reconcile.synced_failed("ListFailed", problem),
                                                           *health.unknown_health("ListFailed", problem)]),
                   obj, body, patch, generation=generation, memo=memo, paces=False)
        return
    trunk = observation.trunk
    settled = reconcile.is_settled(obj.condition(reconcile.READY), obj.generation)
    drift = reconcile.update_mask(obj.spec, trunk) if trunk is not None and settled and not obj.spec.observe_only \
        else []
    drifted = bool(drift)
    vanished = trunk is None and obj.ready_reason != "NotFoundInAPI"
    reappeared = trunk is not None and obj.ready_reason == "NotFoundInAPI"
    # A failed round trip or an unapplied generation is retried at resync even after a restart.
    unfinished = due and not _settled(obj) and obj.ready_reason != "NotFoundInAPI"
    if vanished or reappeared or unfinished or (due and (drifted or trunk is None)):
        await _full_sync(obj, body, patch, memo, claims, generation, drift_check=True)
        return
    if due:
        memo.last_sync[obj.uid] = time.monotonic()
    if trunk is None:
        return
    ready: list[reconcile.ConditionUpdate] = []
    if drifted and obj.ready_reason != "Drifted":
        fields = ", ".join(drift)
        ready = [reconcile.ready_false("Drifted", f"{fields} of {name} differ from spec in the API; "
                                                  "the next resync reverts them.")]
    elif settled and not drifted and obj.ready_reason == "Drifted":
        ready = [reconcile.ready_in_sync(trunk)]
    if obj.condition_reason(reconcile.SYNCED) == "ListFailed":
        ready.append(reconcile.synced_ok())
    if ready or health.mirror_differs(trunk, obj.status):
        _write(Outcome(trunk=trunk, conditions=ready), obj, body, patch, generation=generation, memo=memo,
               paces=False)


async def _full_sync(obj: TrunkObject, body: kopf.Body, patch: kopf.Patch, memo: Any, claims: Claims,
                     generation: int, *, drift_check: bool = False) -> None:
    """A reconcile started by the timer, on a fresh read of the object. It never raises: failures
    are paced by `memo.retry_at`, so the timer keeps mirroring connection state meanwhile."""
    current = await _reread(memo.syncer, obj)
    if current is None or current.deleting:
        return
    obj = current
    outcome = await memo.syncer.converge(obj, claims, drift_check=drift_check)
    if outcome.retry is None:
        memo.last_sync[obj.uid] = time.monotonic()
    with contextlib.suppress(kopf.TemporaryError):
        _write(outcome, obj, body, patch, generation=generation, memo=memo)
    if outcome.retry is not None:
        memo.retry_at[obj.uid] = time.monotonic() + outcome.retry.retry_after


@kopf.on.delete(*RESOURCE)
async def delete_trunk(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
    """Delete through the API; the finalizer goes only once the API confirms the trunk is gone."""
    obj = _object(body)
    syncer: Syncer = memo.syncer
    async with memo.locks[obj.uid]:
        current = await _reread(syncer, obj)
        if current is None:
            _forget(memo, obj.uid)
            return
        obj = current
        outcome = await syncer.delete(obj, _claims(kwargs["trunk_claims"]))
    memo.last_sync.pop(obj.uid, None)
    try:
        _write(outcome, obj, body, patch, generation=obj.generation, memo=memo, raise_retry=True)
    finally:
        if outcome.retry is None:
            _forget(memo, obj.uid)


def _forget(memo: Any, uid: str) -> None:
    for table in (memo.locks, memo.handled_at, memo.retry_at, memo.last_sync):
        table.pop(uid, None)


@kopf.on.event("apiextensions.k8s.io", "v1", "customresourcedefinitions",
               when=lambda name, **_: name == CRD_NAME)
async def abandon_on_uninstall(body: kopf.Body, memo: Any, logger: kopf.Logger, **_: Any) -> None:
    """Deleting the CRD deletes every SipTrunk; that must never delete trunks in the API."""
    if not body.get("metadata", {}).get("deletionTimestamp"):
        return
    syncer: Syncer = memo.syncer
    for _attempt in range(30):
        released, contended = await syncer.kube.release_all(FINALIZER)
        for item in released:
            trunk = (item.get("status") or {}).get("name") or "no trunk"
            message = f"The SipTrunk CRD is being deleted (uninstall): {trunk} is left in the API."
            kopf.event(kopf.Body(cast(kopf.RawBody, item)), type="Normal", reason="Abandoned", message=message)
            logger.info("released %s/%s on uninstall; %s stays in the API",
                        item["metadata"]["namespace"], item["metadata"]["name"], trunk)
        if not contended:
            return
        await asyncio.sleep(1)
