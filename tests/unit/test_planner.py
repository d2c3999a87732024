"""Table tests of the planner's pure decisions: next_step(view, facts, context) -> action or result."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from typing import Any

import pytest

from siptrunk_operator.api import OutcomeUnknown, Unavailable
from siptrunk_operator.plan.actions import (
    ClearMarker,
    DeleteTrunk,
    EnsureFinalizer,
    Facts,
    ListParent,
    Observation,
    Observe,
    ObserveMode,
    ReleaseFinalizer,
    ReportProgress,
    Result,
    Step,
    Unobservable,
    WriteMarker,
)
from siptrunk_operator.plan.conditions import ConditionUpdate, progress_conditions, synced_ok
from siptrunk_operator.plan.errors import Verdict
from siptrunk_operator.plan.identity import ObjectRef, Recovery, fingerprint
from siptrunk_operator.plan.pacing import create_settles_at, create_settles_in
from siptrunk_operator.plan.status import plan_status
from siptrunk_operator.plan.steps import Context, next_step, observe_mode, retrying
from siptrunk_operator.plan.view import CREATE_PENDING_ANNOTATION, TRUNK_NAME_ANNOTATION, ObjectView, PendingMarker
from siptrunk_operator.reasons import ConditionType, Reason
from siptrunk_operator.settings import FINALIZER, OperatorSettings
from siptrunk_operator.spec import Policy
from tests.unit.fakes import PARENT, trunk

SETTINGS = OperatorSettings()
T1 = f"{PARENT}/sipTrunks/t1"
SPEC: dict[str, Any] = {"projectID": "p", "expectedHostname": ["a.example.com"], "displayName": "A"}


def view(spec: dict[str, Any] | None = None, *, annotations: dict[str, str] | None = None,
         status: dict[str, Any] | None = None, finalizers: tuple[str, ...] = (FINALIZER,), deleting: bool = False,
         generation: int = 1) -> ObjectView:
    meta: dict[str, Any] = {"name": "sip", "namespace": "ns", "uid": "u", "generation": generation,
                            "resourceVersion": "1", "creationTimestamp": "2026-12-01T00:00:00Z",
                            "annotations": annotations or {}, "finalizers": list(finalizers)}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T01:00:00Z"
    return ObjectView.from_body({"metadata": meta, "spec": SPEC if spec is None else spec, "status": status or {}})


def ctx(claims: dict[str, list[ObjectRef]] | None = None, *, due: bool = False) -> Context:
    return Context(SETTINGS, lambda name: (claims or {}).get(name, []), now="2026-12-01T10:00:00Z", resync_due=due)


def ready(reason: str = "UpToDate", generation: int = 1) -> dict[str, Any]:
    return {"conditions": [{"type": "Ready", "status": "True", "reason": reason, "observedGeneration": generation},
                           {"type": "Synced", "status": "True", "reason": "Synced"}]}


def reason_of(step: Step, kind: str = "Ready") -> str | None:
    return next((str(c.reason) for c in step.result.conditions if c.type == kind), None)


OWNED = {TRUNK_NAME_ANNOTATION: T1}
CREATING = {"conditions": [{"type": "Ready", "status": "False", "reason": "Creating", "observedGeneration": 1}]}
"""Status once the pass has reported that it is creating the trunk."""


@pytest.mark.parametrize(("spec", "annotations", "message"), [
    ({"projectID": "p", "expectedHostname": "not-a-list"}, {}, "spec is invalid"),
    ({**SPEC, "resourceID": "projects/q/locations/global/sipTrunks/x"}, {}, "not under projects/p"),
    ({**SPEC, "resourceID": "other"}, {TRUNK_NAME_ANNOTATION: T1}, "create a new SipTrunk"),
    ({**SPEC, "managementPolicy": "ObserveOnly"}, {}, "ObserveOnly needs spec.resourceID"),
])
def test_invalid_specs_stall_with_a_message_and_no_action(spec: dict[str, Any], annotations: dict[str, str],
                                                          message: str) -> None:
    step = next_step(view(spec, annotations=annotations), Facts(), ctx())
    assert step.action is None and reason_of(step) == "InvalidSpec" and reason_of(step, "Synced") == "InvalidSpec"
    assert message in step.result.conditions[0].message
    assert step.result.retry_after == SETTINGS.invalid_spec_retry_seconds
    assert [str(e.reason) for e in step.result.events] == ["InvalidSpec"] and step.result.events[0].warning


def test_a_failure_already_reported_posts_no_second_event() -> None:
    status = {"conditions": [{"type": "Ready", "status": "False", "reason": "InvalidSpec"},
                             {"type": "Synced", "status": "False", "reason": "InvalidSpec"}]}
    step = next_step(view({**SPEC, "managementPolicy": "ObserveOnly"}, status=status), Facts(), ctx())
    assert reason_of(step) == "InvalidSpec" and step.result.events == ()


def test_a_new_object_reports_creating_lists_then_writes_the_marker() -> None:
    first = next_step(view(finalizers=()), Facts(), ctx())
    assert isinstance(first.action, ReportProgress)
    assert [(c.type, c.status, c.reason) for c in first.action.conditions] == [("Ready", "False", "Creating")]
    stale = {"conditions": [{**CREATING["conditions"][0], "observedGeneration": 1}]}
    assert isinstance(next_step(view(status=stale, generation=2), Facts(), ctx()).action, ReportProgress)
    listing = next_step(view(finalizers=(), status=CREATING), Facts(), ctx())
    assert listing.action == ListParent("p", "global")  # the listing comes before the marker
    step = next_step(view(finalizers=(), status=CREATING), Facts(listing=()), ctx())
    assert isinstance(step.action, WriteMarker)
    stamp, _, digest = step.action.value.partition(" ")
    assert stamp == "2026-12-01T10:00:00Z" and len(digest) == 16


@pytest.mark.parametrize(("status", "due", "mode"), [
    (ready(), False, ObserveMode.CACHE_ONLY),
    (ready(), True, ObserveMode.CACHE_FIRST),
    (ready(generation=0), False, ObserveMode.CACHE_FIRST),  # a generation still to apply
    (ready("Drifted"), False, ObserveMode.CACHE_ONLY),
    (ready("InvalidSpec"), False, ObserveMode.CACHE_FIRST),
    ({}, False, ObserveMode.CACHE_FIRST),
])
def test_observe_mode(status: dict[str, Any], due: bool, mode: ObserveMode) -> None:
    v = view(status=status, annotations=OWNED)
    assert observe_mode(v, ctx(due=due)) is mode
    step = next_step(v, Facts(), ctx(due=due))
    assert step.action == Observe(T1, mode)


def test_a_pending_marker_means_not_settled() -> None:
    v = view(status=ready(), annotations={TRUNK_NAME_ANNOTATION: T1, CREATE_PENDING_ANNOTATION: "x y"})
    assert observe_mode(v, ctx()) is ObserveMode.CACHE_FIRST


def test_a_lost_finalizer_is_put_back_before_anything_else() -> None:
    v = view(status=ready(), finalizers=(), annotations=OWNED)
    step = next_step(v, Facts(observed=Observation(T1, trunk(T1), "t")), ctx())
    assert isinstance(step.action, EnsureFinalizer)


def test_waiting_for_the_first_listing_writes_nothing() -> None:
    step = next_step(view(status=ready(), annotations=OWNED), Facts(unobservable=Unobservable(None)), ctx())
    assert step == Step(result=Result(write_status=False))


def test_in_sync_from_the_cache_is_not_a_round_trip_but_a_get_is() -> None:
    v = view(status=ready(), annotations=OWNED)
    cached = next_step(v, Facts(observed=Observation(T1, trunk(T1), "t", from_cache=True)), ctx())
    fetched = next_step(v, Facts(observed=Observation(T1, trunk(T1), "t")), ctx())
    assert reason_of(cached) == reason_of(fetched) == "UpToDate"
    assert (cached.result.round_trip, cached.result.resynced) == (False, False)
    assert (fetched.result.round_trip, fetched.result.resynced) == (True, True)
    assert next_step(v, Facts(observed=Observation(T1, trunk(T1), "t", from_cache=True)),
                     ctx(due=True)).result.resynced


def test_a_kubernetes_failure_leaves_ready_alone() -> None:
    verdict = Verdict(Reason.KUBERNETES_API_ERROR, "HTTP 500", 30)
    step = next_step(view(), Facts(kube_failure=verdict), ctx())
    assert reason_of(step) is None and reason_of(step, "Synced") == "KubernetesAPIError"
    assert step.result.retry_after == 30


def test_an_observation_made_before_a_failure_keeps_health_current() -> None:
    error = Unavailable("down", http_status=503)
    error.action = "update"
    observed = Observation(T1, trunk(T1, connections=[("c", "CONNECTED")]), "t")
    step = next_step(view(annotations=OWNED), Facts(observed=observed, failure=error), ctx())
    assert step.result.mirror == observed and reason_of(step) == "APIUnavailable"


def test_a_conflict_never_observes() -> None:
    claims = {T1: [ObjectRef(0, "2026-01-01T00:00:00Z", "other", "owner")]}
    step = next_step(view({**SPEC, "resourceID": "t1"}), Facts(), ctx(claims))
    assert step.action is None and reason_of(step) == "Conflict"
    assert step.result.retry_after == SETTINGS.permission_retry_seconds
    mine = {T1: [ObjectRef(1, "2026-12-02T00:00:00Z", "other", "newer")]}
    assert isinstance(next_step(view(annotations=OWNED), Facts(), ctx(mine)).action, Observe)


def test_observe_only_ignores_other_claims() -> None:
    claims = {T1: [ObjectRef(0, "2026-01-01T00:00:00Z", "other", "owner")]}
    v = view({**SPEC, "resourceID": "t1", "managementPolicy": "ObserveOnly"})
    assert isinstance(next_step(v, Facts(), ctx(claims)).action, Observe)
    done = next_step(v, Facts(observed=Observation(T1, trunk(T1, display="other"), "t")), ctx(claims))
    assert reason_of(done) == "Observed" and done.action is None


# -- delete ---------------------------------------------------------------------------------------


def test_deleting_an_unreadable_spec_abandons_rather_than_guess() -> None:
    step = next_step(view({"projectID": "p", "expectedHostname": 5}, deleting=True, annotations=OWNED), Facts(), ctx())
    assert isinstance(step.action, ReleaseFinalizer)
    assert "cannot be read" in step.events[0].message and str(step.events[0].reason) == "Abandoned"


def test_deleting_during_uninstall_abandons() -> None:
    v = view(deleting=True, annotations=OWNED)
    assert next_step(v, Facts(), ctx()).action is not None
    step = next_step(v, Facts(uninstalling=True), ctx())
    assert isinstance(step.action, ReleaseFinalizer) and "uninstall" in step.events[0].message
    assert T1 in step.events[0].message


def test_deleting_an_object_that_never_made_a_trunk() -> None:
    step = next_step(view(deleting=True), Facts(uninstalling=False), ctx())
    assert isinstance(step.action, ReleaseFinalizer) and "No trunk was recorded" in step.events[0].message


def test_deleting_without_the_finalizer_writes_nothing() -> None:
    step = next_step(view(deleting=True, finalizers=()), Facts(), ctx())
    assert step.action is None and not step.result.write_status


def test_a_failed_delete_reports_kubernetes_errors_too() -> None:
    verdict = Verdict(Reason.KUBERNETES_API_ERROR, "HTTP 500", 30)
    step = next_step(view(deleting=True, annotations=OWNED), Facts(kube_failure=verdict), ctx())
    assert reason_of(step, "Synced") == "KubernetesAPIError" and reason_of(step) is None


def test_existing_trunk_clears_this_passes_marker_before_stalling() -> None:
    marker = {CREATE_PENDING_ANNOTATION: "2026-12-01T10:00:00Z abc"}
    listing = (trunk(T1),)
    step = next_step(view(annotations=marker, status=CREATING), Facts(listing=listing, marker_written=True), ctx())
    assert isinstance(step.action, ClearMarker)
    done = next_step(view(status=CREATING), Facts(listing=listing, marker_written=True), ctx())
    assert reason_of(done) == "ExistingTrunkFound"


def test_the_claims_index_entry() -> None:
    assert view(annotations=OWNED).claim() == {T1: ObjectRef(0, "2026-12-01T00:00:00Z", "ns", "sip")}
    assert view({**SPEC, "resourceID": "t1"}).claim() == {T1: ObjectRef(1, "2026-12-01T00:00:00Z", "ns", "sip")}
    assert view({**SPEC, "resourceID": "t1", "managementPolicy": "ObserveOnly"}).claim() is None
    assert view({**SPEC, "resourceID": "projects/q/locations/global/sipTrunks/x"}).claim() is None
    assert view({**SPEC, "resourceID": "projects/q/locations/global/sipTrunks/x"}).ref.rank == 1
    assert view().claim() is None
    assert view(status={"name": T1}).claimed_name == T1


# -- the status a pass writes -------------------------------------------------------------------------


def _result(**kwargs: Any) -> Result:
    return Result(**kwargs)


def test_the_status_mirrors_the_trunk_with_the_fields_kubectl_prints() -> None:
    observed = Observation(T1, trunk(T1, hosts=("b.example.com", "a.example.com"),
                                     connections=[("c1", "CONNECTED"), ("c2", "DISCONNECTED")]), "2026-12-01T10:00:00Z")
    write = plan_status(view(), _result(mirror=observed, record_name=T1, round_trip=True), now="NOW")
    assert write is not None
    patch = write.patch
    assert (patch["name"], patch["hostnames"], patch["connected"], patch["certificates"]) == (
        T1, "a.example.com,b.example.com", "1/2", "Valid")
    assert patch["connections"] == [{"connectionId": "c1", "state": "CONNECTED"},
                                    {"connectionId": "c2", "state": "DISCONNECTED"}]
    assert (patch["observedTime"], patch["lastSyncTime"], patch["observedGeneration"]) == (
        "2026-12-01T10:00:00Z", "NOW", 1)
    assert [c["type"] for c in patch["conditions"]] == ["Connected", "CertificatesValid", "Reconciling", "Stalled"]
    assert [(str(e.reason), e.warning) for e in write.events] == [("ConnectionHealthy", False),
                                                                 ("ConnectionUnhealthy", True)]


def test_a_missing_trunk_clears_what_described_it() -> None:
    mirrored = {"name": T1, "hostnames": "a", "connected": "1/1", "connections": [{"connectionId": "c"}],
                "certificates": "Valid", "observedGeneration": 1}
    write = plan_status(view(status=mirrored), _result(clear_mirror=True), now="NOW")
    assert write is not None
    assert {k: write.patch[k] for k in ("hostnames", "connected", "connections", "certificates")} == dict.fromkeys(
        ("hostnames", "connected", "connections", "certificates"))
    assert "name" not in write.patch  # the recorded name stays: it says which trunk went missing


def test_confirmations_alone_are_not_written_and_nothing_is_written_for_the_gone() -> None:
    observed = Observation(T1, trunk(T1), "2026-12-01T10:00:00Z")
    first = plan_status(view(), _result(mirror=observed, record_name=T1, round_trip=True), now="T1")
    assert first is not None
    settled = view(status=first.patch)
    later = Observation(T1, trunk(T1), "2026-12-01T10:09:00Z")
    assert plan_status(settled, _result(mirror=later, record_name=T1, round_trip=True), now="T2") is None
    assert plan_status(settled, _result(write_status=False), now="T2") is None


def test_kstatus_messages_say_what_to_expect() -> None:
    stalled = progress_conditions([{"type": "Ready", "status": "False", "reason": "Conflict", "message": "owned"}])
    assert [(c.type, c.status, c.message) for c in stalled] == [
        ("Reconciling", "False", "Waiting for a person to act."), ("Stalled", "True", "owned")]
    busy = progress_conditions([{"type": "Synced", "status": "False", "reason": "APIUnavailable", "message": "503"}])
    assert [(c.type, c.status, c.reason, c.message) for c in busy] == [
        ("Reconciling", "True", "APIUnavailable", "503"),
        ("Stalled", "False", "Progressing", "The operator is still converging.")]
    done = progress_conditions([{"type": "Ready", "status": "True", "reason": "UpToDate"}])
    assert [(c.status, c.reason, c.message) for c in done] == [("False", "UpToDate", "Nothing left to do.")] * 2
    assert synced_ok().message == "The last API round trip succeeded."


def test_plan_values_are_immutable_and_hashable() -> None:
    values = {ObjectRef(0, "t", "ns", "a"), Observe(T1, ObserveMode.CACHE_ONLY), Facts(), Result(), Step(),
              Observation(T1, None, "t"), ConditionUpdate(ConditionType.READY, "True", Reason.UP_TO_DATE, "m"),
              PendingMarker("t", "f"), Verdict(Reason.CONFLICT, "m", 1.0), Recovery()}
    assert len(values) == 10


@pytest.mark.parametrize(("extra", "policy"), [
    ({}, Policy()),
    ({"deletionPolicy": "Abandon"}, Policy(abandon=True)),
    ({"managementPolicy": "ObserveOnly", "resourceID": "t1"}, Policy(observe_only=True, abandon=True)),
    ({"recreateIfMissing": True}, Policy(recreate_if_missing=True)),
    ({"recreateIfMissing": True, "resourceID": "t1"}, Policy()),  # an adopted trunk is never re-created
    ({"recreateIfMissing": True, "managementPolicy": "ObserveOnly", "resourceID": "t1"},
     Policy(observe_only=True, abandon=True)),
])
def test_the_policy_is_resolved_once_from_the_spec(extra: dict[str, Any], policy: Policy) -> None:
    assert view({**SPEC, **extra}).policy == policy


# -- edges that decide what a user sees ------------------------------------------------------------------


def test_a_context_without_a_due_resync_reads_the_cache_only() -> None:
    context = Context(SETTINGS, lambda name: [], now="t")
    assert observe_mode(view(status=ready(), annotations=OWNED), context) is ObserveMode.CACHE_ONLY
    with pytest.raises(FrozenInstanceError):
        context.resync_due = True  # type: ignore[misc]


def test_exact_messages() -> None:
    step = next_step(view({**SPEC, "managementPolicy": "ObserveOnly"}), Facts(), ctx())
    assert step.result.conditions[0].message == "ObserveOnly needs spec.resourceID to name the trunk to observe."
    drifted = next_step(view(status=ready(), annotations=OWNED),
                        Facts(observed=Observation(T1, trunk(T1, hosts=("x.example.com",), display="B"), "t",
                                                   from_cache=True)), ctx())
    assert drifted.result.conditions[0].message == (
        f"displayName, expectedHostname of {T1} differ from spec in the API; the next resync reverts them.")
    nothing = next_step(view(deleting=True), Facts(uninstalling=False), ctx())
    assert nothing.events[0].message == "No trunk was recorded for this object; nothing to delete in the API."
    abandoned = next_step(view({**SPEC, "deletionPolicy": "Abandon"}, deleting=True), Facts(), ctx())
    assert abandoned.events[0].message == "deletionPolicy Abandon: any trunk is left in the API."
    assert not abandoned.events[0].warning


def test_a_new_ready_reason_is_news_even_when_synced_already_said_it() -> None:
    status = {"conditions": [{"type": "Ready", "status": "True", "reason": "UpToDate"},
                             {"type": "Synced", "status": "False", "reason": "InvalidSpec"}]}
    step = next_step(view({**SPEC, "managementPolicy": "ObserveOnly"}, status=status), Facts(), ctx())
    assert [str(e.reason) for e in step.result.events] == ["InvalidSpec"]


def test_recording_an_interrupted_adoption_is_not_a_second_adopted_event() -> None:
    v = view({**SPEC, "resourceID": "t1"}, annotations={TRUNK_NAME_ANNOTATION: T1, CREATE_PENDING_ANNOTATION: "x y"})
    step = next_step(v, Facts(observed=Observation(T1, trunk(T1), "t")), ctx())
    assert step.action is not None and step.events == ()


def test_while_a_retry_is_paced_nothing_but_health_is_refreshed() -> None:
    paced = Context(SETTINGS, lambda name: [], now="t", retry_in=42.0)
    v = view(status=ready(), annotations=OWNED)
    assert next_step(v, Facts(), paced).action == Observe(T1, ObserveMode.CACHE_ONLY)
    for facts in (Facts(unobservable=Unobservable(None)), Facts(observed=Observation(T1, None, "t"))):
        waiting = next_step(v, facts, paced)
        assert waiting.action is None and not waiting.result.write_status and waiting.result.retry_after == 42.0
    observed = Observation(T1, trunk(T1, display="drifted"), "t")
    mirrored = next_step(v, Facts(observed=observed), paced)
    assert mirrored.result == Result(mirror=observed, retry_after=42.0)
    assert next_step(view(), Facts(), paced).result == Result(write_status=False, retry_after=42.0)


def test_a_fresh_pass_that_finds_two_existing_trunks_takes_back_its_marker() -> None:
    t2 = f"{PARENT}/sipTrunks/t2"
    marker = {CREATE_PENDING_ANNOTATION: "2026-12-01T10:00:00Z abc"}
    facts = Facts(listing=(trunk(T1), trunk(t2)), marker_written=True)
    assert isinstance(next_step(view(annotations=marker, status=CREATING), facts, ctx()).action, ClearMarker)
    done = next_step(view(status=CREATING), facts, ctx())
    assert reason_of(done) == "ExistingTrunkFound" and T1 in done.result.conditions[0].message


def test_a_trunk_another_object_claims_is_never_recovered_into_this_one() -> None:
    marker = {CREATE_PENDING_ANNOTATION: f"x {fingerprint(['a.example.com'], 'A')}"}
    claims = {T1: [ObjectRef(0, "2026-01-01T00:00:00Z", "other", "owner")]}
    step = next_step(view(annotations=marker), Facts(listing=(trunk(T1),)), ctx(claims))
    assert isinstance(step.action, WriteMarker)  # creates again, within a marker of its own
    ours = {CREATE_PENDING_ANNOTATION: step.action.value}
    step = next_step(view(annotations=ours, status=CREATING), Facts(listing=(trunk(T1),), marker_written=True),
                     ctx(claims))
    assert step.action is not None and type(step.action).__name__ == "CreateTrunk"
    mine = {T1: [ObjectRef(1, "2026-12-01T00:00:00Z", "ns", "sip")]}  # this object's own claim does not count
    assert type(next_step(view(annotations=marker), Facts(listing=(trunk(T1),)), ctx(mine)).action).__name__ \
        == "RecordIdentity"


def test_recovery_matches_what_the_marker_says_was_sent() -> None:
    marker = {CREATE_PENDING_ANNOTATION: f"x {fingerprint(['a.example.com'], 'A')}"}
    edited = {**SPEC, "displayName": "renamed while the create was in doubt"}
    step = next_step(view(edited, annotations=marker), Facts(listing=(trunk(T1),)), ctx())
    assert type(step.action).__name__ == "RecordIdentity" and str(step.events[0].reason) == "Recovered"


def test_a_failed_delete_leaves_ready_as_it_was() -> None:
    error = Unavailable("down", http_status=503)
    error.action = "delete"
    step = next_step(view(deleting=True, annotations=OWNED), Facts(failure=error), ctx())
    assert reason_of(step) is None and reason_of(step, "Synced") == "APIUnavailable"
    t2 = f"{PARENT}/sipTrunks/t2"
    marker = {CREATE_PENDING_ANNOTATION: f"x {fingerprint(['a.example.com'], 'A')}"}
    ambiguous = next_step(view(deleting=True, annotations=marker),
                          Facts(listing=(trunk(T1), trunk(t2)), uninstalling=False), ctx())
    assert reason_of(ambiguous) is None and reason_of(ambiguous, "Synced") == "CreateOutcomeUnknown"


def test_deleted_events_say_whether_the_trunk_was_still_there() -> None:
    step = next_step(view(deleting=True, annotations=OWNED),
                     Facts(uninstalling=False, deleted=((T1, False),)), ctx())
    assert [e.message for e in step.events] == [f"Trunk {T1} was already gone from the API"]
    step = next_step(view(deleting=True, annotations=OWNED), Facts(uninstalling=False, deleted=((T1, True),)), ctx())
    assert [e.message for e in step.events] == [f"Deleted trunk {T1}"]


def test_abandoning_an_unreadable_spec_is_a_warning() -> None:
    step = next_step(view({"projectID": "p", "expectedHostname": 5}, deleting=True), Facts(), ctx())
    assert step.events[0].warning


def test_only_a_lone_sync_time_is_not_worth_a_write() -> None:
    observed = Observation(T1, trunk(T1), "2026-12-01T10:00:00Z")
    first = plan_status(view(), Result(mirror=observed, record_name=T1, round_trip=True), now="T1")
    assert first is not None
    assert plan_status(view(status=first.patch), Result(mirror=observed, record_name=T1, round_trip=True),
                       now="T2") is None


def test_views_and_writes_are_values() -> None:
    v = view()
    with pytest.raises(FrozenInstanceError):
        v.name = "other"  # type: ignore[misc]
    write = plan_status(v, Result(conditions=(synced_ok(),)), now="t")
    assert write is not None
    with pytest.raises(FrozenInstanceError):
        write.patch = {}  # type: ignore[misc]


def test_the_marker_fingerprint_is_stable_across_versions() -> None:
    """Markers outlive the process that wrote them: the digest of what was sent must not change."""
    assert fingerprint(["B.example.com", "a.example.com"], "A") == fingerprint(["a.example.com", "b.example.com"], "A")
    assert fingerprint(["a.example.com", "b.example.com"], "A") == "3bbe0e3bea13c7dc"


# -- an interrupted create: nothing is decided before it can no longer commit -----------------------------

IN_FLIGHT = {CREATE_PENDING_ANNOTATION: f"2026-12-01T09:59:30Z {fingerprint(['a.example.com'], 'A')}"}
"""A marker 30 s old: with a 60 s deadline and a 30 s margin its create may commit for 60 s more."""


@pytest.mark.parametrize("deleting", [False, True])
def test_an_earlier_marker_waits_exactly_until_its_create_settles(deleting: bool) -> None:
    step = next_step(view(annotations=IN_FLIGHT, deleting=deleting), Facts(uninstalling=False), ctx())
    assert step.action is None and step.result.retry_after == 60.0
    assert reason_of(step) == "CreatePending" and "2026-12-01T10:01:00Z" in step.result.conditions[0].message
    later = Context(SETTINGS, lambda name: [], now="2026-12-01T10:01:00Z")
    assert isinstance(next_step(view(annotations=IN_FLIGHT, deleting=deleting), Facts(uninstalling=False),
                                later).action, ListParent)


def test_the_settle_time_is_the_deadline_plus_the_margin() -> None:
    short = OperatorSettings(create_deadline_seconds=10, create_settle_margin_seconds=5)
    assert create_settles_in("2026-12-01T09:59:50Z", "2026-12-01T10:00:00Z", short) == 5.0
    assert create_settles_in("2026-12-01T09:59:45Z", "2026-12-01T10:00:00Z", short) == 0.0
    assert create_settles_in("2026-12-01T09:59:44Z", "2026-12-01T10:00:00Z", short) == 0.0
    assert create_settles_in("not a time", "2026-12-01T10:00:00Z", short) == 0.0  # nothing of ours to wait for
    assert create_settles_in("2026-12-01T09:59:50", "2026-12-01T10:00:00Z", short) == 5.0  # no zone: UTC
    assert create_settles_at("2026-12-01T09:59:50Z", short) == "2026-12-01T10:00:05Z"


def test_a_settled_marker_whose_create_did_not_commit_creates_again_within_a_fresh_marker() -> None:
    settled = {CREATE_PENDING_ANNOTATION: f"2026-12-01T09:50:00Z {fingerprint(['a.example.com'], 'A')}"}
    step = next_step(view(annotations=settled, status=CREATING), Facts(listing=()), ctx())
    assert step.action == WriteMarker(f"2026-12-01T10:00:00Z {fingerprint(['a.example.com'], 'A')}")


def test_a_create_whose_outcome_is_unknown_waits_for_it_to_settle() -> None:
    error = OutcomeUnknown("lost")
    error.action = "create"
    fresh = {CREATE_PENDING_ANNOTATION: f"2026-12-01T10:00:00Z {fingerprint(['a.example.com'], 'A')}"}
    step = next_step(view(annotations=fresh, status=CREATING), Facts(failure=error, marker_written=True), ctx())
    assert step.action is None and step.result.retry_after == 90.0
    assert reason_of(step) == "CreatePending" and reason_of(step, "Synced") == "OutcomeUnknown"


def test_two_matches_after_a_settled_create_are_rechecked_at_the_listing_pace() -> None:
    t2 = f"{PARENT}/sipTrunks/t2"
    marker = {CREATE_PENDING_ANNOTATION: f"2026-12-01T09:50:00Z {fingerprint(['a.example.com'], 'A')}"}
    for deleting in (False, True):
        step = next_step(view(annotations=marker, deleting=deleting),
                         Facts(listing=(trunk(T1), trunk(t2)), uninstalling=False), ctx())
        assert reason_of(step, "Synced") == "CreateOutcomeUnknown"
        assert step.result.retry_after == SETTINGS.refresh_slow_seconds
        message = step.result.conditions[0].message
        assert T1 in message and t2 in message and "09:50:00Z" in message


def test_a_resource_id_set_during_deletion_names_the_only_trunk_deleted() -> None:
    marker = {CREATE_PENDING_ANNOTATION: f"2026-12-01T09:50:00Z {fingerprint(['a.example.com'], 'A')}"}
    step = next_step(view({**SPEC, "resourceID": "t1"}, annotations=marker, deleting=True),
                     Facts(uninstalling=False), ctx())
    assert step.action == DeleteTrunk(T1)  # no listing: the other match is someone else's


def test_a_delete_in_the_pass_that_wrote_the_marker_does_not_recover_someone_elses_trunk() -> None:
    fresh = {CREATE_PENDING_ANNOTATION: f"2026-12-01T10:00:00Z {fingerprint(['a.example.com'], 'A')}"}
    step = next_step(view(annotations=fresh, deleting=True), Facts(marker_written=True, uninstalling=False), ctx())
    assert isinstance(step.action, ReleaseFinalizer)  # nothing was created in this pass: nothing to delete


def test_a_write_still_retrying_says_synced_false_with_its_error_class() -> None:
    error = Unavailable("down", http_status=503)
    error.action = "delete"
    result = retrying(view(deleting=True, annotations=OWNED), error, 4.0, SETTINGS)
    (synced,) = result.conditions
    assert (synced.type, synced.status, synced.reason) == ("Synced", "False", "APIUnavailable")
    assert "delete" in synced.message and "retrying in 4 s" in synced.message
    assert [str(e.reason) for e in result.events] == ["APIUnavailable"]
    already = {"conditions": [{"type": "Synced", "status": "False", "reason": "APIUnavailable"}]}
    assert retrying(view(status=already), error, 4.0, SETTINGS).events == ()


@pytest.mark.parametrize("deleting", [False, True])
def test_half_a_second_before_the_settle_time_is_still_too_early(deleting: bool) -> None:
    almost = {CREATE_PENDING_ANNOTATION: f"2026-12-01T09:58:30.500000Z {fingerprint(['a.example.com'], 'A')}"}
    step = next_step(view(annotations=almost, deleting=deleting), Facts(uninstalling=False), ctx())
    assert step.action is None and step.result.retry_after == pytest.approx(0.5)
    assert reason_of(step) == "CreatePending"
