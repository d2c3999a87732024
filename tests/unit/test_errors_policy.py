"""Each API error class maps to a condition reason, a message and a retry pace."""

from __future__ import annotations

import pytest

from siptrunk_operator.api import (
    ApiError,
    FailedPrecondition,
    InvalidArgument,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    ServerError,
    Unauthenticated,
    Unavailable,
)
from siptrunk_operator.plan.errors import ApiAction, classify, kube_verdict
from siptrunk_operator.settings import OperatorSettings

SETTINGS = OperatorSettings()


def _on(error: ApiError, action: str) -> ApiError:
    error.action = action
    return error


@pytest.mark.parametrize(
    ("error", "action", "reason"),
    [
        (InvalidArgument("bad hostname", http_status=400), "create", "InvalidSpec"),
        (FailedPrecondition("not allowlisted", http_status=400), "update", "InvalidSpec"),
        (PermissionDenied("denied", http_status=403), "delete", "PermissionDenied"),
        (Unauthenticated("no token", http_status=401), "get", "PermissionDenied"),
        (RateLimited("quota", http_status=429), "list", "RateLimited"),
        (Unavailable("down", http_status=503), "get", "APIUnavailable"),
        (ServerError("boom", http_status=500), "update", "APIUnavailable"),
        (OutcomeUnknown("lost"), "create", "OutcomeUnknown"),
    ],
)
def test_reason_per_error_class(error: ApiError, action: str, reason: str) -> None:
    assert classify(_on(error, action), settings=SETTINGS).reason == reason


def test_permission_denied_names_the_missing_permission() -> None:
    verdict = classify(_on(PermissionDenied("denied", http_status=403), "delete"), settings=SETTINGS)
    assert "dialogflow.siptrunks.delete" in verdict.message
    assert verdict.retry_after == SETTINGS.permission_retry_seconds


def test_rate_limited_honours_retry_info() -> None:
    error = RateLimited("quota", http_status=429, retry_delay=300)
    assert classify(_on(error, "create"), settings=SETTINGS).retry_after == 300


def test_a_rejected_spec_costs_at_most_ten_calls_an_hour() -> None:
    verdict = classify(_on(InvalidArgument("bad", http_status=400), "create"), settings=SETTINGS)
    calls_per_attempt = 2  # the list that guards a create, then the create
    assert 3600 / verdict.retry_after * calls_per_attempt <= 10


def test_a_failed_read_names_the_get_permission_and_unknown_actions_count_as_reads() -> None:
    assert ApiAction.GET.permission == "dialogflow.siptrunks.get"
    verdict = classify(_on(PermissionDenied("denied", http_status=403), "get"), settings=SETTINGS)
    assert "dialogflow.siptrunks.get for the get" in verdict.message
    assert "for the get" in classify(_on(PermissionDenied("denied", http_status=403), "frobnicate"),
                                     settings=SETTINGS).message


def test_a_rate_limit_without_retry_info_waits_the_error_delay() -> None:
    fast = OperatorSettings(error_retry_seconds=0.5)
    assert classify(_on(RateLimited("quota", http_status=429), "list"), settings=fast).retry_after == 0.5


def test_kubernetes_failures_name_the_status_or_the_error() -> None:
    assert "HTTP 500" in kube_verdict(500, "KubeError", SETTINGS).message
    assert "(KubeError)" in kube_verdict(None, "KubeError", SETTINGS).message
