"""The operator's Kubernetes writes: guarded by resourceVersion, retried when transient, re-login on 401.
Against a small HTTP server on loopback (plain HTTP; the TLS context is kopf's)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import kopf
import pytest
from aiohttp import web

from siptrunk_operator import kubeapi
from siptrunk_operator.kubeapi import COMPONENT, KubeApi, KubeError, StaleObjectError

Handler = Callable[[web.Request], Awaitable[web.Response]]


def run(handler: Handler, call: Callable[[KubeApi], Awaitable[Any]], relogin: Any = None) -> Any:
    async def scenario() -> Any:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        api = KubeApi(kopf.ConnectionInfo(server=f"http://127.0.0.1:{port}", token="old-token"), ssl=False,
                      relogin=relogin)
        try:
            return await call(api)
        finally:
            await api.aclose()
            await runner.cleanup()

    return asyncio.run(scenario())


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubeapi, "_TRANSIENT_BACKOFFS", (0.0, 0.0, 0.0, 0.0))


def test_a_metadata_write_carries_the_resource_version_and_maps_409_to_stale() -> None:
    seen: list[Any] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.headers["content-type"], await request.json()))
        return web.json_response({"kind": "Status", "code": 409}, status=409)

    with pytest.raises(StaleObjectError):
        run(handler, lambda api: api.patch_metadata("ns", "a", "42", annotations={"x": None}, finalizers=["f"]))
    assert seen == [("application/merge-patch+json",
                     {"metadata": {"resourceVersion": "42", "annotations": {"x": None}, "finalizers": ["f"]}})]


def test_status_writes_go_to_the_subresource_with_the_resource_version() -> None:
    async def handler(request: web.Request) -> web.Response:
        assert request.path == "/apis/dialogflow.siptrunk.dev/v1beta1/namespaces/ns/siptrunks/a/status"
        body = await request.json()
        assert body["metadata"] == {"resourceVersion": "7"}
        return web.json_response({"metadata": {"resourceVersion": "8"}, "status": body["status"]})

    stored = run(handler, lambda api: api.patch_status("ns", "a", "7", {"observedGeneration": 2}))
    assert stored["status"] == {"observedGeneration": 2}


def test_transient_errors_are_retried_then_reported() -> None:
    calls: list[int] = []

    async def flaky(request: web.Request) -> web.Response:
        calls.append(1)
        return web.Response(status=503) if len(calls) < 3 else web.json_response({"ok": True})

    assert run(flaky, lambda api: api.read("ns", "a")) == {"ok": True}

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500)

    with pytest.raises(KubeError) as failed:
        run(broken, lambda api: api.read("ns", "a"))
    assert failed.value.status == 500

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404)

    assert run(missing, lambda api: api.read("ns", "a")) is None


def test_an_unreachable_server_is_a_kube_error() -> None:
    async def scenario() -> None:
        api = KubeApi(kopf.ConnectionInfo(server="http://127.0.0.1:9"), ssl=False)
        try:
            await api.read("ns", "a")
        finally:
            await api.aclose()

    with pytest.raises(KubeError, match="talking to the Kubernetes API"):
        asyncio.run(scenario())


def test_an_expired_token_is_renewed_once() -> None:
    tokens: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        tokens.append(request.headers["authorization"])
        if request.headers["authorization"] == "Bearer old-token":
            return web.Response(status=401)
        return web.json_response({"metadata": {}})

    renewed = kopf.ConnectionInfo(server="http://unused", token="new-token")
    assert run(handler, lambda api: api.read("ns", "a"), relogin=lambda: renewed) == {"metadata": {}}
    assert tokens == ["Bearer old-token", "Bearer new-token"]

    async def refused(request: web.Request) -> web.Response:
        return web.Response(status=401)

    with pytest.raises(KubeError):
        run(refused, lambda api: api.read("ns", "a"), relogin=lambda: renewed)


def test_events_name_the_operator_and_the_object() -> None:
    posted: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        assert request.path == "/api/v1/namespaces/ns/events"
        posted.append(await request.json())
        return web.json_response({}, status=201)

    involved = {"metadata": {"namespace": "ns", "name": "a", "uid": "u1"}}
    run(handler, lambda api: api.post_event(involved, type="Warning", reason="Conflict", message="x" * 5000))
    (event,) = posted
    assert event["source"] == {"component": COMPONENT} and event["reportingComponent"] == COMPONENT
    assert event["involvedObject"]["uid"] == "u1" and event["involvedObject"]["kind"] == "SipTrunk"
    assert (event["type"], event["reason"], len(event["message"])) == ("Warning", "Conflict", 1024)


def test_uninstall_releases_only_our_finalizer_and_counts_contention() -> None:
    items = [{"metadata": {"namespace": "ns", "name": n, "resourceVersion": "1", "finalizers": f}}
             for n, f in (("a", ["ours", "theirs"]), ("b", ["theirs"]), ("c", ["ours"]))]

    async def handler(request: web.Request) -> web.Response:
        if request.method == "GET":
            return web.json_response({"items": items})
        if request.path.endswith("/c"):
            return web.Response(status=409)
        assert json.loads(await request.text())["metadata"]["finalizers"] == ["theirs"]
        return web.json_response({})

    released, contended = run(handler, lambda api: api.release_all("ours"))
    assert [r["metadata"]["name"] for r in released] == ["a"] and contended == 1
