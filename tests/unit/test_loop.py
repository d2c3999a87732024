"""The reconcile loop end to end over fakes: the real planner, the real status planning, and the
writes a user would see (API calls, annotations, status, Events)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from siptrunk_operator.api import ApiError, InvalidArgument, OutcomeUnknown, PermissionDenied, Unavailable
from siptrunk_operator.engine.loop import OneIdentity, Reconciler
from siptrunk_operator.engine.registry import Registry
from siptrunk_operator.kubeapi import KubeError
from siptrunk_operator.plan.identity import ObjectRef, fingerprint
from siptrunk_operator.plan.tenancy import Grant
from siptrunk_operator.plan.view import CREATE_PENDING_ANNOTATION, TRUNK_NAME_ANNOTATION
from siptrunk_operator.settings import FINALIZER, OperatorSettings
from tests.unit.fakes import PARENT, FakeExternal, FakeKube, RecordingEvents, trunk

SETTINGS = OperatorSettings(resync_seconds=600, error_retry_seconds=30, invalid_spec_retry_seconds=900,
                            permission_retry_seconds=120)
SPEC = {"projectID": "p", "expectedHostname": ["a.example.com"], "displayName": "A"}
T1 = f"{PARENT}/sipTrunks/t1"
START = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
"""The wall clock at monotonic 1000; it moves with the harness's monotonic clock."""
SETTLED = "2026-12-01T09:50:00Z"
"""A pending marker stamped long enough ago (10 min) that its create can no longer commit."""


