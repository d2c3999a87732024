"""Google's own client (google-cloud-dialogflow, REST transport) and google-auth against the emulator.

Regional hosts: the REST transport turns ``metadata`` pairs into HTTP headers
(``headers = dict(metadata)``), so ``metadata=[("host", "europe-west3-dialogflow.googleapis.com")]``
sends that Host header over the loopback connection, as a DNS/proxy setup would for the real host.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests
from google.api_core import exceptions as gexc
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2 import service_account as sa
from google.protobuf import field_mask_pb2

from siptrunk_operator.emulator import EmulatorControl

Gapic = Callable[..., Any]
ServiceAccount = Callable[..., dict[str, str]]

PROJECT = "sandbox"  # the conftest's default project for service accounts
GLOBAL_PARENT = f"projects/{PROJECT}/locations/global"
VERSIONS = ["v2", "v2beta1"]
REGION = "europe-west3"
REGIONAL_PARENT = f"projects/{PROJECT}/locations/{REGION}"
REGIONAL_HOST = [("host", f"{REGION}-dialogflow.googleapis.com")]
TRUNK_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


@pytest.mark.parametrize("version", VERSIONS)
def test_crud_roundtrip(version: str, gapic: Gapic, control: EmulatorControl) -> None:
    client = gapic(version)
    created = client.create_sip_trunk(
        parent=GLOBAL_PARENT,
        sip_trunk={
            "expected_hostname": ["sbc.example.com"],
            "display_name": "first",
            "google_root_cert_file": "EXTERNAL_PRIVATE_CA",
        },
    )
    assert created.name.startswith(f"{GLOBAL_PARENT}/sipTrunks/")
    assert TRUNK_ID.match(created.name.rsplit("/", 1)[1])
    assert list(created.expected_hostname) == ["sbc.example.com"]
    assert created.display_name == "first"
    assert created.google_root_cert_file.name == "EXTERNAL_PRIVATE_CA"
    assert list(created.connections) == []  # connections come later, asynchronously

    fetched = client.get_sip_trunk(name=created.name)
    assert fetched == created

    update = type(created)(name=created.name, display_name="renamed", expected_hostname=["ignored.example.com"])
    updated = client.update_sip_trunk(sip_trunk=update, update_mask=field_mask_pb2.FieldMask(paths=["display_name"]))
    assert updated.display_name == "renamed"
    assert list(updated.expected_hostname) == ["sbc.example.com"]  # not in the mask
    assert updated.google_root_cert_file.name == "EXTERNAL_PRIVATE_CA"

    client.delete_sip_trunk(name=created.name)
    with pytest.raises(gexc.NotFound) as caught:
        client.get_sip_trunk(name=created.name)
    assert caught.value.reason == "SIP_TRUNK_NOT_FOUND"
    assert caught.value.domain == "dialogflow.googleapis.com"

    create_call, _, patch_call, delete_call, _ = control.requests()
    assert create_call["body"] == {
        "expectedHostname": ["sbc.example.com"],
        "displayName": "first",
        "googleRootCertFile": 5,  # the client sends enums as numbers...
    }
    assert create_call["query"] == {"$alt": "json;enum-encoding=int"}  # ...and asks for numbers back
    assert patch_call["query"]["updateMask"] == "displayName"
    assert [delete_call["method"], delete_call["status"]] == ["DELETE", 200]


@pytest.mark.parametrize("version", VERSIONS)
def test_list_250_trunks_in_pages_of_100(
    version: str, gapic: Gapic, api: httpx.Client, control: EmulatorControl
) -> None:
    created = set()
    for index in range(250):
        response = api.post(f"/v2/{GLOBAL_PARENT}/sipTrunks", json={"expectedHostname": [f"h{index}.example"]})
        created.add(response.json()["name"])
    api.post("/v2/projects/other/locations/global/sipTrunks", json={"expectedHostname": ["x.example"]})
    control.clear_requests()

    pager = gapic(version).list_sip_trunks(request={"parent": GLOBAL_PARENT, "page_size": 100})
    pages = [[trunk.name for trunk in page.sip_trunks] for page in pager.pages]

    assert [len(page) for page in pages] == [100, 100, 50]
    listed = [name for page in pages for name in page]
    assert len(listed) == len(set(listed)) == 250
    assert set(listed) == created
    calls = control.requests()
    assert [call["query"].get("pageSize") for call in calls] == ["100"] * 3
    assert "pageToken" not in calls[0]["query"]
    assert all(call["query"]["pageToken"] for call in calls[1:])


@pytest.mark.parametrize("version", VERSIONS)
def test_regional_trunks_through_the_regional_host(version: str, gapic: Gapic) -> None:
    client = gapic(version)
    trunk = client.create_sip_trunk(
        parent=REGIONAL_PARENT, sip_trunk={"expected_hostname": ["eu.example.com"]}, metadata=REGIONAL_HOST
    )
    assert trunk.name.startswith(f"{REGIONAL_PARENT}/sipTrunks/")
    assert client.get_sip_trunk(name=trunk.name, metadata=REGIONAL_HOST).name == trunk.name
    listed = client.list_sip_trunks(parent=REGIONAL_PARENT, metadata=REGIONAL_HOST)
    assert [t.name for t in listed] == [trunk.name]

    with pytest.raises(gexc.BadRequest) as on_global_host:
        client.get_sip_trunk(name=trunk.name)
    assert on_global_host.value.reason == "LOCATION_HOST_MISMATCH"
    assert (
        f"Please switch to '{REGION}-dialogflow.googleapis.com' to access resources located in '{REGION}'."
        in on_global_host.value.message
    )

    with pytest.raises(gexc.BadRequest) as global_on_regional:
        client.list_sip_trunks(parent=GLOBAL_PARENT, metadata=REGIONAL_HOST)
    assert "Please switch to 'dialogflow.googleapis.com'" in global_on_regional.value.message


def test_service_account_gets_a_token_from_the_emulator(
    service_account: ServiceAccount, control: EmulatorControl, emulator_url: str
) -> None:
    control.configure(mode="iam")
    email = "operator@sandbox.iam.gserviceaccount.com"
    credentials = sa.Credentials.from_service_account_info(
        service_account(email), scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )

    credentials.refresh(Request())
    assert credentials.token.startswith("ya29.")
    [token_call] = control.requests(kind="token")
    assert (token_call["status"], token_call["identity"]) == (200, email)
    assert token_call["body"] == {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"}

    session = AuthorizedSession(credentials)
    created = session.post(
        f"{emulator_url}/v2/{GLOBAL_PARENT}/sipTrunks",
        json={"expectedHostname": ["sbc.example.com"]},
        headers={"x-goog-user-project": PROJECT},
    )
    assert created.status_code == 200, created.text
    listed = session.get(f"{emulator_url}/v2/{GLOBAL_PARENT}/sipTrunks")
    assert [t["name"] for t in listed.json()["sipTrunks"]] == [created.json()["name"]]
    first, second = control.requests()
    assert (first["identity"], first["user_project"]) == (email, PROJECT)
    assert second["identity"] == email


@pytest.mark.parametrize("version", VERSIONS)
def test_google_client_with_service_account_key(
    version: str, gapic: Gapic, service_account: ServiceAccount, control: EmulatorControl
) -> None:
    """Google's client signs its own JWT for service accounts (AIP-4111); the emulator verifies it."""
    control.configure(mode="iam")
    email = "operator@sandbox.iam.gserviceaccount.com"
    client = gapic(version, sa.Credentials.from_service_account_info(service_account(email)))

    trunk = client.create_sip_trunk(parent=GLOBAL_PARENT, sip_trunk={"expected_hostname": ["a.example"]})
    assert [t.name for t in client.list_sip_trunks(parent=GLOBAL_PARENT)] == [trunk.name]
    assert {call["identity"] for call in control.requests()} == {email}


