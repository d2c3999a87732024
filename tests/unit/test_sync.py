"""Syncer branch order with fakes: which API calls happen, which annotations are written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from siptrunk_operator.api import InvalidArgument, NotFound, OutcomeUnknown, ServerError
from siptrunk_operator.kube import CREATE_PENDING_ANNOTATION, TRUNK_NAME_ANNOTATION
from siptrunk_operator.models import SipTrunk
from siptrunk_operator.reconcile import ObjectRef, fingerprint
from siptrunk_operator.refresher import TrunkRefresher
from siptrunk_operator.settings import OperatorSettings
from siptrunk_operator.spec import SipTrunkSpec
from siptrunk_operator.sync import Syncer, TrunkObject

PARENT = "projects/p/locations/global"
HOSTS = ["a.example.com"]


class FakeApi:
    def __init__(self, trunks: Sequence[SipTrunk] = ()) -> None:
        self.trunks = {str(t.name): t for t in trunks}
        self.calls: list[tuple[str, str]] = []
        self.create_error: Exception | None = None

    async def create(self, project: str, location: str, trunk: SipTrunk) -> SipTrunk:
        self.calls.append(("create", f"projects/{project}/locations/{location}"))
        if self.create_error is not None:
            raise self.create_error
        made = trunk.model_copy(update={"name": f"{PARENT}/sipTrunks/new{len(self.trunks)}"})
        self.trunks[str(made.name)] = made
        return made

    async def get(self, name: str) -> SipTrunk:
        self.calls.append(("get", name))
        if name not in self.trunks:
            raise NotFound("gone", http_status=404)
        return self.trunks[name]

    async def patch(self, trunk: SipTrunk, update_mask: Sequence[str]) -> SipTrunk:
        self.calls.append(("patch", str(trunk.name)))
        return self.trunks[str(trunk.name)]

    async def delete(self, name: str) -> None:
        self.calls.append(("delete", name))
        if self.trunks.pop(name, None) is None:
            raise NotFound("gone", http_status=404)

    async def list_trunks(self, project: str, location: str) -> AsyncIterator[SipTrunk]:
        self.calls.append(("list", f"projects/{project}/locations/{location}"))
        for trunk in list(self.trunks.values()):
            yield trunk


class FakeKube:
    def __init__(self) -> None:
        self.annotations: dict[str, str] = {}
        self.crd_deleting = False

    async def annotate(self, namespace: str, name: str, annotations: dict[str, str | None]) -> None:
        for key, value in annotations.items():
            if value is None:
                self.annotations.pop(key, None)
            else:
                self.annotations[key] = value

    async def crd_is_being_deleted(self) -> bool:
        return self.crd_deleting


def trunk(trunk_id: str, hosts: list[str] = HOSTS, display_name: str | None = None) -> SipTrunk:
    return SipTrunk(name=f"{PARENT}/sipTrunks/{trunk_id}", expected_hostname=hosts, display_name=display_name)


def obj(annotations: dict[str, str] | None = None, **spec: Any) -> TrunkObject:
    body = {"projectID": "p", "expectedHostname": HOSTS, **spec}
    return TrunkObject(namespace="ns", name="t", uid="u", created="2026-01-01T00:00:00Z", generation=1,
                       spec=SipTrunkSpec.model_validate(body), annotations=annotations or {}, status={})


def syncer(api: FakeApi) -> tuple[Syncer, FakeKube]:
    kube = FakeKube()
    refresher = TrunkRefresher(api, fast_seconds=10, slow_seconds=30)  # type: ignore[arg-type]
    return Syncer(api, kube, refresher, OperatorSettings()), kube  # type: ignore[arg-type]


def no_claims(name: str) -> list[ObjectRef]:
    return []


def test_delete_with_abandon_makes_no_api_call_even_with_a_pending_create() -> None:
    api = FakeApi([trunk("x")])
    s, _ = syncer(api)
    outcome = asyncio.run(s.delete(obj({CREATE_PENDING_ANNOTATION: "t"}, deletionPolicy="Abandon"), no_claims))
    assert api.calls == []
    assert [e.reason for e in outcome.events] == ["Abandoned"]


def test_delete_uses_the_recorded_trunk_not_a_later_resource_id() -> None:
    api = FakeApi([trunk("owned"), trunk("other")])
    s, _ = syncer(api)
    asyncio.run(s.delete(obj({TRUNK_NAME_ANNOTATION: f"{PARENT}/sipTrunks/owned"}, resourceID="other"), no_claims))
    assert ("delete", f"{PARENT}/sipTrunks/owned") in api.calls
    assert f"{PARENT}/sipTrunks/other" in api.trunks


def test_delete_also_removes_what_an_interrupted_create_made() -> None:
    sent = fingerprint(HOSTS, None)
    api = FakeApi([trunk("old"), trunk("made-by-recreate")])
    s, _ = syncer(api)
    annotations = {TRUNK_NAME_ANNOTATION: f"{PARENT}/sipTrunks/old", CREATE_PENDING_ANNOTATION: f"t {sent}"}
    asyncio.run(s.delete(obj(annotations), no_claims))
    assert api.trunks == {}


def test_create_refuses_to_duplicate_an_unowned_match() -> None:
    api = FakeApi([trunk("console")])
    s, kube = syncer(api)
    outcome = asyncio.run(s.converge(obj(), no_claims))
    assert [c for c in api.calls if c[0] == "create"] == []
    assert outcome.retry is not None and outcome.retry.reason == "ExistingTrunkFound"
    assert CREATE_PENDING_ANNOTATION not in kube.annotations


@pytest.mark.parametrize(
    ("error", "marker_kept"),
    [
        (InvalidArgument("bad", http_status=400), False),
        (ServerError("internal", http_status=500), True),
        (OutcomeUnknown("lost"), True),
    ],
)
def test_create_keeps_the_marker_unless_nothing_was_created(error: Exception, marker_kept: bool) -> None:
    api = FakeApi()
    api.create_error = error
    s, kube = syncer(api)
    outcome = asyncio.run(s.converge(obj(), no_claims))
    assert outcome.retry is not None
    assert (CREATE_PENDING_ANNOTATION in kube.annotations) is marker_kept
    assert [c[0] for c in api.calls] == ["list", "create"]


def test_recovery_adopts_what_was_sent_and_clears_the_marker() -> None:
    sent = fingerprint(HOSTS, "Before the edit")
    api = FakeApi([trunk("mine", display_name="Before the edit")])
    s, kube = syncer(api)
    kube.annotations[CREATE_PENDING_ANNOTATION] = f"t {sent}"
    outcome = asyncio.run(s.converge(obj({CREATE_PENDING_ANNOTATION: f"t {sent}"}, displayName="After"),
                                     no_claims))
    assert [c[0] for c in api.calls] == ["list", "get", "patch"]  # adopted, then brought to the new spec
    assert kube.annotations == {TRUNK_NAME_ANNOTATION: f"{PARENT}/sipTrunks/mine"}
    assert "Recovered" in [e.reason for e in outcome.events]


def test_a_kubernetes_api_failure_becomes_a_transient_verdict_not_an_escape() -> None:
    from kubernetes.client.exceptions import ApiException

    class BrokenKube(FakeKube):
        async def annotate(self, namespace: str, name: str, annotations: dict[str, str | None]) -> None:
            raise ApiException(status=503, reason="etcd leader changed")

    api = FakeApi()
    s, _ = syncer(api)
    s.kube = BrokenKube()  # type: ignore[assignment]
    outcome = asyncio.run(s.converge(obj(), no_claims))
    assert outcome.retry is not None and outcome.retry.reason == "KubernetesAPIError"
    assert "create" not in [c[0] for c in api.calls]  # no marker confirmed, so no create
    assert "HTTP 503" in outcome.retry.message


def test_missing_trunk_health_is_unknown_even_when_the_recreate_fails() -> None:
    api = FakeApi([trunk("console")])  # the re-create will find this unowned match and refuse
    s, _ = syncer(api)
    recorded = {TRUNK_NAME_ANNOTATION: f"{PARENT}/sipTrunks/gone"}
    outcome = asyncio.run(s.converge(obj(recorded, recreateIfMissing=True), no_claims))
    assert outcome.trunk_missing
    assert {c.type: c.status for c in outcome.conditions}["Connected"] == "Unknown"
    assert outcome.retry is not None and outcome.retry.reason == "ExistingTrunkFound"