class Harness:
    def __init__(self) -> None:
        self.external, self.kube, self.events = FakeExternal(), FakeKube(), RecordingEvents()
        self.registry = Registry()
        self.claims: dict[str, list[ObjectRef]] = {}
        self.now = 1000.0
        self.grant: Grant | None = None
        self.reconciler = Reconciler(OneIdentity(self.external), self.kube, self.registry, self.events, SETTINGS,
                                     lambda name: self.claims.get(name, []), clock=lambda: self.now,
                                     wall=self.wall, grant_for=lambda _: self.grant)

    def wall(self) -> str:
        return (START + dt.timedelta(seconds=self.now - 1000)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def add(self, name: str = "sip", spec: Mapping[str, Any] = SPEC, **meta: Any) -> str:
        body = self.kube.add(name, spec, **meta)
        self.registry.observe(body, now=self.now)
        return str(body["metadata"]["uid"])

    def edit(self, name: str = "sip", **changes: Any) -> None:
        """A person's spec edit, as the watch delivers it."""
        self.kube.edit_spec(name, **changes)
        assert self.watch_event(name)

    def watch_event(self, name: str = "sip") -> bool:
        return self.registry.observe(self.kube.body(name), now=self.now)

    def run(self, name: str = "sip") -> float | None:
        return asyncio.run(self.reconciler.reconcile(f"uid-{name}"))

    def status(self, name: str = "sip") -> dict[str, Any]:
        return dict(self.kube.objects[name]["status"])

    def condition(self, kind: str, name: str = "sip") -> dict[str, Any]:
        return next(c for c in self.status(name)["conditions"] if c["type"] == kind)

    def annotations(self, name: str = "sip") -> dict[str, str]:
        return dict(self.kube.objects[name]["metadata"]["annotations"])

    def settle(self, name: str = "sip") -> None:
        """Create the object's trunk and let the shared listing hold it."""
        self.add(name)
        self.run(name)
        self.external.listed = dict(self.external.trunks)
        self.kube.writes.clear()
        self.external.calls.clear()
        self.events.posted.clear()


def established(name: str = T1, **spec: Any) -> dict[str, Any]:
    return {"annotations": {TRUNK_NAME_ANNOTATION: name}, "finalizers": [FINALIZER]}


# -- create -------------------------------------------------------------------------------------------


def test_create_writes_marker_lists_once_creates_once_and_records_the_name() -> None:
    h = Harness()
    h.add()
    wake = h.run()
    assert [c[0] for c in h.external.calls] == ["list", "create"]
    meta = h.kube.metadata_writes()
    assert meta[0][2]["finalizers"] == [FINALIZER]
    assert set(meta[0][2]["annotations"]) == {CREATE_PENDING_ANNOTATION}
    assert meta[1][2]["annotations"] == {TRUNK_NAME_ANNOTATION: T1, CREATE_PENDING_ANNOTATION: None}
    progress, _ = h.kube.status_writes()  # Creating is stored before the marker and the create
    assert h.kube.writes.index(progress) < h.kube.writes.index(meta[0])
    reported = {c["type"]: c for c in progress[2]["conditions"]}
    assert (reported["Ready"]["reason"], reported["Reconciling"]["status"], reported["Reconciling"]["reason"]) \
        == ("Creating", "True", "Creating")
    assert progress[2]["observedGeneration"] == 1 and reported["Ready"]["observedGeneration"] == 1
    assert h.annotations() == {TRUNK_NAME_ANNOTATION: T1}
    assert h.status()["name"] == T1 and h.status()["observedGeneration"] == 1
    assert (h.condition("Ready")["status"], h.condition("Ready")["reason"]) == ("True", "UpToDate")
    assert h.condition("Synced")["status"] == "True"
    assert h.condition("Reconciling")["status"] == "False" and h.condition("Stalled")["status"] == "False"
    assert h.events.reasons() == ["Created"]
    assert not h.events.posted[0][1].warning
    assert wake == pytest.approx(1000 + 600, abs=600 * 0.26)
    assert T1 in h.external.watched
    assert h.external.deadlines == [1000 + SETTINGS.create_deadline_seconds]  # counted from the marker


def test_a_settled_object_costs_no_call_and_no_write() -> None:
    h = Harness()
    h.settle()
    assert not h.watch_event()  # the operator's own writes are not news
    h.run()
    assert h.external.calls == [] and h.kube.writes == [] and h.events.posted == []


def test_an_interrupted_create_is_recovered_from_the_listing_not_repeated() -> None:
    h = Harness()
    marker = f"2026-12-01T09:59:00Z {fingerprint(['a.example.com'], 'A')}"  # 60 s ago: it may still commit
    h.add(annotations={CREATE_PENDING_ANNOTATION: marker}, finalizers=[FINALIZER])
    wake = h.run()
    # exactly when the create can no longer commit:
    assert wake == 1000 - 60 + SETTINGS.create_deadline_seconds + SETTINGS.create_settle_margin_seconds
    assert h.external.calls == [] and h.kube.metadata_writes() == []
    pending = h.condition("Ready")
    assert (pending["status"], pending["reason"]) == ("False", "CreatePending")
    assert "10:00:30Z" in pending["message"] and h.condition("Reconciling")["status"] == "True"
    h.external.trunks[T1] = trunk(T1)  # the held create commits late
    h.now = wake
    h.run()
    assert [c[0] for c in h.external.calls] == ["list"]
    assert h.annotations() == {TRUNK_NAME_ANNOTATION: T1}
    assert h.events.reasons() == ["Recovered"]
    assert len(h.kube.metadata_writes()) == 1  # straight to the name: the marker is not cleared first
    assert h.condition("Ready")["status"] == "True"


def test_an_unowned_trunk_with_these_hostnames_is_never_taken_silently() -> None:
    h = Harness()
    h.external.trunks[T1] = trunk(T1)
    h.add()
    wake = h.run()
    assert h.external.api_calls("create") == []
    assert CREATE_PENDING_ANNOTATION not in h.annotations() and TRUNK_NAME_ANNOTATION not in h.annotations()
    ready = h.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ExistingTrunkFound")
    assert T1 in ready["message"] and "spec.resourceID" in ready["message"]
    assert h.condition("Stalled")["status"] == "True"
    assert wake == 1000 + SETTINGS.invalid_spec_retry_seconds
    assert h.events.reasons() == ["ExistingTrunkFound"] and h.events.posted[0][1].warning


def test_two_matches_after_an_interrupted_create_stall_and_name_both() -> None:
    h = Harness()
    t2 = f"{PARENT}/sipTrunks/t2"
    h.external.trunks.update({T1: trunk(T1), t2: trunk(t2)})
    h.add(annotations={CREATE_PENDING_ANNOTATION: f"x {fingerprint(['a.example.com'], 'A')}"})
    h.run()
    ready = h.condition("Ready")
    assert ready["reason"] == "CreateOutcomeUnknown" and T1 in ready["message"] and t2 in ready["message"]
    assert h.external.api_calls("create") == []
    assert CREATE_PENDING_ANNOTATION in h.annotations()


@pytest.mark.parametrize(("error", "marker_kept"), [
    (InvalidArgument("bad hostname", http_status=400), False),
    (Unavailable("down", http_status=503), False),
    (OutcomeUnknown("lost response"), True),
])
def test_a_failed_create_keeps_its_marker_only_when_it_may_have_happened(error: ApiError,
                                                                         marker_kept: bool) -> None:
    h = Harness()
    h.external.fail["create"] = error
    h.add()
    h.run()
    assert (CREATE_PENDING_ANNOTATION in h.annotations()) is marker_kept
    assert h.condition("Ready")["status"] == "False"
    assert h.condition("Synced")["status"] == "False"


def test_a_rejected_create_is_invalid_spec_and_retried_slowly() -> None:
    h = Harness()
    h.external.fail["create"] = InvalidArgument("expectedHostname is not a hostname", http_status=400)
    h.add()
    wake = h.run()
    ready = h.condition("Ready")
    assert (ready["reason"], h.condition("Stalled")["status"]) == ("InvalidSpec", "True")
    assert "not a hostname" in ready["message"]
    assert wake == 1000 + SETTINGS.invalid_spec_retry_seconds


def test_a_lost_create_response_is_recovered_on_the_next_pass() -> None:
    h = Harness()
    h.add()
    h.external.fail["create"] = OutcomeUnknown("lost")
    h.run()
    h.external.trunks[T1] = trunk(T1)  # the create had committed on the server; only the answer was lost
    assert not h.watch_event()  # nothing a person changed: the retry comes at its own time
    assert h.condition("Ready")["reason"] == "CreatePending" and h.condition("Synced")["reason"] == "OutcomeUnknown"
    h.now += SETTINGS.create_deadline_seconds + SETTINGS.create_settle_margin_seconds
    h.run()
    assert h.annotations() == {TRUNK_NAME_ANNOTATION: T1}
    assert "Recovered" in h.events.reasons()
    assert len(h.external.api_calls("create")) == 1


# -- update, drift ---------------------------------------------------------------------------------------


def test_a_spec_change_sends_exactly_the_changed_fields() -> None:
    h = Harness()
    h.settle()
    h.kube.edit_spec("sip", displayName="B")
    assert h.watch_event()
    h.run()
    assert h.external.api_calls("update") == [("update", (T1, ("displayName",)))]
    assert h.external.trunks[T1].display_name == "B"
    assert h.events.reasons() == ["Updated"] and "displayName" in h.events.posted[0][1].message
    assert not h.events.posted[0][1].warning
    assert h.status()["observedGeneration"] == 2 and h.condition("Ready")["observedGeneration"] == 2


def test_drift_is_reported_at_once_and_reverted_at_resync() -> None:
    h = Harness()
    h.settle()
    h.external.cache(trunk(T1, display="edited in the console"), also_in_api=True)
    h.run()
    assert h.external.api_calls("update") == []
    assert (h.condition("Ready")["status"], h.condition("Ready")["reason"]) == ("False", "Drifted")
    assert h.condition("Reconciling")["status"] == "True"
    h.now += 800  # past the jittered resync
    h.run()
    assert h.external.api_calls("update") == [("update", (T1, ("displayName",)))]
    assert h.events.reasons() == ["DriftReverted"] and h.events.posted[0][1].warning
    assert h.condition("Ready")["reason"] == "UpToDate"


def test_a_failed_update_flips_ready_and_a_failed_read_does_not() -> None:
    h = Harness()
    h.settle()
    h.edit(displayName="B")
    h.external.fail["update"] = Unavailable("down", http_status=503)
    wake = h.run()
    assert (h.condition("Ready")["status"], h.condition("Ready")["reason"]) == ("False", "APIUnavailable")
    assert wake == 1000 + SETTINGS.error_retry_seconds
    h2 = Harness()
    h2.settle()
    h2.external.listed = None  # nothing cached: the changed object must GET its trunk
    h2.edit(displayName="B")
    h2.external.fail["get"] = Unavailable("down", http_status=503)
    h2.run()
    assert h2.condition("Ready")["status"] == "True"  # unknown is not "not as spec"
    assert (h2.condition("Synced")["status"], h2.condition("Synced")["reason"]) == ("False", "APIUnavailable")


def test_permission_denied_names_the_permission() -> None:
    h = Harness()
    h.add()
    h.external.fail["list"] = PermissionDenied("denied", http_status=403)
    h.run()
    assert "dialogflow.siptrunks.list" in h.condition("Synced")["message"]
    assert h.condition("Stalled")["status"] == "True"


# -- health ------------------------------------------------------------------------------------------


def test_connection_changes_post_one_event_each() -> None:
    h = Harness()
    h.settle()
    h.external.cache(trunk(T1, connections=[("c1", "CONNECTED")]))
    h.run()
    h.run()
    assert h.events.reasons() == ["ConnectionHealthy"]
    assert h.condition("Connected")["status"] == "True" and h.status()["connected"] == "1/1"
    h.external.cache(trunk(T1, connections=[("c1", "AUTHENTICATION_FAILED")]))
    h.run()
    assert h.events.reasons() == ["ConnectionHealthy", "ConnectionUnhealthy"]
    assert h.events.posted[-1][1].warning and "CONNECTED → AUTHENTICATION_FAILED" in h.events.posted[-1][1].message
    assert len(h.kube.status_writes()) == 2


def test_a_trunk_deleted_outside_kubernetes_is_reported_once_and_not_recreated() -> None:
    h = Harness()
    h.settle()
    h.external.cache(trunk(T1, connections=[("c1", "CONNECTED")]))
    h.run()
    del h.external.trunks[T1]
    h.external.listed = {}
    h.events.posted.clear()
    h.run()
    assert h.events.reasons() == ["NotFoundInAPI"]
    h.run()
    assert h.condition("Ready")["reason"] == "NotFoundInAPI"
    assert h.condition("Connected")["status"] == "Unknown" and h.condition("CertificatesValid")["status"] == "Unknown"
    assert h.events.reasons() == ["NotFoundInAPI"]
    status = h.status()
    assert "connected" not in status and "connections" not in status and status["name"] == T1
    assert status["lastSyncTime"] == "2026-12-01T10:00:00.000000Z"
    assert h.external.api_calls("create") == []


def test_recreate_if_missing_creates_a_new_trunk_through_recovery() -> None:
    h = Harness()
    h.add(spec={**SPEC, "recreateIfMissing": True}, **established())
    h.external.next_id = 7  # the API never reuses an ID
    h.run()
    assert [c[0] for c in h.external.calls] == ["get", "list", "create"]
    new = h.annotations()[TRUNK_NAME_ANNOTATION]
    assert new != T1 and h.events.reasons() == ["Recreated"] and h.events.posted[0][1].warning


def test_listing_failures_make_health_unknown_not_stale() -> None:
    h = Harness()
    h.settle()
    h.external.listing_problem = "Listing projects/p/locations/global fails: 503"
    h.run()
    assert (h.condition("Synced")["status"], h.condition("Synced")["reason"]) == ("False", "ListFailed")
    assert h.condition("Connected")["status"] == "Unknown"
    assert h.external.calls == []


def test_a_restarted_operator_waits_for_the_listing_instead_of_reading_each_trunk() -> None:
    h = Harness()
    h.settle()
    h.external.listed = None
    h.registry.forget("uid-sip")
    h.watch_event()
    h.run()
    assert h.external.calls == [] and h.kube.writes == []


# -- identity ----------------------------------------------------------------------------------------


def test_the_established_owner_wins_and_the_other_never_writes() -> None:
    h = Harness()
    h.external.trunks[T1] = trunk(T1)
    h.claims[T1] = [ObjectRef(0, "2026-12-02T00:00:00Z", "other", "owner")]
    h.add(spec={**SPEC, "resourceID": "t1", "displayName": "mine"})
    h.run()
    assert h.external.calls == []
    ready = h.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Conflict") and "another namespace" in ready["message"]
    assert "other" not in ready["message"].replace("another", "")  # no name of an object it cannot read
    h2 = Harness()
    h2.external.trunks[T1] = trunk(T1)
    h2.claims[T1] = [ObjectRef(0, "2026-12-02T00:00:00Z", "ns", "owner")]
    h2.add(spec={**SPEC, "resourceID": "t1"})
    h2.run()
    assert "SipTrunk ns/owner" in h2.condition("Ready")["message"]  # in its own namespace, it is named


def test_adopting_by_resource_id_records_it_and_says_so() -> None:
    h = Harness()
    h.external.trunks[T1] = trunk(T1, display="old")
    h.add(spec={**SPEC, "resourceID": "t1"})
    h.run()
    assert h.annotations() == {TRUNK_NAME_ANNOTATION: T1}
    assert h.events.reasons() == ["Adopted", "Updated"]
    assert h.external.api_calls("create") == [] and h.external.api_calls("list") == []


def test_observe_only_reads_and_never_writes_to_the_api() -> None:
    h = Harness()
    h.external.trunks[T1] = trunk(T1, display="theirs")
    h.add(spec={**SPEC, "resourceID": "t1", "managementPolicy": "ObserveOnly"})
    h.run()
    assert [c[0] for c in h.external.calls] == ["get"]
    assert h.condition("Ready")["reason"] == "Observed"
    assert h.kube.metadata_writes() == []


# -- delete ------------------------------------------------------------------------------------------


def deleting(h: Harness, **meta: Any) -> None:
    h.add(deleting=True, **{**established(), **meta})


@pytest.mark.parametrize("change", ["delete", "edit"])
def test_a_create_in_doubt_stays_in_doubt_when_a_conflict_makes_the_pass_plan_again(change: str) -> None:
    h = Harness()
    h.add()
    h.external.fail["create"] = OutcomeUnknown("lost")

    def meanwhile() -> None:  # lands between the lost create and the pass's status write
        if change == "delete":
            h.kube.objects["sip"]["metadata"].update(deletionTimestamp="2026-12-01T11:00:00Z", resourceVersion="900")
        else:
            h.kube.edit_spec("sip", displayName="B")

    h.kube.before_write.extend([lambda: None, lambda: None, meanwhile])  # progress, marker, then the status
    h.run()
    assert len(h.external.api_calls("create")) == 1 and h.external.api_calls("delete") == []
    assert FINALIZER in h.kube.objects["sip"]["metadata"]["finalizers"]
    assert h.condition("Ready")["reason"] == "CreatePending"
    h.external.trunks[T1] = trunk(T1)  # the create had committed after all
    h.now += SETTINGS.create_deadline_seconds + SETTINGS.create_settle_margin_seconds
    h.run()
    assert len(h.external.api_calls("create")) == 1
    if change == "delete":
        assert h.external.api_calls("delete") == [("delete", T1)] and "sip" not in h.kube.objects
    else:
        assert h.annotations() == {TRUNK_NAME_ANNOTATION: T1} and h.external.trunks[T1].display_name == "B"


def test_a_delete_the_client_keeps_retrying_shows_synced_false_at_its_first_retry() -> None:
    h = Harness()
    h.external.trunks[T1] = trunk(T1)
    deleting(h)
    h.external.retried["delete"] = Unavailable("down", http_status=503)
    h.external.fail["delete"] = Unavailable("still down", http_status=503)
    h.run()
    assert h.external.api_calls("delete") == [("delete", "retried"), ("delete", T1)]
    first = h.kube.status_writes()[0][2]  # written while the client was still retrying
    synced = next(c for c in first["conditions"] if c["type"] == "Synced")
    assert (synced["status"], synced["reason"]) == ("False", "APIUnavailable") and "retrying" in synced["message"]
    assert h.condition("Synced")["reason"] == "APIUnavailable" and "sip" in h.kube.objects
    assert h.events.reasons() == ["APIUnavailable"]  # one Warning, not one per attempt


def test_a_write_that_succeeds_after_retries_ends_synced() -> None:
    h = Harness()
    h.settle()
    h.edit(displayName="B")
    h.external.retried["update"] = Unavailable("blip", http_status=503)
    h.run()
    assert h.condition("Synced")["status"] == "True" and h.condition("Ready")["reason"] == "UpToDate"


def test_delete_deletes_the_trunk_then_releases_the_finalizer() -> None:
    h = Harness()
    h.external.trunks[T1] = trunk(T1)
    deleting(h)
    assert h.run() is None
    assert h.external.api_calls("delete") == [("delete", T1)]
    assert "sip" not in h.kube.objects
    assert h.events.reasons() == ["Deleted"]


def test_delete_also_removes_what_an_interrupted_create_made() -> None:
    h = Harness()
    t2 = f"{PARENT}/sipTrunks/t2"
    h.external.trunks.update({T1: trunk(T1), t2: trunk(t2)})
    deleting(h, annotations={TRUNK_NAME_ANNOTATION: T1,
                             CREATE_PENDING_ANNOTATION: f"x {fingerprint(['a.example.com'], 'A')}"})
    h.run()
    assert sorted(c[1] for c in h.external.api_calls("delete")) == [T1, t2]


def test_an_ambiguous_delete_listing_stalls_and_keeps_the_finalizer() -> None:
    h = Harness()
    h.external.trunks.update({f"{PARENT}/sipTrunks/t{i}": trunk(f"{PARENT}/sipTrunks/t{i}") for i in (2, 3)})
    deleting(h, annotations={CREATE_PENDING_ANNOTATION: f"x {fingerprint(['a.example.com'], 'A')}"})
    wake = h.run()
    assert h.external.api_calls("delete") == []
    assert FINALIZER in h.kube.objects["sip"]["metadata"]["finalizers"]
    assert h.condition("Synced")["reason"] == "CreateOutcomeUnknown" and h.condition("Stalled")["status"] == "True"
    assert wake == 1000 + SETTINGS.refresh_slow_seconds  # never a 900 s cycle: it re-checks at the listing pace


@pytest.mark.parametrize("spec", [
    {**SPEC, "deletionPolicy": "Abandon"},
    {**SPEC, "resourceID": "t1", "managementPolicy": "ObserveOnly"},
])
def test_policies_abandon_the_trunk(spec: dict[str, Any]) -> None:
    h = Harness()
    h.external.trunks[T1] = trunk(T1)
    deleting(h, spec=spec)
    h.run()
    assert h.external.api_calls("delete") == [] and T1 in h.external.trunks
    assert "sip" not in h.kube.objects and h.events.reasons() == ["Abandoned"]


def test_a_conflicting_object_never_deletes_the_owners_trunk() -> None:
    h = Harness()
    h.external.trunks[T1] = trunk(T1)
    h.claims[T1] = [ObjectRef(0, "2026-01-01T00:00:00Z", "other", "owner")]
    deleting(h, annotations={}, spec={**SPEC, "resourceID": "t1"})
    h.run()
    assert h.external.api_calls("delete") == [] and h.events.reasons() == ["Abandoned"]


def test_uninstall_abandons_without_an_api_call() -> None:
    h = Harness()
    h.kube.uninstalling = True
    deleting(h)
    h.run()
    assert h.external.calls == [] and h.events.reasons() == ["Abandoned"]


def test_a_failed_delete_keeps_the_finalizer_and_says_why() -> None:
    h = Harness()
    h.external.trunks[T1] = trunk(T1)
    h.external.fail["delete"] = PermissionDenied("denied", http_status=403)
    deleting(h, status={"conditions": [{"type": "Ready", "status": "True", "reason": "UpToDate",
                                        "lastTransitionTime": "t", "message": "m", "observedGeneration": 1}]})
    h.run()
    assert FINALIZER in h.kube.objects["sip"]["metadata"]["finalizers"]
    assert "dialogflow.siptrunks.delete" in h.condition("Synced")["message"]
    assert h.condition("Ready")["reason"] == "UpToDate"


# -- races ---------------------------------------------------------------------------------------------


def test_a_status_planned_for_an_older_generation_never_lands() -> None:
    """An edit arrives while a pass is planning: the write is refused (409), the pass re-plans on the
    new generation, and status says what was really applied."""
    h = Harness()
    h.settle()
    h.kube.before_write.append(lambda: h.kube.edit_spec("sip", displayName="B"))
    h.external.cache(trunk(T1, connections=[("c1", "CONNECTED")]), also_in_api=True)
    h.run()
    assert h.status()["observedGeneration"] == 2
    assert h.condition("Ready")["observedGeneration"] == 2
    assert h.external.api_calls("update") == [("update", (T1, ("displayName",)))]
    assert h.events.reasons().count("ConnectionHealthy") == 1


def test_a_create_survives_a_conflict_on_recording_its_name() -> None:
    h = Harness()
    h.add()
    done: list[bool] = []

    def conflicting_edit() -> None:
        if h.external.api_calls("create") and not done:  # after the create, before the name is stored
            done.append(True)
            h.kube.objects["sip"]["metadata"]["labels"] = {"team": "x"}
            h.kube.objects["sip"]["metadata"]["resourceVersion"] = "999"

    h.kube.before_write.extend([lambda: None, lambda: None, conflicting_edit])
    h.run()
    assert done, "the conflicting edit happened"
    assert len(h.external.api_calls("create")) == 1 and len(h.external.api_calls("list")) == 1
    assert h.annotations() == {TRUNK_NAME_ANNOTATION: T1}
    assert h.events.reasons() == ["Created"]  # the pass kept what it had learnt: no recovery needed


def test_a_kubernetes_failure_is_reported_and_retried_soon() -> None:
    h = Harness()
    h.add()
    h.kube.fail_next = KubeError("boom", 500)
    wake = h.run()
    assert h.external.calls == []
    assert wake == 1000 + SETTINGS.error_retry_seconds


def _names(calls: Sequence[tuple[str, Any]]) -> list[str]:
    return [c[0] for c in calls]


def test_an_object_deleted_mid_pass_ends_the_pass_quietly() -> None:
    h = Harness()
    h.add()
    h.kube.before_write.append(lambda: h.kube.objects["sip"]["metadata"].update(resourceVersion="7"))
    h.kube.vanish_on_read = True
    assert h.run() is None
    assert h.external.calls == []


def test_an_object_that_keeps_changing_is_retried_soon() -> None:
    h = Harness()
    h.add()

    def bump() -> None:
        h.kube.objects["sip"]["metadata"]["resourceVersion"] = str(int(h.kube.objects["sip"]["metadata"]
                                                                        ["resourceVersion"]) + 1000)

    h.kube.before_write.extend([bump] * 10)
    wake = h.run()
    assert wake == 1000 + SETTINGS.error_retry_seconds
    assert h.external.api_calls("create") == []


def test_a_refused_status_write_is_retried_soon_and_its_events_wait() -> None:
    h = Harness()
    h.settle()
    h.external.cache(trunk(T1, connections=[("c1", "CONNECTED")]))
    h.kube.fail_next = KubeError("boom", 500)
    wake = h.run()
    assert wake == 1000 + SETTINGS.error_retry_seconds
    assert h.events.reasons() == []  # the transition is posted once the status that records it is stored
    h.run()
    assert h.events.reasons() == ["ConnectionHealthy"]


def test_a_lost_finalizer_is_restored() -> None:
    h = Harness()
    h.settle()
    h.kube.objects["sip"]["metadata"]["finalizers"] = []
    h.kube.objects["sip"]["metadata"]["resourceVersion"] = "555"
    assert h.watch_event()
    h.run()
    assert h.kube.objects["sip"]["metadata"]["finalizers"] == [FINALIZER]


# -- the hostile cases a review found ------------------------------------------------------------------


def test_deleted_while_its_create_was_in_flight_leaves_no_orphan() -> None:
    h = Harness()
    h.add()

    def delete_now() -> None:
        if h.external.api_calls("create"):
            h.kube.objects["sip"]["metadata"].update(deletionTimestamp="2026-12-01T11:00:00Z",
                                                    resourceVersion="900")

    h.kube.before_write.extend([lambda: None, lambda: None, delete_now])  # progress, marker; the name write conflicts
    h.run()
    assert h.external.api_calls("delete") == [("delete", T1)]
    assert h.external.trunks == {} and "sip" not in h.kube.objects


def test_a_create_waits_for_nothing_once_the_object_is_being_deleted() -> None:
    h = Harness()
    h.add()
    state = h.registry.get("uid-sip")
    assert state is not None

    def deleted_meanwhile() -> None:  # the watch delivers the deletion while the pass lists
        h.kube.objects["sip"]["metadata"].update(deletionTimestamp="2026-12-01T11:00:00Z", resourceVersion="950")
        h.watch_event()

    h.kube.before_write.extend([deleted_meanwhile])
    h.run()
    assert h.external.api_calls("create") == []


def test_a_failed_listing_takes_back_its_own_marker() -> None:
    h = Harness()
    h.add()
    h.external.fail["list"] = Unavailable("down", http_status=503)
    h.run()
    assert CREATE_PENDING_ANNOTATION not in h.annotations()
    h.external.trunks[T1] = trunk(T1)  # made in the console meanwhile, with these hostnames
    h.now += SETTINGS.error_retry_seconds
    h.run()
    assert h.condition("Ready")["reason"] == "ExistingTrunkFound" and "Recovered" not in h.events.reasons()


def test_the_marker_is_rewritten_when_the_spec_changed_before_the_create() -> None:
    h = Harness()
    h.add(spec={**SPEC, "displayName": "B"},
          annotations={CREATE_PENDING_ANNOTATION: f"x {fingerprint(['a.example.com'], 'A')}"})
    h.external.fail["create"] = OutcomeUnknown("lost")
    h.run()
    marker = h.annotations()[CREATE_PENDING_ANNOTATION]
    assert marker.endswith(fingerprint(["a.example.com"], "B"))
    h.external.trunks[T1] = trunk(T1, display="B")  # the lost create had committed
    h.now += SETTINGS.create_deadline_seconds + SETTINGS.create_settle_margin_seconds
    h.run()
    assert len(h.external.api_calls("create")) == 1 and h.annotations() == {TRUNK_NAME_ANNOTATION: T1}


def test_an_edit_during_a_pass_is_applied_in_that_pass() -> None:
    h = Harness()
    h.settle()
    h.edit(displayName="B")

    def edit_again() -> None:
        h.kube.edit_spec("sip", expectedHostname=["z.example.com"])

    h.kube.before_write.append(edit_again)  # lands between the PATCH and the status write
    h.run()
    assert h.external.api_calls("update") == [("update", (T1, ("displayName",))),
                                              ("update", (T1, ("expectedHostname",)))]
    assert h.condition("Ready")["observedGeneration"] == 3 and h.condition("Ready")["reason"] == "UpToDate"


def test_a_paced_retry_is_not_hurried_by_listing_changes_but_a_fix_acts_at_once() -> None:
    h = Harness()
    h.settle()
    h.edit(displayName="B")
    h.external.fail["update"] = InvalidArgument("displayName too long", http_status=400)
    h.run()
    h.external.cache(trunk(T1, connections=[("c1", "CONNECTED")]))
    h.run()  # woken by the listing
    assert len(h.external.api_calls("update")) == 1
    assert h.condition("Connected")["status"] == "True" and h.condition("Ready")["reason"] == "InvalidSpec"
    h.kube.edit_spec("sip", displayName="C")
    assert h.watch_event()
    h.run()
    assert len(h.external.api_calls("update")) == 2 and h.condition("Ready")["reason"] == "UpToDate"


def test_a_hand_set_trunk_name_outside_the_parent_is_refused_and_never_deleted() -> None:
    h = Harness()
    other = "projects/victim/locations/global/sipTrunks/x"
    h.add(annotations={TRUNK_NAME_ANNOTATION: other}, finalizers=[FINALIZER])
    h.run()
    assert h.external.calls == [] and h.condition("Ready")["reason"] == "InvalidSpec"
    assert "not a trunk under projects/p/locations/global" in h.condition("Ready")["message"]
    h.kube.objects["sip"]["metadata"].update(deletionTimestamp="2026-12-01T11:00:00Z", resourceVersion="990")
    h.watch_event()
    h.run()
    assert h.external.calls == [] and "sip" not in h.kube.objects


@pytest.mark.parametrize("bad", ["not-a-name", f"{PARENT}/sipTrunks/..", f"{PARENT}/sipTrunks/x\n"])
def test_a_malformed_trunk_name_is_a_clear_error(bad: str) -> None:
    h = Harness()
    h.add(annotations={TRUNK_NAME_ANNOTATION: bad}, finalizers=[FINALIZER])
    h.run()
    assert h.condition("Ready")["reason"] == "InvalidSpec" and h.external.calls == []


def test_a_failure_event_is_posted_once_even_when_the_status_write_conflicts() -> None:
    h = Harness()
    h.add(spec={**SPEC, "managementPolicy": "ObserveOnly"})
    h.kube.before_write.append(lambda: h.kube.objects["sip"]["metadata"].update(resourceVersion="777"))
    h.run()
    assert h.events.reasons() == ["InvalidSpec"]


def test_a_marker_write_whose_answer_was_lost_is_still_this_passes_own() -> None:
    h = Harness()
    h.external.trunks[T1] = trunk(T1)
    h.add()
    h.kube.lose_next_answer = True
    h.run()
    assert h.condition("Ready")["reason"] == "ExistingTrunkFound"  # not "Recovered": it is not ours


def test_a_new_listing_with_the_same_state_writes_nothing() -> None:
    h = Harness()
    h.settle()
    h.external.cache(trunk(T1, connections=[("c1", "CONNECTED")]))
    h.run()
    writes = len(h.kube.writes)
    h.external.observed_at = "2026-12-01T10:05:00.000000Z"
    h.run()
    assert len(h.kube.writes) == writes


# -- what the loop itself must get right -----------------------------------------------------------------


def test_a_deletion_that_arrives_while_the_pass_lists_stops_the_create() -> None:
    h = Harness()
    h.add()

    def deleted_meanwhile() -> None:  # no finalizer yet (it comes with the marker): the object is just gone
        del h.kube.objects["sip"]

    h.external.on_list.append(deleted_meanwhile)
    h.run()
    assert h.external.api_calls("create") == [] and h.kube.metadata_writes() == []


def test_an_edit_that_arrives_while_the_pass_lists_is_what_gets_created() -> None:
    h = Harness()
    h.add()

    def edited_meanwhile() -> None:
        h.kube.edit_spec("sip", displayName="B")
        h.watch_event()

    h.external.on_list.append(edited_meanwhile)
    h.run()
    (created,) = h.external.api_calls("create")
    assert created[1].display_name == "B"


def test_a_trunk_the_listing_does_not_show_yet_is_still_deleted_with_its_object() -> None:
    h = Harness()
    h.add()
    h.external.hide_from_list.add(T1)  # the list lags the create

    def delete_now() -> None:
        if h.external.api_calls("create"):
            h.kube.objects["sip"]["metadata"].update(deletionTimestamp="2026-12-01T11:00:00Z", resourceVersion="900")

    h.kube.before_write.extend([lambda: None, lambda: None, delete_now])
    h.run()
    assert ("delete", T1) in h.external.api_calls("delete") and T1 not in h.external.trunks


def test_a_failure_from_before_a_deletion_does_not_stop_the_delete() -> None:
    h = Harness()
    h.settle()
    h.edit(displayName="B")
    h.external.fail["update"] = Unavailable("down", http_status=503)
    h.kube.before_write.append(lambda: h.kube.objects["sip"]["metadata"].update(
        deletionTimestamp="2026-12-01T11:00:00Z", resourceVersion="901"))
    h.run()
    assert h.external.api_calls("delete") == [("delete", T1)]


def test_events_earned_before_the_object_vanished_are_still_posted() -> None:
    h = Harness()
    h.add()
    bump = lambda: h.kube.objects["sip"]["metadata"].update(resourceVersion="990")  # noqa: E731
    h.kube.before_write.extend([lambda: None, lambda: None, lambda: None, bump])  # the status write conflicts ...
    h.kube.vanish_on_read = True  # ... because the object was deleted
    assert h.run() is None
    assert h.events.reasons() == ["Created"]


def test_a_pass_that_keeps_meeting_conflicts_gives_up_after_four_plans() -> None:
    h = Harness()
    h.settle()
    reads = []
    original = h.kube.objects["sip"]

    def bump() -> None:
        reads.append(1)
        original["metadata"]["resourceVersion"] = str(5000 + len(reads))

    h.kube.before_write.extend([bump] * 20)
    h.edit(displayName="B")
    h.external.fail.clear()
    assert h.run() == 1000 + SETTINGS.error_retry_seconds
    assert len(reads) == 4


def test_after_a_resync_the_next_drift_waits_for_the_next_resync() -> None:
    h = Harness()
    h.settle()
    h.external.cache(trunk(T1, display="edited"), also_in_api=True)
    h.now += 800
    h.run()
    assert len(h.external.api_calls("update")) == 1
    h.external.cache(trunk(T1, display="edited again"), also_in_api=True)
    h.run()
    assert len(h.external.api_calls("update")) == 1 and h.condition("Ready")["reason"] == "Drifted"


def test_the_listing_follows_exactly_the_trunks_objects_name() -> None:
    h = Harness()
    h.external.trunks[T1] = trunk(T1)
    h.add(deleting=True, **established())
    h.registry.watch("uid-sip", T1)
    h.external.watch(T1)
    h.run()
    assert T1 not in h.external.watched
    h2 = Harness()
    h2.settle()
    h2.external.listed = None
    h2.external.watched.clear()
    h2.registry.forget("uid-sip")
    h2.watch_event()
    h2.run()
    assert h2.external.watched == {T1}


def test_a_paced_retry_keeps_its_time_when_a_listing_wakes_the_object() -> None:
    h = Harness()
    h.settle()
    h.edit(displayName="B")
    h.external.fail["update"] = InvalidArgument("too long", http_status=400)
    first = h.run()
    h.now += 100
    h.external.cache(trunk(T1, connections=[("c1", "CONNECTED")]))
    assert h.run() == first


def test_a_failed_action_earns_no_event_of_its_own() -> None:
    h = Harness()
    h.settle()
    h.edit(displayName="B")
    h.external.fail["update"] = Unavailable("down", http_status=503)
    h.run()
    assert h.events.reasons() == ["APIUnavailable"]


def test_recording_a_name_does_not_rewrite_a_finalizer_already_there() -> None:
    h = Harness()
    h.external.trunks[T1] = trunk(T1)
    h.add(spec={**SPEC, "resourceID": "t1"}, finalizers=[FINALIZER])
    h.run()
    (write,) = h.kube.metadata_writes()
    assert write[2]["finalizers"] is None


def test_a_settled_pass_sleeps_until_its_resync() -> None:
    h = Harness()
    h.settle()
    wake = h.run()
    assert wake is not None and 1000 + 450 <= wake < 1000 + 750


def test_log_lines_carry_the_object_reference(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness()
    h.settle()
    h.external.cache(trunk(T1, connections=[("c1", "CONNECTED")]))
    h.kube.fail_next = KubeError("boom", 500)
    with caplog.at_level("WARNING"):
        h.run()
    (record,) = [r for r in caplog.records if "status write failed" in r.getMessage()]
    assert record.k8s_ref == {"namespace": "ns", "name": "sip", "uid": "uid-sip"}  # type: ignore[attr-defined]


def test_two_changed_fields_are_sent_in_one_patch_with_both_in_the_mask() -> None:
    h = Harness()
    h.settle()
    h.edit(displayName="B", expectedHostname=["z.example.com"])
    h.run()
    assert h.external.api_calls("update") == [("update", (T1, ("displayName", "expectedHostname")))]
    patched = h.external.trunks[T1]
    assert (patched.display_name, patched.expected_hostname) == ("B", ["z.example.com"])
    assert "displayName, expectedHostname" in h.events.posted[0][1].message


def test_a_failed_listing_before_a_create_says_the_trunk_is_not_there() -> None:
    h = Harness()
    h.add()
    h.external.fail["list"] = PermissionDenied("denied", http_status=403)
    h.run()
    assert (h.condition("Ready")["status"], h.condition("Ready")["reason"]) == ("False", "PermissionDenied")


def test_an_unchanged_connection_posts_no_event_when_status_changes_for_another_reason() -> None:
    h = Harness()
    h.settle()
    h.external.cache(trunk(T1, connections=[("c1", "CONNECTED")]), also_in_api=True)
    h.run()
    h.external.cache(trunk(T1, display="edited", connections=[("c1", "CONNECTED")]), also_in_api=True)
    h.run()  # Drifted: the status is rewritten, the connection is as it was
    assert h.condition("Ready")["reason"] == "Drifted"
    assert h.events.reasons() == ["ConnectionHealthy"]


def test_a_forbidden_object_makes_no_call_reads_no_secret_and_stops_being_listed() -> None:
    h = Harness()
    h.settle()
    assert T1 in h.external.watched
    h.grant = Grant(())  # the policy no longer grants this namespace anything
    h.run()
    assert h.external.calls == [] and h.kube.secret_reads == []
    assert T1 not in h.external.watched  # its parent is no longer listed for it
    assert h.condition("Ready")["reason"] == "Forbidden" and h.condition("Stalled")["status"] == "True"
    h2 = Harness()
    h2.grant = Grant(())
    h2.add(spec={**SPEC, "managementPolicy": "ObserveOnly", "resourceID": "t1",
                 "credentialsSecretRef": {"name": "k"}})
    h2.run()
    assert h2.external.calls == [] and h2.external.watched == set() and h2.kube.secret_reads == []