def test_identity_without_the_project_is_denied(
    gapic: Gapic, service_account: ServiceAccount, control: EmulatorControl
) -> None:
    control.configure(mode="iam")
    key = service_account("other@elsewhere.iam.gserviceaccount.com", projects=["elsewhere"])
    client = gapic("v2", sa.Credentials.from_service_account_info(key))
    missing = f"{GLOBAL_PARENT}/sipTrunks/doesNotExist"

    # google-api-core picks exception classes by HTTP status: 403 is Forbidden (PermissionDenied's base)
    with pytest.raises(gexc.Forbidden) as caught:
        client.get_sip_trunk(name=missing)  # 403, not 404: permission is checked first
    error = caught.value
    assert error.code == 403
    assert error.response.json()["error"]["status"] == "PERMISSION_DENIED"
    assert (error.reason, error.domain) == ("IAM_PERMISSION_DENIED", "iam.googleapis.com")
    assert error.metadata == {"permission": "dialogflow.siptrunks.get", "resource": missing}
    assert f"Permission 'dialogflow.siptrunks.get' denied on resource '{missing}' (or it may not exist)." in (
        error.message
    )


def test_permission_subset_is_enforced(gapic: Gapic, service_account: ServiceAccount, control: EmulatorControl) -> None:
    control.configure(mode="iam")
    key = service_account("reader@sandbox.iam.gserviceaccount.com", permissions=["dialogflow.siptrunks.list"])
    client = gapic("v2", sa.Credentials.from_service_account_info(key))

    assert list(client.list_sip_trunks(parent=GLOBAL_PARENT)) == []
    with pytest.raises(gexc.Forbidden) as caught:
        client.create_sip_trunk(parent=GLOBAL_PARENT, sip_trunk={"expected_hostname": ["a.example"]})
    assert caught.value.metadata == {"permission": "dialogflow.siptrunks.create", "resource": GLOBAL_PARENT}


@pytest.mark.parametrize(
    ("mode", "authorization", "reason"),
    [
        ("open", None, "CREDENTIALS_MISSING"),
        ("iam", None, "CREDENTIALS_MISSING"),
        ("iam", "Bearer nobody-issued-this", "ACCESS_TOKEN_TYPE_UNSUPPORTED"),
    ],
)
def test_missing_or_unknown_token_is_unauthenticated(
    mode: str, authorization: str | None, reason: str, control: EmulatorControl, emulator_url: str
) -> None:
    """Google's client never lets a 401 through (it tries to refresh its credentials instead), so
    send the request with ``requests`` and let google-api-core's HTTP error parser read the answer."""
    control.configure(mode=mode)
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.get(f"{emulator_url}/v2/{GLOBAL_PARENT}/sipTrunks", headers=headers, timeout=10)
    error = gexc.from_http_response(response)
    assert isinstance(error, gexc.Unauthorized)
    assert (error.code, error.reason, error.domain) == (401, reason, "googleapis.com")
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_unregistered_or_forged_key_gets_no_token(service_account: ServiceAccount, control: EmulatorControl) -> None:
    control.configure(mode="iam")
    unknown = service_account("ghost@sandbox.iam.gserviceaccount.com", register=False)
    with pytest.raises(RefreshError, match="invalid_grant"):
        sa.Credentials.from_service_account_info(unknown).refresh(Request())

    registered = service_account("victim@sandbox.iam.gserviceaccount.com")
    forged = service_account("victim@sandbox.iam.gserviceaccount.com", register=False)  # another key
    assert forged["private_key"] != registered["private_key"]
    with pytest.raises(RefreshError, match="invalid_grant"):
        sa.Credentials.from_service_account_info(forged).refresh(Request())
