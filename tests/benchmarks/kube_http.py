"""Async Kubernetes access for the benchmarks: httpx with the kubeconfig's admin client certificate,
and a watch that keeps the latest copy of every SipTrunk in one namespace."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from siptrunk_operator.spec import GROUP, KIND, PLURAL, VERSION

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class KubeTLS:
    """The API server's URL and a TLS context authenticating with the kubeconfig's client certificate."""

    server: str
    context: ssl.SSLContext

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Path, directory: Path) -> KubeTLS:
        """Read the current context's cluster and user (inline `*-data` fields); PEM files go to `directory`."""
        config = yaml.safe_load(kubeconfig.read_text())
        context = _named(config["contexts"], config["current-context"])["context"]
        cluster = _named(config["clusters"], context["cluster"])["cluster"]
        user = _named(config["users"], context["user"])["user"]
        paths = {}
        for field in ("certificate-authority-data", "client-certificate-data", "client-key-data"):
            source = cluster if field.startswith("certificate-authority") else user
            paths[field] = directory / f"kube-{field.removesuffix('-data')}.pem"
            paths[field].write_bytes(base64.b64decode(source[field]))
            paths[field].chmod(0o600)
        tls = ssl.create_default_context(cafile=str(paths["certificate-authority-data"]))
        tls.load_cert_chain(paths["client-certificate-data"], paths["client-key-data"])
        return cls(str(cluster["server"]), tls)


def _named(items: list[JsonObject], name: str) -> JsonObject:
    return next(item for item in items if item["name"] == name)


def trunks_path(namespace: str, name: str | None = None, subresource: str | None = None) -> str:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
    return path + (f"/{name}" if name else "") + (f"/{subresource}" if subresource else "")


def trunk_object(name: str, project: str, hostname: str, display_name: str, **spec: Any) -> JsonObject:
    """A SipTrunk manifest with one hostname (the benchmarks' unit of work)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": name},
        "spec": {"projectID": project, "location": "global", "displayName": display_name,
                 "expectedHostname": [hostname], **spec},
    }


def ready_status(trunk_name: str, generation: int, message: str) -> JsonObject:
    """The smallest status that makes `kubectl wait --for=condition=Ready` succeed."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "name": trunk_name,
        "observedGeneration": generation,
        "conditions": [{"type": "Ready", "status": "True", "reason": "UpToDate", "message": message,
                        "lastTransitionTime": now, "observedGeneration": generation}],
    }


def is_ready(obj: JsonObject) -> bool:
    conditions = obj.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def create_trunks(kube: KubeHttp, namespace: str, project: str, count: int, concurrency: int, *,
                        prefix: str, domain: str) -> None:
    """Create `{prefix}00000`... with hostnames `{prefix}{i}.{domain}.example.com`, `concurrency` at a time."""
    slots = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        obj = trunk_object(f"{prefix}{index:05d}", project, f"{prefix}{index}.{domain}.example.com",
                           f"Bench trunk {prefix}{index}")
        async with slots:
            await kube.create_trunk(namespace, obj)

    await asyncio.gather(*(one(i) for i in range(count)))


async def warm_up(kube: KubeHttp, namespace: str, project: str, concurrency: int) -> None:
    """Create, status-patch and delete `concurrency` objects at once: a fresh API server's first
    custom-resource writes take seconds (and the connection pool fills), which no run should pay."""

    async def one(index: int) -> None:
        name = f"warm-up-{index}"
        await kube.create_trunk(namespace, trunk_object(name, project, f"w{index}.warm-up.example.com", name))
        await kube.patch_status(namespace, name, ready_status("warm-up", 1, "warm-up"))
        await kube.delete_trunk(namespace, name)

    await asyncio.gather(*(one(i) for i in range(concurrency)))


