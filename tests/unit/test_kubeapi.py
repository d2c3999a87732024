"""The operator's Kubernetes writes: guarded by resourceVersion, retried when transient, re-login on 401."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import kopf
import pytest

from siptrunk_operator.kubeapi import COMPONENT, KubeApi, KubeError, StaleObjectError


def api(handler: Any, relogin: Any = None) -> KubeApi:
    info = kopf.ConnectionInfo(server="https://k8s.test", token="old-token")
    return KubeApi(info, transport=httpx.MockTransport(handler), relogin=relogin)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_metadata_write_carries_the_resource_version_and_maps_409_to_stale() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        assert request.headers["content-type"] == "application/merge-patch+json"
        return httpx.Response(409, json={"kind": "Status", "code": 409})

    with pytest.raises(StaleObjectError):
        run(api(handler).patch_metadata("ns", "a", "42", annotations={"x": None}, finalizers=["f"]))
    assert seen == [{"metadata": {"resourceVersion": "42", "annotations": {"x": None}, "finalizers": ["f"]}}]


def test_status_writes_go_to_the_subresource_with_the_resource_version() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/apis/dialogflow.siptrunk.dev/v1beta1/namespaces/ns/siptrunks/a/status"
        body = json.loads(request.content)
        assert body["metadata"] == {"resourceVersion": "7"}
        return httpx.Response(200, json={"metadata": {"resourceVersion": "8"}, "status": body["status"]})

    stored = run(api(handler).patch_status("ns", "a", "7", {"observedGeneration": 2}))
    assert stored["status"] == {"observedGeneration": 2}


def test_transient_errors_are_retried_then_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    async def no_sleep(_: float) -> None:
        return None

    monkeypatch.setattr(asyncio, "sleep", no_sleep)

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503) if len(calls) < 3 else httpx.Response(200, json={"ok": True})

    assert run(api(flaky).read("ns", "a")) == {"ok": True}
    calls.clear()
    with pytest.raises(KubeError) as failed:
        run(api(lambda request: httpx.Response(500)).read("ns", "a"))
    assert failed.value.status == 500
    assert run(api(lambda request: httpx.Response(404)).read("ns", "a")) is None


def test_an_expired_token_is_renewed_once() -> None:
    tokens: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tokens.append(request.headers["authorization"])
        return httpx.Response(401) if request.headers["authorization"] == "Bearer old-token" else \
            httpx.Response(200, json={"metadata": {}})

    renewed = kopf.ConnectionInfo(server="https://k8s.test", token="new-token")
    assert run(api(handler, relogin=lambda: renewed).read("ns", "a")) == {"metadata": {}}
    assert tokens == ["Bearer old-token", "Bearer new-token"]
    with pytest.raises(KubeError):
        run(api(lambda request: httpx.Response(401), relogin=lambda: renewed).read("ns", "a"))


def test_events_name_the_operator_and_the_object() -> None:
    posted: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(json.loads(request.content))
        assert request.url.path == "/api/v1/namespaces/ns/events"
        return httpx.Response(201, json={})

    involved = {"metadata": {"namespace": "ns", "name": "a", "uid": "u1"}}
    run(api(handler).post_event(involved, type="Warning", reason="Conflict", message="x" * 5000))
    (event,) = posted
    assert event["source"] == {"component": COMPONENT} and event["reportingComponent"] == COMPONENT
    assert event["involvedObject"]["uid"] == "u1" and event["involvedObject"]["kind"] == "SipTrunk"
    assert (event["type"], event["reason"], len(event["message"])) == ("Warning", "Conflict", 1024)


def test_uninstall_releases_only_our_finalizer_and_counts_contention() -> None:
    items = [{"metadata": {"namespace": "ns", "name": n, "resourceVersion": "1", "finalizers": f}}
             for n, f in (("a", ["ours", "theirs"]), ("b", ["theirs"]), ("c", ["ours"]))]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"items": items})
        if request.url.path.endswith("/c"):
            return httpx.Response(409)
        assert json.loads(request.content)["metadata"]["finalizers"] == ["theirs"]
        return httpx.Response(200, json={})

    released, contended = run(api(handler).release_all("ours"))
    assert [r["metadata"]["name"] for r in released] == ["a"] and contended == 1
