"""kopf wiring only: build a TrunkObject, call the Syncer, write its Outcome as status + Events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
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


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # Events are posted explicitly, not from log lines
    client = SipTrunksClient(ClientSettings.from_env())
    refresher = TrunkRefresher(
        client, fast_seconds=SETTINGS.refresh_fast_seconds, slow_seconds=SETTINGS.refresh_slow_seconds
    )
    memo.syncer = Syncer(client, KubeWriter(), refresher, SETTINGS)
    memo.refresher_task = asyncio.create_task(refresher.run(), name="trunk-refresher")
    memo.last_sync = {}


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    task: asyncio.Task[None] | None = getattr(memo, "refresher_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    syncer: Syncer | None = getattr(memo, "syncer", None)
    if syncer is not None:
        await syncer.client.aclose()


def _object(body: kopf.Body) -> TrunkObject:
    meta = body.get("metadata", {})
    try:
        spec = SipTrunkSpec.from_body(body.get("spec", {}))
    except ValidationError as err:
        raise kopf.PermanentError(f"spec is invalid: {err.errors()[0]['msg']}") from None
    return TrunkObject(
        namespace=meta.get("namespace", ""), name=meta.get("name", ""), uid=meta.get("uid", ""),
        created=meta.get("creationTimestamp", ""), generation=int(meta.get("generation", 0)),
        spec=spec, annotations=dict(meta.get("annotations") or {}), status=dict(body.get("status") or {}),
    )


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


def _write(outcome: Outcome, obj: TrunkObject, body: kopf.Body, patch: kopf.Patch) -> None:
    """Status patch + Events for an Outcome; raises TemporaryError when it asks for a retry."""
    now = utc_now()
    updates = list(outcome.conditions)
    if outcome.trunk is not None:
        patch.status.update(health.observed_status(outcome.trunk))
        updates += health.health_conditions(outcome.trunk)
        _post_transitions(obj, outcome.trunk, body)
    if outcome.record_name:
        patch.status["name"] = outcome.record_name
    if outcome.retry is None and outcome.trunk is not None:
        patch.status["lastSyncTime"] = now
    patch.status["observedGeneration"] = obj.generation
    patch.status["conditions"] = reconcile.merge_conditions(
        obj.status.get("conditions"), updates, generation=obj.generation, now=now
    )
    for event in outcome.events:
        kopf.event(body, type="Warning" if event.warning else "Normal", reason=event.reason,
                   message=event.message)
    if outcome.retry is not None:
        raise kopf.TemporaryError(outcome.retry.message, delay=outcome.retry.retry_after)


def _post_transitions(obj: TrunkObject, trunk: Any, body: kopf.Body) -> None:
    current = health.observed_status(trunk)["connections"]
    for healthy, message in health.connection_transitions(obj.status.get("connections"), current):
        kopf.event(body, type="Normal" if healthy else "Warning",
                   reason="ConnectionHealthy" if healthy else "ConnectionUnhealthy", message=message)


def _settled(obj: TrunkObject) -> bool:
    """Nothing changed since the last successful sync: the list refresher takes it from here."""
    return bool(obj.recorded_name) and obj.status.get("observedGeneration") == obj.generation \
        and obj.ready_reason in ("UpToDate", "Observed") and not obj.create_pending


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE)
async def sync_trunk(body: kopf.Body, patch: kopf.Patch, memo: Any, reason: str, **kwargs: Any) -> None:
    obj = _object(body)
    syncer: Syncer = memo.syncer
    if reason == kopf.Reason.RESUME and _settled(obj):
        syncer.refresher.watch(str(obj.recorded_name))  # no API call on restart for settled objects
        return
    outcome = await syncer.converge(obj, _claims(kwargs["trunk_claims"]))
    memo.last_sync[obj.uid] = time.monotonic()
    _write(outcome, obj, body, patch)


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
    unless the trunk vanished from the listing or drifted."""
    obj = _object(body)
    if body.get("metadata", {}).get("deletionTimestamp") or not obj.status.get("name"):
        return
    syncer: Syncer = memo.syncer
    try:
        name = obj.claimed_name
    except ValueError:
        return
    if not name or obj.ready_reason in ("Conflict", "CreateOutcomeUnknown"):
        return
    syncer.refresher.watch(name)
    observation = syncer.refresher.observed(name)
    if observation is None:
        return
    due = _resync_due(obj, memo)
    trunk = observation.trunk
    drifted = trunk is not None and not obj.spec.observe_only and bool(reconcile.update_mask(obj.spec, trunk))
    needs_sync = (trunk is None and obj.ready_reason != "NotFoundInAPI") or (due and (drifted or trunk is None))
    if needs_sync:
        outcome = await syncer.converge(obj, _claims(kwargs["trunk_claims"]), drift_check=True)
        memo.last_sync[obj.uid] = time.monotonic()
        _write(outcome, obj, body, patch)
        return
    if due:
        memo.last_sync[obj.uid] = time.monotonic()
    if trunk is None:
        return
    ready: list[reconcile.ConditionUpdate] = []
    if drifted and obj.ready_reason != "Drifted":
        fields = ", ".join(reconcile.update_mask(obj.spec, trunk))
        ready = [reconcile.ready_false("Drifted", f"{fields} of {name} differ from spec in the API; "
                                                  "the next resync reverts them.")]
    elif not drifted and obj.ready_reason == "Drifted":
        ready = [reconcile.ready_in_sync(trunk)]
    if ready or health.mirror_differs(trunk, obj.status):
        _write(Outcome(trunk=trunk, conditions=ready), obj, body, patch)


@kopf.on.delete(*RESOURCE)
async def delete_trunk(body: kopf.Body, patch: kopf.Patch, memo: Any, **kwargs: Any) -> None:
    """Delete through the API; the finalizer goes only once the API confirms the trunk is gone."""
    obj = _object(body)
    syncer: Syncer = memo.syncer
    outcome = await syncer.delete(obj, _claims(kwargs["trunk_claims"]))
    memo.last_sync.pop(obj.uid, None)
    _write(outcome, obj, body, patch)


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
