"""The assembled engine over fakes: watch events in, one pass per object, nothing left behind."""

from __future__ import annotations

import asyncio

from siptrunk_operator.engine.engine import Engine
from siptrunk_operator.plan.view import TRUNK_NAME_ANNOTATION
from siptrunk_operator.settings import FINALIZER, OperatorSettings
from tests.unit.fakes import FakeClient, FakeKube

SPEC = {"projectID": "p", "expectedHostname": ["a.example.com"], "displayName": "A"}


async def settle(engine: Engine, kube: FakeKube) -> None:
    for _ in range(200):
        await asyncio.sleep(0.01)
        if engine.queue.idle:
            await engine.events.flush()
            return
    raise AssertionError("the engine never went idle")


def feed(engine: Engine, kube: FakeKube, name: str, event: str | None = "MODIFIED") -> None:
    engine.observe(kube.body(name), event, {})


def test_a_burst_of_events_makes_one_pass_per_object_and_forgets_deleted_ones() -> None:
    async def scenario() -> tuple[Engine, FakeClient, FakeKube]:
        client, kube = FakeClient(), FakeKube()
        engine = Engine(client, kube, OperatorSettings(workers=4))
        engine.start()
        try:
            for i in range(10):
                kube.add(f"t{i}", {**SPEC, "expectedHostname": [f"h{i}.example.com"]})
                for _ in range(3):  # the same object seen three times before any pass ran
                    feed(engine, kube, f"t{i}", None)
            await settle(engine, kube)
            assert client.calls.count("create") == 10
            assert all(TRUNK_NAME_ANNOTATION in kube.objects[f"t{i}"]["metadata"]["annotations"] for i in range(10))
            assert sorted(r for _, _, r in kube.events) == ["Created"] * 10
            for i in range(10):  # the operator's own writes come back as events: not news
                feed(engine, kube, f"t{i}")
            await settle(engine, kube)
            assert client.calls.count("create") == 10 and len(kube.status_writes()) == 20  # Creating, then Ready
            for i in range(10):
                engine.observe(kube.body(f"t{i}"), "DELETED", {})
            assert len(engine.registry) == 0 and len(engine.queue) == 0
            assert engine.refresher._parents.get(("p", "global")) is None or \
                not engine.refresher._parents[("p", "global")].watched
        finally:
            await engine.stop()
        return engine, client, kube

    _, client, kube = asyncio.run(scenario())
    assert client.calls[-1] == "close" and kube.closed


def test_uninstall_releases_every_object_without_an_api_call_and_forgets_them() -> None:
    async def scenario() -> tuple[FakeClient, FakeKube, Engine]:
        client, kube = FakeClient(), FakeKube()
        engine = Engine(client, kube, OperatorSettings(workers=2))
        engine.start()
        try:
            for i in range(3):
                kube.add(f"t{i}", SPEC, finalizers=[FINALIZER],
                         annotations={TRUNK_NAME_ANNOTATION: f"projects/p/locations/global/sipTrunks/x{i}"})
                engine.registry.observe(kube.body(f"t{i}"), now=0.0)
            calls_before = list(client.calls)
            await engine.uninstall()
            await engine.events.flush()
            feed(engine, kube, "t0")  # a late event: the workers no longer act
            await settle(engine, kube)
            assert client.calls == calls_before
        finally:
            await engine.stop()
        return client, kube, engine

    _, kube, engine = asyncio.run(scenario())
    assert all(FINALIZER not in o["metadata"]["finalizers"] for o in kube.objects.values())
    assert sorted(r for _, _, r in kube.events) == ["Abandoned"] * 3
    assert len(engine.registry) == 0


def test_the_policy_and_namespace_labels_requeue_objects_and_filter_claims() -> None:
    from siptrunk_operator.plan.identity import ObjectRef
    from siptrunk_operator.plan.tenancy import Tenancy, TenancyRule

    engine = Engine(FakeClient(), FakeKube(), OperatorSettings())
    engine.registry.observe({"metadata": {"uid": "u1", "namespace": "a", "name": "x", "resourceVersion": "1"},
                             "spec": SPEC}, now=0.0)
    trunk = "projects/p/locations/global/sipTrunks/t"
    ours, theirs = ObjectRef(1, "2026-01-02T00:00:00Z", "a", "x"), ObjectRef(0, "2026-01-01T00:00:00Z", "b", "y")
    engine._claims = {trunk: [ours, theirs]}
    engine.set_tenancy(Tenancy(), {})
    assert engine.tenancy_known and len(engine.queue) == 1 and engine.claims(trunk) == [ours, theirs]
    engine.queue.forget("u1")
    engine.set_tenancy(Tenancy(), {"a": {"team": "a"}})  # labels do not matter single-tenant
    assert len(engine.queue) == 0
    policy = Tenancy((TenancyRule("a", match_labels={"team": "a"}, projects=frozenset({"p"})),))
    engine.set_tenancy(policy, {"a": {"team": "a"}})
    assert len(engine.queue) == 1  # a new policy: judged again
    assert engine.claims(trunk) == [ours]  # b is granted nothing: its older claim neither wins nor blocks
    engine.queue.forget("u1")
    engine.set_tenancy(policy, {"a": {"team": "a"}})
    assert len(engine.queue) == 0  # nothing changed
    engine.set_tenancy(policy, {"a": {}, "b": {"team": "a"}})  # relabelled: a loses its grant, b gains one
    assert len(engine.queue) == 1 and engine.claims(trunk) == [theirs]