async def operator_ready(kube: KubeHttp, tag: str, within: float = 120.0) -> None:
    """Wait until the operator has handled (then released) an ObserveOnly canary in its own
    namespace and project: it is then listing and watching."""
    namespace, name = "bench-canary", f"canary-{tag}"
    await kube.create_namespace(namespace)
    canary = trunk_object(name, "bench-canary-project", "canary.example.com", "canary",
                          managementPolicy="ObserveOnly", resourceID=f"canary-{tag}")
    await kube.create_trunk(namespace, canary)
    deadline = time.monotonic() + within
    while not ((await kube.get_trunk(namespace, name)) or {}).get("status"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the operator did not handle the canary {namespace}/{name} in {within:.0f} s")
        await asyncio.sleep(0.5)
    await kube.delete_trunk(namespace, name)
    while await kube.get_trunk(namespace, name) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the operator did not release the canary {namespace}/{name} in {within:.0f} s")
        await asyncio.sleep(0.5)


class KubeError(RuntimeError):
    """The API server answered an error."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"kube-apiserver answered HTTP {status}: {text[:500]}")
        self.status = status


class KubeHttp:
    """The few API-server calls the benchmarks make; `connections` bounds the pool."""

    def __init__(self, tls: KubeTLS, *, connections: int = 32) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self._http = httpx.AsyncClient(base_url=tls.server, verify=tls.context, limits=limits,
                                       timeout=httpx.Timeout(60.0))

    async def call(self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None,
                   content_type: str = "application/json", ok: tuple[int, ...] = ()) -> JsonObject:
        content = None if body is None else json.dumps(body).encode()
        response = await self._http.request(method, path, content=content, params=params,
                                            headers={"Content-Type": content_type})
        if response.is_error and response.status_code not in ok:
            raise KubeError(response.status_code, response.text)
        result: JsonObject = response.json() if response.content else {}
        return result

    async def create_namespace(self, name: str) -> None:
        await self.call("POST", "/api/v1/namespaces", body={"metadata": {"name": name}}, ok=(409,))

    async def create_trunk(self, namespace: str, obj: JsonObject) -> JsonObject:
        return await self.call("POST", trunks_path(namespace), body=obj)

    async def patch_status(self, namespace: str, name: str, status: JsonObject) -> JsonObject:
        return await self.call("PATCH", trunks_path(namespace, name, "status"), body={"status": status},
                               content_type="application/merge-patch+json")

    async def get_trunk(self, namespace: str, name: str) -> JsonObject | None:
        obj = await self.call("GET", trunks_path(namespace, name), ok=(404,))
        return None if obj.get("kind") == "Status" else obj

    async def delete_trunk(self, namespace: str, name: str) -> None:
        await self.call("DELETE", trunks_path(namespace, name), ok=(404,))

    async def delete_all_trunks(self, namespace: str) -> None:
        await self.call("DELETE", trunks_path(namespace))

    async def list_all(self, path: str) -> tuple[list[JsonObject], str]:
        """Every item of a collection (pages of 500) and the list's resourceVersion."""
        items: list[JsonObject] = []
        params = {"limit": "500"}
        while True:
            page = await self.call("GET", path, params=params)
            items += page.get("items") or []
            token = page["metadata"].get("continue")
            if not token:
                return items, str(page["metadata"]["resourceVersion"])
            params = {"limit": "500", "continue": token}

    async def event_reasons(self, namespace: str) -> Counter[str]:
        """Events about SipTrunks in `namespace`, by reason (an Event's `count` is honoured)."""
        events, _ = await self.list_all(f"/api/v1/namespaces/{namespace}/events")
        reasons: Counter[str] = Counter()
        for event in events:
            if event.get("involvedObject", {}).get("kind") == KIND:
                reasons[str(event.get("reason"))] += int(event.get("count") or 1)
        return reasons

    async def settled_event_reasons(self, namespace: str, quiet: float = 6.0, within: float = 180.0) -> Counter[str]:
        """`event_reasons` once their total has not changed for `quiet` seconds (at most `within`):
        Events may be posted from a queue that drains after the work is done."""
        reasons, deadline = await self.event_reasons(namespace), time.monotonic() + within
        stable_since = time.monotonic()
        while time.monotonic() - stable_since < quiet and time.monotonic() < deadline:
            await asyncio.sleep(2.0)
            latest = await self.event_reasons(namespace)
            if latest.total() != reasons.total():
                reasons, stable_since = latest, time.monotonic()
        return reasons

    async def metrics_text(self) -> str:
        response = await self._http.get("/metrics")
        response.raise_for_status()
        return response.text

    def stream(self, path: str, params: dict[str, str]) -> contextlib.AbstractAsyncContextManager[httpx.Response]:
        return self._http.stream("GET", path, params=params, timeout=httpx.Timeout(60.0, read=None))

    async def aclose(self) -> None:
        await self._http.aclose()


class TrunkWatch:
    """The latest copy of every SipTrunk in one namespace, and when each first showed Ready=True.

    `wait_for(predicate)` is woken after every watch event.
    """

    def __init__(self, kube: KubeHttp, namespace: str) -> None:
        self.kube, self.namespace = kube, namespace
        self.objects: dict[str, JsonObject] = {}
        self.ready_at: dict[str, float] = {}
        """Object name -> `time.monotonic()` of the first event showing Ready=True."""
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> TrunkWatch:
        version = await self._relist()
        self._task = asyncio.create_task(self._run(version), name=f"watch-{self.namespace}")
        return self

    async def __aenter__(self) -> TrunkWatch:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_for(self, predicate: Callable[[], bool], within: float) -> bool:
        """True once `predicate()` holds, False after `within` seconds."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(predicate), within)
            except TimeoutError:
                return False
        return True

    async def wait_all_ready(self, count: int, within: float) -> bool:
        return await self.wait_for(lambda: len(self.ready_at) >= count, within)

    def last_ready(self) -> float:
        return max(self.ready_at.values())

    def _apply(self, obj: JsonObject, now: float) -> None:
        name = obj["metadata"]["name"]
        self.objects[name] = obj
        if name not in self.ready_at and is_ready(obj):
            self.ready_at[name] = now

    async def _relist(self) -> str:
        items, version = await self.kube.list_all(trunks_path(self.namespace))
        now = time.monotonic()
        self.objects.clear()
        for obj in items:
            self._apply(obj, now)
        await self._notify()
        return version

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _run(self, version: str) -> None:
        params = {"watch": "1", "allowWatchBookmarks": "true", "timeoutSeconds": "300"}
        while True:
            try:
                async with self.kube.stream(trunks_path(self.namespace),
                                            {**params, "resourceVersion": version}) as response:
                    if response.status_code != 200:
                        await response.aread()
                        await asyncio.sleep(0.5)
                        version = await self._relist()
                        continue
                    async for line in response.aiter_lines():
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        obj = event["object"]
                        if event["type"] == "ERROR":  # 410 Gone: the resourceVersion is too old
                            version = await self._relist()
                            break
                        version = obj["metadata"]["resourceVersion"]
                        if event["type"] == "DELETED":
                            self.objects.pop(obj["metadata"]["name"], None)
                        elif event["type"] != "BOOKMARK":
                            self._apply(obj, time.monotonic())
                        await self._notify()
            except httpx.TransportError:
                await asyncio.sleep(0.5)
