"""The connection script, explicit connection states, and out-of-band trunk changes."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from siptrunk_operator.emulator import EmulatorControl, EmulatorControlError

NewTrunk = Callable[..., dict[str, Any]]
STEP = 0.5  # connect_after used by these tests: long enough to read "before", short enough to wait


def get(api: httpx.Client, name: str) -> dict[str, Any]:
    response = api.get(f"/v2/{name}")
    assert response.status_code == 200, response.text
    trunk: dict[str, Any] = response.json()
    return trunk


def wait_past(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()) + 0.05)


def parse_time(value: str) -> float:
    assert value.endswith("Z")
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_default_script_waits_two_seconds(api: httpx.Client, new_trunk: NewTrunk) -> None:
    trunk = new_trunk()
    assert "connections" not in trunk
    assert "connections" not in get(api, trunk["name"])  # well under 2 s later


def test_connections_appear_after_connect_after(
    api: httpx.Client, new_trunk: NewTrunk, control: EmulatorControl
) -> None:
    control.configure(connect_after=STEP)
    before = time.time()
    trunk = new_trunk(expectedHostname=["a.example.com", "b.example.com"])
    assert "connections" not in get(api, trunk["name"])

    wait_past(before + STEP)
    connections = get(api, trunk["name"])["connections"]
    assert [c["state"] for c in connections] == ["CONNECTED", "CONNECTED"]
    assert len({c["connectionId"] for c in connections}) == 2
    connected_at = parse_time(connections[0]["updateTime"])
    assert before + STEP - 0.001 <= connected_at <= time.time()  # updateTime has millisecond precision
    assert all("errorDetails" not in c for c in connections)
    assert get(api, trunk["name"])["connections"] == connections  # stable across reads


def test_hostname_change_restarts_the_script(api: httpx.Client, new_trunk: NewTrunk, control: EmulatorControl) -> None:
    control.configure(connect_after=STEP)
    trunk = new_trunk(expectedHostname=["a.example.com"])
    wait_past(time.time() + STEP)
    old_ids = [c["connectionId"] for c in get(api, trunk["name"])["connections"]]

    changed_at = time.time()
    patched = api.patch(
        f"/v2/{trunk['name']}", params={"updateMask": "expectedHostname"}, json={"expectedHostname": ["c.example.com"]}
    ).json()
    assert "connections" not in patched

    wait_past(changed_at + STEP)
    connections = get(api, trunk["name"])["connections"]
    assert len(connections) == 1
    assert connections[0]["connectionId"] not in old_ids


def test_display_name_change_keeps_connections(
    api: httpx.Client, new_trunk: NewTrunk, control: EmulatorControl
) -> None:
    control.configure(connect_after=0)
    trunk = new_trunk()
    patched = api.patch(f"/v2/{trunk['name']}", params={"updateMask": "displayName"}, json={"displayName": "x"})
    assert patched.json()["connections"] == get(api, trunk["name"])["connections"]
    assert len(patched.json()["connections"]) == 1


@pytest.mark.parametrize("connect_after", [None, -1])
def test_script_can_be_disabled(
    api: httpx.Client, new_trunk: NewTrunk, control: EmulatorControl, connect_after: float | None
) -> None:
    control.configure(connect_after=0)
    connected = new_trunk()
    control.configure(connect_after=connect_after)
    assert "connections" not in get(api, connected["name"])  # the script is evaluated on read


def test_set_connections_overrides_the_script(api: httpx.Client, new_trunk: NewTrunk, control: EmulatorControl) -> None:
    control.configure(connect_after=0)
    trunk = new_trunk()
    failure = {"certificateState": 4, "errorMessage": "no SAN matches"}
    returned = control.set_connections(
        trunk["name"],
        [
            {"connectionId": "c1", "state": "AUTHENTICATION_FAILED", "errorDetails": failure},
            {"connection_id": "c2", "state": 2, "update_time": "2026-01-02T03:04:05Z"},
        ],
    )
    expected = [
        {
            "connectionId": "c1",
            "state": "AUTHENTICATION_FAILED",
            "errorDetails": {"certificateState": "CERTIFICATE_HOSTNAME_NOT_FOUND", "errorMessage": "no SAN matches"},
        },
        {"connectionId": "c2", "state": "DISCONNECTED", "updateTime": "2026-01-02T03:04:05Z"},
    ]
    connections = get(api, trunk["name"])["connections"]
    assert returned["connections"] == connections
    filled_in = connections[0].pop("updateTime")
    assert abs(parse_time(filled_in) - time.time()) < 5
    assert connections == expected

    control.set_connections(trunk["name"], [])
    assert "connections" not in get(api, trunk["name"])
    control.set_connections(trunk["name"], None)  # back to the script (already due)
    assert [c["state"] for c in get(api, trunk["name"])["connections"]] == ["CONNECTED"]


def test_set_connections_validates_and_needs_an_existing_trunk(control: EmulatorControl, new_trunk: NewTrunk) -> None:
    trunk = new_trunk()
    with pytest.raises(EmulatorControlError) as bad_state:
        control.set_connections(trunk["name"], [{"state": "ON_FIRE"}])
    assert bad_state.value.status == 400
    with pytest.raises(EmulatorControlError) as missing:
        control.set_connections("projects/p/locations/global/sipTrunks/nope", [])
    assert missing.value.status == 404


def test_control_trunks_lists_every_project_and_location(
    api: httpx.Client, new_trunk: NewTrunk, control: EmulatorControl
) -> None:
    control.configure(connect_after=0)
    first = new_trunk(parent="projects/a/locations/global")
    second = api.post(
        "/v2/projects/b/locations/europe-west3/sipTrunks",
        json={"expectedHostname": ["x"], "googleRootCertFile": 5},
        headers={"Host": "europe-west3-dialogflow.googleapis.com"},
    ).json()
    trunks = control.trunks()
    assert [t["name"] for t in trunks] == [first["name"], second["name"]]
    assert trunks[1]["googleRootCertFile"] == "EXTERNAL_PRIVATE_CA"  # names, not numbers
    assert all(t["connections"][0]["state"] == "CONNECTED" for t in trunks)


def test_out_of_band_edit_and_delete(api: httpx.Client, new_trunk: NewTrunk, control: EmulatorControl) -> None:
    trunk = new_trunk(displayName="mine")
    control.clear_requests()

    edited = control.edit_trunk(trunk["name"], displayName="theirs", expected_hostname=["other.example"])
    assert (edited["displayName"], edited["expectedHostname"]) == ("theirs", ["other.example"])
    assert get(api, trunk["name"]) == edited
    with pytest.raises(EmulatorControlError) as unknown:
        control.edit_trunk(trunk["name"], color="blue")
    assert unknown.value.status == 400

    control.delete_trunk(trunk["name"])
    assert api.get(f"/v2/{trunk['name']}").status_code == 404

    assert [(e["method"], e["status"]) for e in control.requests()] == [("GET", 200), ("GET", 404)]
    out_of_band = control.requests(kind="control")
    assert [(e["method"], e["status"]) for e in out_of_band] == [("PATCH", 200), ("PATCH", 400), ("DELETE", 200)]
