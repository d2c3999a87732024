"""The emulator's REST surface at the wire level: paging, update masks, encodings, errors, hosts."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from siptrunk_operator.emulator import EmulatorConfig, EmulatorControl

NewTrunk = Callable[..., dict[str, Any]]
PARENT = "projects/sandbox/locations/global"
TRUNKS = f"/v2/{PARENT}/sipTrunks"
INT_ENUMS = "%24alt=json%3Benum-encoding%3Dint"  # what Google's REST clients append


def error_of(response: httpx.Response, code: int) -> dict[str, Any]:
    """The Google error body, after checking its invariant shape."""
    assert response.status_code == code, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message", "status", "details"}
    assert error["code"] == code
    info = error["details"][0]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert re.fullmatch(r"[A-Z][A-Z0-9_]{0,62}", info["reason"])
    assert isinstance(info["metadata"], dict)
    types = [detail["@type"] for detail in error["details"]]
    assert len(types) == len(set(types)), "each detail type at most once"
    return error


def reason_of(error: dict[str, Any]) -> str:
    reason: str = error["details"][0]["reason"]
    return reason


# --- create ---------------------------------------------------------------------------------------


def test_create_assigns_a_random_22_character_id_and_ignores_output_only_fields(api: httpx.Client) -> None:
    body = {
        "name": f"{PARENT}/sipTrunks/mine",
        "expectedHostname": ["sbc.example.com"],
        "connections": [{"connectionId": "c", "state": "CONNECTED"}],
    }
    first, second = (api.post(TRUNKS, json=body).json() for _ in range(2))
    ids = [trunk["name"].removeprefix(f"{PARENT}/sipTrunks/") for trunk in (first, second)]
    assert ids[0] != ids[1]
    for trunk_id in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", trunk_id)
        assert len(base64.urlsafe_b64decode(trunk_id + "==")) == 16
    assert "connections" not in first


def test_snake_case_keys_and_enum_numbers_are_accepted(api: httpx.Client) -> None:
    created = api.post(
        TRUNKS,
        json={
            "expected_hostname": ["sbc.example.com"],
            "display_name": "snake",
            "google_root_cert_file": 5,
            "peer_hostnames": [{"peer_hostname": "peer.example.com", "connection_state": "CONNECTED"}],
        },
    ).json()
    assert created["displayName"] == "snake"
    assert created["googleRootCertFile"] == "EXTERNAL_PRIVATE_CA"
    assert created["peerHostnames"] == [{"peerHostname": "peer.example.com"}]  # output-only part dropped
    assert "display_name" not in created


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "sip_trunk.expected_hostname"),
        ({"expectedHostname": []}, "sip_trunk.expected_hostname"),
        ({"expectedHostname": [" "]}, "sip_trunk.expected_hostname[0]"),
        ({"expectedHostname": ["a"], "peerHostnames": [{"peerHostname": ""}]}, "peer_hostnames[0]"),
    ],
)
def test_create_validates_required_fields(api: httpx.Client, body: dict[str, Any], field: str) -> None:
    error = error_of(api.post(TRUNKS, json=body), 400)
    assert error["status"] == "INVALID_ARGUMENT"
    assert field in error["message"]
    bad_request = error["details"][1]
    assert bad_request["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert field in bad_request["fieldViolations"][0]["field"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"expectedHostname": ["a"], "expectedHostnames": ["typo"]}, "INVALID_JSON_PAYLOAD"),
        ({"expectedHostname": ["a"], "googleRootCertFile": "NO_SUCH_ENUM"}, "INVALID_JSON_PAYLOAD"),
        ({"expectedHostname": "not-a-list"}, "INVALID_JSON_PAYLOAD"),
    ],
)
def test_create_rejects_unknown_fields_and_bad_values(api: httpx.Client, body: dict[str, Any], reason: str) -> None:
    assert reason_of(error_of(api.post(TRUNKS, json=body), 400)) == reason


def test_malformed_json_is_a_400(api: httpx.Client) -> None:
    response = api.post(TRUNKS, content=b"{nope", headers={"content-type": "application/json"})
    assert reason_of(error_of(response, 400)) == "INVALID_JSON_PAYLOAD"


def test_peer_hostnames_can_be_required(api: httpx.Client, control: EmulatorControl) -> None:
    assert api.post(TRUNKS, json={"expectedHostname": ["a"]}).status_code == 200
    control.configure(require_peer_hostnames=True)
    error = error_of(api.post(TRUNKS, json={"expectedHostname": ["a"]}), 400)
    assert "sip_trunk.peer_hostnames" in error["message"]
    body = {"expectedHostname": ["a"], "peerHostnames": [{"peerHostname": "p.example"}]}
    assert api.post(TRUNKS, json=body).status_code == 200


# --- enums ----------------------------------------------------------------------------------------


def test_enum_encoding_int_applies_to_nested_enums(
    api: httpx.Client, new_trunk: NewTrunk, control: EmulatorControl
) -> None:
    trunk = new_trunk(googleRootCertFile="EXTERNAL_PRIVATE_CA")
    failure = {"certificateState": "CERTIFICATE_EXPIRED", "errorMessage": "expired"}
    control.set_connections(
        trunk["name"], [{"connectionId": "c1", "state": "AUTHENTICATION_FAILED", "errorDetails": failure}]
    )

    as_ints = api.get(f"/v2/{trunk['name']}?{INT_ENUMS}").json()
    assert as_ints["googleRootCertFile"] == 5
    assert as_ints["connections"][0]["state"] == 3
    assert as_ints["connections"][0]["errorDetails"] == {"certificateState": 3, "errorMessage": "expired"}

    as_names = api.get(f"/v2/{trunk['name']}").json()
    assert as_names["googleRootCertFile"] == "EXTERNAL_PRIVATE_CA"
    assert as_names["connections"][0]["state"] == "AUTHENTICATION_FAILED"
    assert as_names["connections"][0]["errorDetails"]["certificateState"] == "CERTIFICATE_EXPIRED"

    listed = api.get(f"{TRUNKS}?{INT_ENUMS}").json()["sipTrunks"][0]
    assert listed["connections"][0]["state"] == 3


# --- paging ---------------------------------------------------------------------------------------


def make_trunks(api: httpx.Client, count: int, parent: str = PARENT, host: str | None = None) -> list[str]:
    headers = {"Host": host} if host else {}
    return [
        api.post(f"/v2/{parent}/sipTrunks", json={"expectedHostname": [f"h{i}.example"]}, headers=headers).json()[
            "name"
        ]
        for i in range(count)
    ]


def page(api: httpx.Client, **params: Any) -> httpx.Response:
    return api.get(TRUNKS, params=params)


def test_default_config_page_sizes() -> None:
    config = EmulatorConfig()
    assert (config.default_page_size, config.max_page_size) == (100, 1000)


def test_page_size_default_zero_and_clamping(api: httpx.Client, control: EmulatorControl) -> None:
    names = make_trunks(api, 105)
    assert len(page(api).json()["sipTrunks"]) == 100
    assert len(page(api, pageSize=0).json()["sipTrunks"]) == 100
    assert len(page(api, pageSize=1000).json()["sipTrunks"]) == 105
    control.configure(max_page_size=7)
    clamped = page(api, pageSize=50).json()
    assert [t["name"] for t in clamped["sipTrunks"]] == names[:7]
    assert clamped["nextPageToken"]


def test_paging_walks_every_trunk_once_and_ends_without_a_token(api: httpx.Client) -> None:
    names = make_trunks(api, 6)  # exactly three full pages: the third must not promise a fourth
    eu = "europe-west3-dialogflow.googleapis.com"
    make_trunks(api, 2, parent="projects/sandbox/locations/europe-west3", host=eu)  # other parents: never listed
    make_trunks(api, 2, parent="projects/other/locations/global")
    seen: list[str] = []
    token = None
    for _ in range(3):
        body = page(api, pageSize=2, **({"pageToken": token} if token else {})).json()
        seen += [t["name"] for t in body["sipTrunks"]]
        token = body.get("nextPageToken")
    assert seen == names
    assert token is None  # absent at the end


def test_snake_case_query_parameters(api: httpx.Client) -> None:
    make_trunks(api, 3)
    first = page(api, page_size=2).json()
    assert len(first["sipTrunks"]) == 2
    assert len(page(api, page_size=2, page_token=first["nextPageToken"]).json()["sipTrunks"]) == 1


def test_empty_list_is_an_empty_object(api: httpx.Client) -> None:
    assert page(api).json() == {}


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"pageSize": -1}, "INVALID_PAGE_SIZE"),
        ({"pageSize": "x"}, "INVALID_PAGE_SIZE"),
        ({"pageToken": "garbage!"}, "INVALID_PAGE_TOKEN"),
    ],
)
def test_bad_paging_parameters_are_400(api: httpx.Client, params: dict[str, Any], reason: str) -> None:
    error = error_of(page(api, **params), 400)
    assert (error["status"], reason_of(error)) == ("INVALID_ARGUMENT", reason)


def test_page_token_is_bound_to_its_parent(api: httpx.Client) -> None:
    make_trunks(api, 3)
    token = page(api, pageSize=1).json()["nextPageToken"]
    response = api.get("/v2/projects/other/locations/global/sipTrunks", params={"pageToken": token})
    assert reason_of(error_of(response, 400)) == "INVALID_PAGE_TOKEN"


# --- update masks ---------------------------------------------------------------------------------


def patch(api: httpx.Client, name: str, body: dict[str, Any], mask: str | None) -> httpx.Response:
    return api.patch(f"/v2/{name}", json=body, params={"updateMask": mask} if mask is not None else {})


FULL = {"expectedHostname": ["old.example"], "displayName": "old", "googleRootCertFile": "EXTERNAL_PRIVATE_CA"}


@pytest.mark.parametrize("mask", ["displayName", "display_name", "display_name, name,connections"])
def test_mask_names_fields_in_either_case_and_ignores_output_only(
    api: httpx.Client, new_trunk: NewTrunk, mask: str
) -> None:
    trunk = new_trunk(**FULL)
    body = {"displayName": "new", "expectedHostname": ["new.example"], "name": "x", "connections": []}
    updated = patch(api, trunk["name"], body, mask).json()
    assert updated == {**trunk, "displayName": "new"}


def test_mask_lists_several_fields(api: httpx.Client, new_trunk: NewTrunk) -> None:
    trunk = new_trunk(**FULL)
    body = {"displayName": "new", "expectedHostname": ["new.example"]}
    updated = patch(api, trunk["name"], body, "displayName,expected_hostname").json()
    assert (updated["displayName"], updated["expectedHostname"]) == ("new", ["new.example"])


def test_mask_field_absent_from_the_body_is_cleared(api: httpx.Client, new_trunk: NewTrunk) -> None:
    trunk = new_trunk(**FULL)
    updated = patch(api, trunk["name"], {}, "displayName,googleRootCertFile").json()
    assert updated == {"name": trunk["name"], "expectedHostname": ["old.example"]}


def test_star_replaces_every_mutable_field(api: httpx.Client, new_trunk: NewTrunk) -> None:
    trunk = new_trunk(**FULL)
    updated = patch(api, trunk["name"], {"expectedHostname": ["new.example"]}, "*").json()
    assert updated == {"name": trunk["name"], "expectedHostname": ["new.example"]}


def test_no_mask_updates_the_populated_fields(api: httpx.Client, new_trunk: NewTrunk) -> None:
    trunk = new_trunk(**FULL)
    body = {"displayName": "new", "googleRootCertFile": 0, "expectedHostname": None}
    updated = patch(api, trunk["name"], body, None).json()
    assert updated == {**trunk, "displayName": "new"}  # 0 and null are default values: not populated


@pytest.mark.parametrize("mask", ["bogus", "displayName,connections.state", "peerHostnames.peerHostname"])
def test_unknown_mask_path_is_400(api: httpx.Client, new_trunk: NewTrunk, mask: str) -> None:
    trunk = new_trunk(**FULL)
    error = error_of(patch(api, trunk["name"], {"displayName": "new"}, mask), 400)
    assert reason_of(error) == "INVALID_UPDATE_MASK"
    assert api.get(f"/v2/{trunk['name']}").json() == trunk


def test_update_cannot_clear_a_required_field(api: httpx.Client, new_trunk: NewTrunk) -> None:
    trunk = new_trunk(**FULL)
    error = error_of(patch(api, trunk["name"], {}, "expectedHostname"), 400)
    assert "expected_hostname" in error["message"]


def test_update_of_a_missing_trunk_is_404(api: httpx.Client) -> None:
    response = patch(api, f"{PARENT}/sipTrunks/missing", {"displayName": "x"}, "displayName")
    assert reason_of(error_of(response, 404)) == "SIP_TRUNK_NOT_FOUND"


# --- delete, versions, errors ---------------------------------------------------------------------


def test_delete_returns_empty_object_then_404(api: httpx.Client, new_trunk: NewTrunk) -> None:
    name = new_trunk()["name"]
    assert api.delete(f"/v2/{name}").json() == {}
    error = error_of(api.delete(f"/v2/{name}"), 404)
    assert error["status"] == "NOT_FOUND"
    assert error["details"][0] == {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "SIP_TRUNK_NOT_FOUND",
        "domain": "dialogflow.googleapis.com",
        "metadata": {"resource": name},
    }


def test_v2_and_v2beta1_see_the_same_trunks(api: httpx.Client, new_trunk: NewTrunk) -> None:
    trunk = new_trunk(version="v2beta1")
    assert api.get(f"/v2/{trunk['name']}").json() == trunk


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/projects/p/locations/global/sipTrunks"), ("PUT", TRUNKS + "/x"), ("POST", TRUNKS + "/x")],
)
def test_unknown_routes_are_google_shaped_404(api: httpx.Client, method: str, path: str) -> None:
    assert reason_of(error_of(api.request(method, path), 404)) == "URL_NOT_FOUND"


# --- hosts ----------------------------------------------------------------------------------------

EU = "projects/sandbox/locations/europe-west3/sipTrunks"


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("dialogflow.googleapis.com", EU, "Please switch to 'europe-west3-dialogflow.googleapis.com'"),
        ("localhost:1234", EU, "Please switch to 'europe-west3-dialogflow.googleapis.com'"),
        (
            "europe-west3-dialogflow.googleapis.com",
            f"{PARENT}/sipTrunks",
            "Please switch to 'dialogflow.googleapis.com' to access resources located in 'global'.",
        ),
        ("europe-west1-dialogflow.googleapis.com", EU, "Please switch to 'europe-west3-dialogflow.googleapis.com'"),
    ],
)
def test_path_location_must_match_the_host(api: httpx.Client, host: str, path: str, expected: str) -> None:
    error = error_of(api.get(f"/v2/{path}", headers={"Host": host}), 400)
    assert error["status"] == "INVALID_ARGUMENT"
    assert expected in error["message"]
    assert reason_of(error) == "LOCATION_HOST_MISMATCH"


@pytest.mark.parametrize(
    ("host", "path"),
    [
        ("dialogflow.googleapis.com", f"{PARENT}/sipTrunks"),
        ("localhost", f"{PARENT}/sipTrunks"),
        ("europe-west3-dialogflow.googleapis.com:443", EU),
    ],
)
def test_matching_host_is_served(api: httpx.Client, host: str, path: str) -> None:
    assert api.get(f"/v2/{path}", headers={"Host": host}).status_code == 200
