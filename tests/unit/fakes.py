"""In-memory stand-ins for the engine's seams: the API (TrunkExternal) and the Kubernetes writes.

They implement the Protocols exactly (mypy checks it, no `type: ignore`), so a test of the loop
runs the real planner against behaviour a real server would show: masks honoured on patch,
resourceVersion conflicts, finalizers, merge-patched status.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from siptrunk_operator.api import ApiError, NotFound, RetryHook
from siptrunk_operator.engine.engine import EngineKube
from siptrunk_operator.engine.loop import EventSink, KubeWrites
from siptrunk_operator.external import TrunkClient, TrunkExternal
from siptrunk_operator.kubeapi import KubeError, StaleObjectError
from siptrunk_operator.models import Connection, SipHostname, SipTrunk
from siptrunk_operator.plan.actions import Event, Observation, ObserveMode, Unobservable
from siptrunk_operator.plan.identity import Listing
from siptrunk_operator.plan.view import ObjectView
from siptrunk_operator.spec import GROUP, VERSION

PARENT = "projects/p/locations/global"
OBSERVED_AT = "2026-12-01T10:00:00.000000Z"


def trunk(name: str = f"{PARENT}/sipTrunks/t1", hosts: Sequence[str] = ("a.example.com",),
          display: str | None = "A", connections: Sequence[tuple[str, str]] = ()) -> SipTrunk:
    return SipTrunk(name=name, expected_hostname=list(hosts), display_name=display,
                    connections=[Connection(connection_id=c, state=s) for c, s in connections] or None)


@dataclass
class FakeExternal:
    """The API plus its shared listing. `listed` is what the cache holds (None: never listed);
    `fail` maps an action to the error its next call raises."""

    trunks: dict[str, SipTrunk] = field(default_factory=dict)
    listed: dict[str, SipTrunk] | None = None
    listing_problem: str | None = None
    fail: dict[str, ApiError] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    watched: set[str] = field(default_factory=set)
    next_id: int = 1
    observed_at: str = OBSERVED_AT
    on_list: list[Any] = field(default_factory=list)
    """Callables run (one per listing) while a listing is in flight."""
    hide_from_list: set[str] = field(default_factory=set)
    """Trunks a listing does not show yet (an eventually consistent list)."""
    retried: dict[str, ApiError] = field(default_factory=dict)
    """Maps an action to an error its next call meets once and retries past (reported via on_retry)."""
    deadlines: list[float] = field(default_factory=list)
    """The hard deadline each create was given."""

    def _check(self, action: str, detail: Any) -> None:
        self.calls.append((action, detail))
        error = self.fail.pop(action, None)
        if error is not None:
            error.action = action
            raise error

    def cache(self, trunk: SipTrunk, *, also_in_api: bool = False) -> None:
        """The shared listing now holds `trunk` (and, with `also_in_api`, so does the API)."""
        self.listed = {**(self.listed or {}), str(trunk.name): trunk}
        if also_in_api:
            self.trunks[str(trunk.name)] = trunk

    def api_calls(self, action: str | None = None) -> list[tuple[str, Any]]:
        return [c for c in self.calls if action is None or c[0] == action]

    async def observe(self, name: str, mode: ObserveMode) -> Observation | Unobservable:
        if self.listed is not None and self.listing_problem is None and name in self.listed:
            return Observation(name, self.listed[name], self.observed_at, from_cache=True)
        if mode is ObserveMode.CACHE_ONLY and (self.listed is None or self.listing_problem is not None):
            return Unobservable(self.listing_problem)
        self._check("get", name)
        return Observation(name, self.trunks.get(name), self.observed_at)

    async def list_parent(self, project: str, location: str, *, started_after: float) -> tuple[SipTrunk, ...]:
        self._check("list", f"projects/{project}/locations/{location}")
        if self.on_list:
            self.on_list.pop(0)()
        self.listed = {n: t for n, t in self.trunks.items() if n not in self.hide_from_list}
        return Listing(self.listed.values())  # indexed, as the shared listing returns it

    async def _retries(self, action: str, on_retry: RetryHook | None) -> None:
        """A call the client retries once (through `on_retry`) before its outcome."""
        error = self.retried.pop(action, None)
        if error is not None and on_retry is not None:
            error.action = action
            self.calls.append((action, "retried"))
            await on_retry(error, 2.0)

    async def create(self, project: str, location: str, trunk: SipTrunk, *, deadline: float,
                     on_retry: RetryHook | None = None) -> SipTrunk:
        self.deadlines.append(deadline)
        await self._retries("create", on_retry)
        self._check("create", trunk)
        name = f"projects/{project}/locations/{location}/sipTrunks/t{self.next_id}"
        self.next_id += 1
        created = trunk.model_copy(update={"name": name})
        self.trunks[name] = created
        if self.listed is not None:
            self.listed[name] = created
        return created

    async def update(self, trunk: SipTrunk, mask: Sequence[str], *, on_retry: RetryHook | None = None) -> SipTrunk:
        await self._retries("update", on_retry)
        self._check("update", (trunk.name, tuple(mask)))
        name = str(trunk.name)
        if name not in self.trunks:
            raise NotFound(name)
        fields = {"displayName": "display_name", "expectedHostname": "expected_hostname",
                  "peerHostnames": "peer_hostnames", "googleRootCertFile": "google_root_cert_file"}
        patched = self.trunks[name].model_copy(update={fields[m]: getattr(trunk, fields[m]) for m in mask})
        self.trunks[name] = patched
        if self.listed is not None:
            self.listed[name] = patched  # write-through, as the shared listing does
        return patched

    async def delete(self, name: str, *, on_retry: RetryHook | None = None) -> bool:
        await self._retries("delete", on_retry)
        self._check("delete", name)
        return self.trunks.pop(name, None) is not None

    def watch(self, name: str) -> None:
        self.watched.add(name)

    def forget(self, name: str) -> None:
        self.watched.discard(name)


def sip_hostname(host: str) -> SipHostname:
    return SipHostname(peer_hostname=host)


@dataclass
class FakeKube:
    """One namespace of SipTrunk objects with the API server's optimistic concurrency."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    writes: list[tuple[str, str, Any]] = field(default_factory=list)
    uninstalling: bool = False
    vanish_on_read: bool = False
    """The object is deleted (by someone else) just before the next read."""
    fail_next: KubeError | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)
    closed: bool = False
    lose_next_answer: bool = False
    """The next write lands but its answer is lost; the client's retry then meets a 409."""
    before_write: list[Any] = field(default_factory=list)
    """Callables run one per write, just before that write is checked: a concurrent editor."""
    secrets: dict[str, tuple[str, Mapping[str, str]]] = field(default_factory=dict)
    """Secret name -> (resourceVersion, base64 data)."""
    secret_reads: list[str] = field(default_factory=list)
    secret_error: KubeError | None = None
    _rv: itertools.count[int] = field(default_factory=lambda: itertools.count(100))

    def add(self, name: str, spec: Mapping[str, Any], *, annotations: Mapping[str, str] | None = None,
            status: Mapping[str, Any] | None = None, finalizers: Sequence[str] = (), generation: int = 1,
            deleting: bool = False, created: str = "2026-12-01T09:00:00Z") -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": generation,
                                "creationTimestamp": created, "resourceVersion": str(next(self._rv)),
                                "annotations": dict(annotations or {}), "finalizers": list(finalizers)}
        if deleting:
            meta["deletionTimestamp"] = "2026-12-01T11:00:00Z"
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "SipTrunk", "metadata": meta, "spec": dict(spec),
                "status": dict(status or {})}
        self.objects[name] = body
        return copy.deepcopy(body)

    def body(self, name: str) -> dict[str, Any]:
        return copy.deepcopy(self.objects[name])

    def view(self, name: str) -> ObjectView:
        return ObjectView.from_body(self.objects[name])

    def edit_spec(self, name: str, **changes: Any) -> None:
        """A person's edit: spec changes, generation and resourceVersion move."""
        body = self.objects[name]
        body["spec"].update(changes)
        body["metadata"]["generation"] += 1
        body["metadata"]["resourceVersion"] = str(next(self._rv))

    def _guard(self, name: str, resource_version: str, kind: str, detail: Any) -> dict[str, Any]:
        if self.before_write:
            self.before_write.pop(0)()
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        body = self.objects.get(name)
        if body is None:
            raise KubeError("not found", 404)
        if body["metadata"]["resourceVersion"] != resource_version:
            raise StaleObjectError(name)
        self.writes.append((kind, name, copy.deepcopy(detail)))
        body["metadata"]["resourceVersion"] = str(next(self._rv))
        return body

    async def read_secret(self, namespace: str, name: str) -> tuple[str, Mapping[str, str]] | None:
        self.secret_reads.append(name)
        if self.secret_error is not None:
            raise self.secret_error
        return self.secrets.get(name)

    async def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        if self.vanish_on_read:
            self.objects.pop(name, None)
        return self.body(name) if name in self.objects else None

    async def patch_metadata(self, namespace: str, name: str, resource_version: str, *,
                             annotations: Mapping[str, str | None] | None = None,
                             finalizers: list[str] | None = None) -> dict[str, Any]:
        body = self._guard(name, resource_version, "metadata", {"annotations": annotations, "finalizers": finalizers})
        meta = body["metadata"]
        for key, value in (annotations or {}).items():
            if value is None:
                meta["annotations"].pop(key, None)
            else:
                meta["annotations"][key] = value
        if finalizers is not None:
            meta["finalizers"] = list(finalizers)
            if meta.get("deletionTimestamp") and not finalizers:
                del self.objects[name]
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise StaleObjectError(name)
        return copy.deepcopy(body)

    async def patch_status(self, namespace: str, name: str, resource_version: str,
                           status: Mapping[str, Any]) -> dict[str, Any]:
        body = self._guard(name, resource_version, "status", status)
        for key, value in status.items():
            if value is None:
                body["status"].pop(key, None)
            else:
                body["status"][key] = copy.deepcopy(value)
        return copy.deepcopy(body)

    async def crd_is_being_deleted(self) -> bool:
        return self.uninstalling

    async def post_event(self, involved: Mapping[str, Any], *, type: str, reason: str, message: str) -> None:
        self.events.append((str(involved["metadata"]["name"]), type, reason))

    async def release_all(self, finalizer: str) -> tuple[list[dict[str, Any]], int]:
        released = []
        for body in list(self.objects.values()):
            if finalizer in body["metadata"]["finalizers"]:
                body["metadata"]["finalizers"].remove(finalizer)
                released.append(copy.deepcopy(body))
        return released, 0

    async def aclose(self) -> None:
        self.closed = True

    def metadata_writes(self) -> list[Any]:
        return [w for w in self.writes if w[0] == "metadata"]

    def status_writes(self) -> list[Any]:
        return [w for w in self.writes if w[0] == "status"]


