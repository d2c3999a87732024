"""One clear line for each way the listing can fail, naming what to check; never a secret."""

from __future__ import annotations

import pytest

from siptrunk_operator.api import (
    ApiError,
    ApiTransportError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ServerError,
    Unauthenticated,
)
from siptrunk_operator.inventory.errors import InventoryError, listing_failure
from siptrunk_operator.inventory.locations import DOCUMENTED_LOCATIONS, checked_location

CREDENTIALS = "--credentials /keys/sa.json"


@pytest.mark.parametrize(
    ("error", "location", "expected"),
    [
        (PermissionDenied("Permission 'dialogflow.siptrunks.list' denied", http_status=403,
                          metadata={"permission": "dialogflow.siptrunks.list"}), "global",
         "permission denied: the credentials (--credentials /keys/sa.json) lack dialogflow.siptrunks.list on "
         "projects/p-proj/locations/global (grant roles/dialogflow.admin or dialogflow.siptrunks.list)"),
        (PermissionDenied("denied", http_status=403), "global", "lack dialogflow.siptrunks.list on"),
        (Unauthenticated("token refresh failed: invalid_grant: Invalid grant: account not found."), "global",
         "bad credentials (--credentials /keys/sa.json): token refresh failed: invalid_grant"),
        (Unauthenticated("Request had invalid authentication credentials.\nExpected OAuth 2 access token",
                         http_status=401), "global",
         "bad credentials (--credentials /keys/sa.json): Request had invalid authentication credentials. Expected"),
        (ApiTransportError("ConnectError connecting to europe-wst3-dialogflow.googleapis.com", request_sent=False),
         "europe-west3", "cannot reach europe-west3-dialogflow.googleapis.com, the host serving location "
                         "'europe-west3'"),
        (InvalidArgument("Please switch to 'us-east1-dialogflow.googleapis.com' to access resources located in "
                         "'us-east1'.", http_status=400, reason="LOCATION_HOST_MISMATCH"), "us-east1",
         "wrong location 'us-east1': Please switch to"),
        (InvalidArgument("Please switch to 'europe-west1-dialogflow.googleapis.com' to access resources located in "
                         "'europe-west1'.", http_status=400), "europe-west1", "wrong location 'europe-west1'"),
        (InvalidArgument("page_size must not be negative", http_status=400), "global",
         "listing projects/p-proj/locations/global failed: 400 INVALID_ARGUMENT"),
        (NotFound("Project not found", http_status=404), "global", "projects/p-proj/locations/global not found"),
        (ServerError("boom", http_status=500), "global", "listing projects/p-proj/locations/global failed: 500"),
        (ApiError("Bearer ya29.secret-token leaked"), "global", "Bearer [REDACTED]"),
    ],
)
def test_listing_failures(error: ApiError, location: str, expected: str) -> None:
    message = str(listing_failure(error, project="p-proj", location=location, credentials=CREDENTIALS))
    assert expected in message
    assert "\n" not in message and "ya29" not in message


@pytest.mark.parametrize("location", DOCUMENTED_LOCATIONS)
def test_documented_locations_pass(location: str) -> None:
    assert checked_location(location) == location


@pytest.mark.parametrize(
    ("location", "any_location", "error"),
    [
        ("europe-wst3", False, "unknown location 'europe-wst3': Dialogflow serves global,"),
        ("us", False, "unknown location 'us'"),  # retired in 2024: the API answers 400
        ("europe-wst3", True, None),
        ("Europe West 3", True, "invalid location 'Europe West 3'"),
        ("../global", False, "invalid location '../global'"),
        ("", False, "invalid location ''"),
    ],
)
def test_location_check(location: str, any_location: bool, error: str | None) -> None:
    if error is None:
        assert checked_location(location, any_location=any_location) == location
        return
    with pytest.raises(InventoryError) as raised:
        checked_location(location, any_location=any_location)
    assert str(raised.value).startswith(error)
