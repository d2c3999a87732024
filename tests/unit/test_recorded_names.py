"""A recorded trunk name (the trunk-name annotation, else status.name) the operator cannot trust:
set by hand to another project's trunk, or with segments that would not stay in their place in a
URL (`/..`, a trailing newline, `?`, `%2F`). Each is InvalidSpec with no API action at all, and
deleting the object releases the finalizer without one."""

from __future__ import annotations

from typing import Any

import pytest

from siptrunk_operator.plan.actions import CheckUninstall, Facts, ReleaseFinalizer
from siptrunk_operator.plan.identity import ObjectRef
from siptrunk_operator.plan.steps import Context, next_step
from siptrunk_operator.plan.view import TRUNK_NAME_ANNOTATION, ObjectView
from siptrunk_operator.reasons import EventReason, Reason
from siptrunk_operator.settings import FINALIZER, OperatorSettings

PARENT = "projects/p/locations/global"
BAD = [
    pytest.param("projects/victim/locations/global/sipTrunks/JxN1ndLCR9OJvgrDlc32_Q", id="another-project"),
    pytest.param("projects/p/locations/europe-west3/sipTrunks/abc", id="another-location"),
    pytest.param(f"{PARENT}/sipTrunks/..", id="dot-dot"),
    pytest.param(f"{PARENT}/sipTrunks/.", id="dot"),
    pytest.param(f"{PARENT}/sipTrunks/abc\n", id="trailing-newline"),
    pytest.param(f"{PARENT}/sipTrunks/a?b", id="query"),
    pytest.param(f"{PARENT}/sipTrunks/a%2F..", id="percent-escape"),
    pytest.param(f"{PARENT}/sipTrunks/a/b", id="extra-segment"),
    pytest.param("projects/p/locations/global\n/sipTrunks/abc", id="newline-in-location"),
]


def _view(recorded: str, *, where: str, deleting: bool = False) -> ObjectView:
    meta: dict[str, Any] = {"name": "sip", "namespace": "ns", "uid": "u", "generation": 1, "resourceVersion": "1",
                            "creationTimestamp": "2026-12-01T00:00:00Z", "finalizers": [FINALIZER],
                            "annotations": {TRUNK_NAME_ANNOTATION: recorded} if where == "annotation" else {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T01:00:00Z"
    status = {"name": recorded} if where == "status" else {}
    return ObjectView.from_body({"metadata": meta, "status": status,
                                 "spec": {"projectID": "p", "expectedHostname": ["a.example.com"]}})


def _ctx(claims: dict[str, list[ObjectRef]] | None = None) -> Context:
    return Context(OperatorSettings(), lambda name: (claims or {}).get(name, []), now="2026-12-01T10:00:00Z")


@pytest.mark.parametrize("where", ["annotation", "status"])
@pytest.mark.parametrize("recorded", BAD)
def test_an_untrusted_recorded_name_is_invalid_spec_with_no_api_action(recorded: str, where: str) -> None:
    view = _view(recorded, where=where)
    step = next_step(view, Facts(), _ctx())
    assert step.action is None  # no Observe (GET), no PATCH, no listing: nothing reaches the API
    reasons = {str(c.type): str(c.reason) for c in step.result.conditions}
    assert reasons == {"Synced": Reason.INVALID_SPEC, "Ready": Reason.INVALID_SPEC}
    message = step.result.conditions[0].message
    assert repr(recorded) in message and "not a trunk under projects/p/locations/global" in message
    assert view.claim() is None  # it claims nothing, so it can never win a conflict against the real owner
    with pytest.raises(ValueError, match="not a trunk under"):
        _ = view.claimed_name  # so the loop never asks the shared listing to follow it either


@pytest.mark.parametrize("where", ["annotation", "status"])
@pytest.mark.parametrize("recorded", BAD)
def test_deleting_it_releases_the_finalizer_without_an_api_call(recorded: str, where: str) -> None:
    step = next_step(_view(recorded, where=where, deleting=True), Facts(), _ctx())
    assert isinstance(step.action, ReleaseFinalizer)
    (event,) = step.events
    assert event.reason == EventReason.ABANDONED and "Nothing is deleted in the API" in event.message


def test_a_good_recorded_name_is_still_deleted() -> None:
    step = next_step(_view(f"{PARENT}/sipTrunks/abc", where="annotation", deleting=True), Facts(), _ctx())
    assert isinstance(step.action, CheckUninstall)  # then DeleteTrunk: the usual path