@dataclass
class RecordingEvents:
    posted: list[tuple[str, Event]] = field(default_factory=list)

    def post(self, view: ObjectView, event: Event) -> None:
        self.posted.append((view.name, event))

    def reasons(self) -> list[str]:
        return [str(e.reason) for _, e in self.posted]


def _conforms(external: FakeExternal, kube: FakeKube, events: RecordingEvents, client: FakeClient) -> tuple[
        TrunkExternal, KubeWrites, EventSink, TrunkClient, EngineKube]:
    """mypy proves the fakes implement the Protocols."""
    return external, kube, events, client, kube


@dataclass
class FakeClient:
    """The REST client behind the seam (TrunkClient): an in-memory API."""

    trunks: dict[str, SipTrunk] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    next_id: int = 1

    async def get(self, name: str) -> SipTrunk:
        self.calls.append("get")
        if name not in self.trunks:
            raise NotFound(name)
        return self.trunks[name]

    async def create(self, project: str, location: str, trunk: SipTrunk, *, deadline: float | None = None,
                     on_retry: RetryHook | None = None) -> SipTrunk:
        self.calls.append("create")
        name = f"projects/{project}/locations/{location}/sipTrunks/t{self.next_id}"
        self.next_id += 1
        self.trunks[name] = trunk.model_copy(update={"name": name})
        return self.trunks[name]

    async def patch(self, trunk: SipTrunk, update_mask: Sequence[str], *,
                    on_retry: RetryHook | None = None) -> SipTrunk:
        self.calls.append("patch")
        return self.trunks[str(trunk.name)]

    async def delete(self, name: str, *, on_retry: RetryHook | None = None) -> None:
        self.calls.append("delete")
        if self.trunks.pop(name, None) is None:
            raise NotFound(name)

    async def list_pages(self, project: str, location: str, page_size: int | None = None,
                         page_token: str | None = None, *,
                         decode: Callable[[Any], tuple[list[SipTrunk], str]] | None = None,
                         ) -> AsyncIterator[tuple[list[SipTrunk], str]]:
        self.calls.append("list")
        yield [t for n, t in self.trunks.items() if n.startswith(f"projects/{project}/locations/{location}/")], ""

    async def aclose(self) -> None:
        self.calls.append("close")

    def quota_backlog(self, project: str) -> int:
        return 0
