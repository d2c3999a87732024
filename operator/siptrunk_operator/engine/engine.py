"""Assembles the engine: watch events and listing changes feed one work queue; a fixed pool of
workers runs `Reconciler.reconcile`; the wake-up each pass asks for is the only timer."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from siptrunk_operator.engine.events import EventPoster, cancel_all
from siptrunk_operator.engine.identities import GOOGLE_TOKEN_URIS, Identities, Identity, SecretReader
from siptrunk_operator.engine.loop import KubeWrites, Reconciler
from siptrunk_operator.engine.queue import WorkQueue
from siptrunk_operator.engine.registry import Registry
from siptrunk_operator.external import ListedTrunks, TrunkClient
from siptrunk_operator.models import TrunkName
from siptrunk_operator.plan.actions import Event
from siptrunk_operator.plan.identity import ObjectRef
from siptrunk_operator.plan.tenancy import Grant, Tenancy
from siptrunk_operator.plan.view import ObjectView
from siptrunk_operator.reasons import EventReason
from siptrunk_operator.refresher import TrunkRefresher
from siptrunk_operator.settings import FINALIZER, OperatorSettings

_LOG = logging.getLogger(__name__)
ClaimsIndex = Mapping[str, Iterable[ObjectRef]]


class EngineKube(KubeWrites, SecretReader, Protocol):
    """Everything the engine asks of Kubernetes (KubeApi; fakes in tests)."""

    async def post_event(self, involved: Mapping[str, Any], *, type: str, reason: str, message: str) -> None: ...

    async def release_all(self, finalizer: str) -> tuple[list[dict[str, Any]], int]: ...

    async def aclose(self) -> None: ...


class Engine:
    """`client_for(credentials_json)` makes the client of a tenant's key (sharing the default
    client's rate limiter); without it, objects naming a credentialsSecretRef cannot be served."""

    def __init__(self, client: TrunkClient, kube: EngineKube, settings: OperatorSettings, *,
                 clock: Callable[[], float] = time.monotonic,
                 client_for: Callable[[str], TrunkClient] | None = None,
                 token_uris: frozenset[str] = GOOGLE_TOKEN_URIS) -> None:
        self.client, self.kube, self.settings, self._clock = client, kube, settings, clock
        self._client_for = client_for
        self.registry = Registry()
        self.queue: WorkQueue[str] = WorkQueue()
        self.identities = Identities(self._identity(client), kube, self._tenant_identity, token_uris=token_uris)
        self.refresher = self.identities.default.refresher
        self.events = EventPoster(kube.post_event)
        self._claims: ClaimsIndex = {}
        self.tenancy = Tenancy()
        self._tenancy_known = False
        self.namespace_labels: Mapping[str, Mapping[str, str]] = {}
        self.uninstalling = False
        self.reconciler = Reconciler(self.identities, kube, self.registry, self.events, settings, self.claims,
                                     clock=clock, grant_for=self.grant_for)
        self._tasks: list[asyncio.Task[None]] = []

    def _identity(self, client: TrunkClient) -> Identity:
        refresher = TrunkRefresher(client, fast_seconds=self.settings.refresh_fast_seconds,
                                   slow_seconds=self.settings.refresh_slow_seconds, on_change=self.trunks_changed)
        return Identity(client, refresher, ListedTrunks(client, refresher))

    def _tenant_identity(self, credentials: str) -> Identity:
        if self._client_for is None:
            raise RuntimeError("this engine serves only the operator's own identity")
        return self._identity(self._client_for(credentials))

    def grant_for(self, view: ObjectView) -> Grant | None:
        return self.tenancy.grant(view.namespace, self.namespace_labels.get(view.namespace, {}))

    @property
    def tenancy_known(self) -> bool:
        """`set_tenancy` has run once: objects are judged with the policy, never without it."""
        return self._tenancy_known

    def claims(self, name: str) -> Sequence[ObjectRef]:
        """The objects claiming trunk `name`, less those whose namespace the policy does not grant
        its parent: a tenant's object never wins (nor blocks) a trunk of another tenant's project."""
        refs = list(self._claims.get(name, ()))
        if self.tenancy.single_tenant:
            return refs
        try:
            trunk = TrunkName.parse(name)
        except ValueError:
            return refs
        return [ref for ref in refs if (grant := self.tenancy.grant(ref.namespace, self.namespace_labels.get(
            ref.namespace, {}))) is None or grant.allows(trunk.project, trunk.location)]

    def set_tenancy(self, tenancy: Tenancy, namespace_labels: Mapping[str, Mapping[str, str]]) -> None:
        """The admin policy or a namespace's labels changed: every object is judged again."""
        changed = tenancy != self.tenancy or not self._tenancy_known
        relabelled = namespace_labels != self.namespace_labels and not tenancy.single_tenant
        self.tenancy, self.namespace_labels, self._tenancy_known = tenancy, namespace_labels, True
        if changed and tenancy.single_tenant:
            _LOG.info("single-tenant: no SipTrunkTenancy exists, so every namespace may use every project "
                      "with the operator's identity")
        elif changed:
            _LOG.info("multi-tenant: %d SipTrunkTenancy policies decide which projects each namespace may use",
                      len(tenancy.rules))
        if changed or relabelled:
            for uid in self.registry.uids():
                self.queue.add(uid)

    def listing_ages(self) -> dict[tuple[str, str], float]:
        return self.identities.listing_ages()

    def health(self) -> dict[str, int]:
        """What the liveness probe reports; raises if a task that must run forever has ended."""
        ended = [task.get_name() for task in (*self._tasks, *self.identities.tasks()) if task.done()]
        if ended:
            raise RuntimeError(f"engine tasks ended: {', '.join(ended)}")
        return {"objects": len(self.registry), "queued": len(self.queue)}

    def start(self) -> None:
        self.events.start()
        self._tasks = [asyncio.create_task(self._work(), name=f"reconcile-{i}") for i in range(self.settings.workers)]
        self.identities.start(self._refreshing)

    def _refreshing(self, identity: Identity) -> asyncio.Task[None]:
        # A context of its own: one made in a pass would carry that pass's reconcile ID forever.
        return asyncio.create_task(self._refresh(identity.refresher), name="trunk-refresher",
                                   context=contextvars.Context())

    async def stop(self) -> None:
        await cancel_all([*self._tasks, *self.identities.tasks()])
        await self.events.flush()
        await self.events.stop()
        await self.identities.close()
        await self.kube.aclose()

    def observe(self, body: Mapping[str, Any], event_type: str | None, claims: ClaimsIndex) -> None:
        """A watch event: keep the newest body; queue the object if the change is worth a pass."""
        self._claims = claims
        uid = str((body.get("metadata") or {}).get("uid", ""))
        if event_type == "DELETED":
            self.forget(uid)
            return
        if self.registry.observe(body, now=self._clock()):
            self.queue.add(uid)

    def trunks_changed(self, names: Iterable[str]) -> None:
        """The shared listing saw these trunks change: only their objects run."""
        for uid in self.registry.following(names):
            self.queue.add(uid)

    def forget(self, uid: str) -> None:
        state = self.registry.forget(uid)
        self.queue.forget(uid)
        if state is not None and state.watched is not None and not self.registry.following([state.watched]) \
                and state.follower is not None:
            state.follower.forget(state.watched)

    async def uninstall(self) -> None:
        """The CRD is being deleted: release every object without touching the API (Event Abandoned).
        Workers stop first, so none puts a finalizer back."""
        self.uninstalling = True
        for _attempt in range(30):
            released, contended = await self.kube.release_all(FINALIZER)
            for item in released:
                view = ObjectView.from_body(item)
                trunk = view.recorded_name or "no trunk"
                self.events.post(view, Event(EventReason.ABANDONED, f"The SipTrunk CRD is being deleted "
                                                                    f"(uninstall): {trunk} is left in the API."))
                self.forget(view.uid)
            if not contended:
                return
            await asyncio.sleep(1)

    async def _work(self) -> None:
        while True:
            uid = await self.queue.get()
            try:
                await self._reconcile(uid)
            except Exception:  # a worker never dies: log, and try the object again later
                _LOG.exception("reconcile of %s failed", uid)
                self.queue.add_after(uid, self.settings.error_retry_seconds)
            finally:
                self.queue.done(uid)

    async def _reconcile(self, uid: str) -> None:
        if self.uninstalling:
            self.forget(uid)
            return
        wake = await self.reconciler.reconcile(uid)
        if wake is None:
            self.forget(uid)
        else:
            self.queue.add_after(uid, wake - self._clock())

    async def _refresh(self, refresher: TrunkRefresher) -> None:
        """A listing refresher; if it ever dies, log why and start it again."""
        while True:
            try:
                await refresher.run()
            except Exception:
                _LOG.exception("the trunk refresher stopped; restarting it in 5 s")
                await asyncio.sleep(5)

