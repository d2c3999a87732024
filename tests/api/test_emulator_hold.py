"""Held writes (a slow API commits a write it has received, even after its client has gone), and what
the chaos runner reads from the request log and the fault rules."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from siptrunk_operator.emulator import EmulatorConfig, EmulatorControl, EmulatorServer
from siptrunk_operator.emulator.cli import build_parser

NewTrunk = Callable[..., dict[str, Any]]
PARENT = "projects/sandbox/locations/global"
TRUNKS = f"/v2/{PARENT}/sipTrunks"
BODY = {"expectedHostname": ["held.example.com"]}
AUTH = {"Authorization": "Bearer t"}


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def _wait_done(control: EmulatorControl, method: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        [entry] = control.requests(method=method)
        if entry["done"] is not None or time.monotonic() > deadline:
            return entry
        time.sleep(0.05)


def _abandon(url: str, method: str, path: str, json: Any = None) -> None:
    """Send a request and hang up before the answer, as a killed or timed-out client does."""
    with pytest.raises(httpx.ReadTimeout):
        httpx.request(method, url + path, json=json, headers=AUTH, timeout=httpx.Timeout(5.0, read=0.2))


def _post_ignoring_errors(url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(url + TRUNKS, json=BODY, headers=AUTH, timeout=30)


def test_a_held_create_commits_after_its_client_has_gone(
    emulator_url: str, control: EmulatorControl, api: httpx.Client
) -> None:
    control.configure(hold_writes_seconds=2.0)
    _abandon(emulator_url, "POST", TRUNKS, BODY)

    assert api.get(TRUNKS).json() == {}  # not committed yet: a listing shows nothing
    [pending] = control.requests(method="POST")
    assert (pending["held"], pending["committed"], pending["injected"]) == (2.0, None, ["hold"])

    entry = _wait_done(control, "POST")
    assert entry["status"] == 200
    assert entry["client_gone"] is True
    assert entry["committed"] is not None
    assert _seconds(entry["committed"]) - _seconds(entry["time"]) >= 2.0
    [trunk] = api.get(TRUNKS).json()["sipTrunks"]
    assert trunk["expectedHostname"] == ["held.example.com"]


def test_patch_and_delete_are_held_reads_are_not(
    control: EmulatorControl, api: httpx.Client, new_trunk: NewTrunk
) -> None:
    trunk = new_trunk()
    control.configure(hold_writes_seconds=0.3)
    assert api.get(TRUNKS).status_code == 200
    assert api.get(f"/v2/{trunk['name']}").status_code == 200
    patched = api.patch(f"/v2/{trunk['name']}", params={"updateMask": "displayName"}, json={"displayName": "x"})
    assert patched.json()["displayName"] == "x"
    assert api.delete(f"/v2/{trunk['name']}").status_code == 200

    held = {entry["method"]: entry["held"] for entry in control.requests()}
    assert held == {"POST": None, "GET": None, "PATCH": 0.3, "DELETE": 0.3}
    assert all(entry["client_gone"] is False and entry["done"] for entry in control.requests())


def test_a_held_write_that_fails_commits_nothing(control: EmulatorControl, api: httpx.Client) -> None:
    control.configure(hold_writes_seconds=0.2)
    assert api.delete(f"{TRUNKS}/missing").status_code == 404
    [entry] = control.requests(method="DELETE")
    assert (entry["held"], entry["committed"], entry["status"]) == (0.2, None, 404)


def test_the_fraction_draws_which_writes_are_held(control: EmulatorControl, api: httpx.Client) -> None:
    control.configure(hold_writes_seconds=5.0, hold_writes_fraction=0.0)
    assert api.post(TRUNKS, json=BODY).status_code == 200
    assert control.requests(method="POST")[0]["held"] is None
    with pytest.raises(Exception, match="hold_writes_fraction"):
        control.configure(hold_writes_fraction=1.5)
    assert control.configure(hold_writes_seconds=0)["hold_writes_fraction"] == 0.0


def test_injected_faults_are_named_in_the_log(control: EmulatorControl, api: httpx.Client) -> None:
    control.add_fault(method="POST", status=503, times=1)
    control.add_fault(action="latency", latency=0.01, method="GET", times=1)
    control.add_fault(action="lost_response", method="POST", times=1)
    control.configure(hold_writes_seconds=0.1)
    assert api.post(TRUNKS, json=BODY).status_code == 503
    assert api.get(TRUNKS).status_code == 200
    with pytest.raises(httpx.TransportError):
        api.post(TRUNKS, json=BODY)
    injected = [(entry["method"], entry["injected"], entry["status"]) for entry in control.requests()]
    assert injected == [("POST", ["error:503"], 503), ("GET", ["latency"], 200),
                        ("POST", ["lost_response", "hold"], "dropped")]
    assert control.requests(method="POST")[-1]["committed"] is not None  # lost after the commit


def test_the_log_can_be_read_after_a_seq(control: EmulatorControl, api: httpx.Client) -> None:
    for _ in range(3):
        api.get(TRUNKS)
    first, *rest = control.requests()
    assert control.requests(after_seq=first["seq"]) == rest


def test_stopping_the_server_lets_held_writes_commit(tmp_path: Path) -> None:
    """Held longer than aiohttp's graceful shutdown (1 s to finish, 1 s after cancelling, each rounded
    up): the handler is cancelled while its client waits, the commit is not."""
    config = EmulatorConfig(state_file=tmp_path / "state.json", hold_writes_seconds=4.5)
    server = EmulatorServer(config)
    url = server.start_in_thread()
    client = threading.Thread(target=lambda: _post_ignoring_errors(url), daemon=True)
    client.start()
    with EmulatorControl(url) as control:
        while not control.requests(method="POST"):
            time.sleep(0.05)
    server.stop()
    client.join(30)

    with EmulatorServer(EmulatorConfig(state_file=tmp_path / "state.json")) as restarted, \
            EmulatorControl(restarted.url) as control:
        assert [t["expectedHostname"] for t in control.trunks()] == [["held.example.com"]]


def test_cli_hold_arguments() -> None:
    args = build_parser().parse_args(["--hold-writes", "3", "--hold-writes-fraction", "0.5"])
    assert (args.hold_writes, args.hold_writes_fraction) == (3.0, 0.5)
    assert build_parser().parse_args([]).hold_writes == 0.0


def test_a_rule_added_first_is_tried_before_the_others(control: EmulatorControl, api: httpx.Client) -> None:
    control.add_fault(status=503)
    burst = control.add_fault(status=429, retry_delay=1, first=True)
    assert api.get(TRUNKS).status_code == 429
    control.remove_fault(burst)
    assert api.get(TRUNKS).status_code == 503
    assert [f["status"] for f in control.faults()] == [503]


def test_a_write_held_past_its_server_timeout_is_given_up_not_committed(
    control: EmulatorControl, api: httpx.Client
) -> None:
    control.configure(hold_writes_seconds=2.0)
    answer = api.post(TRUNKS, json=BODY, headers={"X-Server-Timeout": "0.5"})
    assert answer.status_code == 504 and answer.json()["error"]["status"] == "DEADLINE_EXCEEDED"
    entry = _wait_done(control, "POST")
    assert entry["committed"] is None and entry["injected"] == ["hold", "server_timeout"]
    assert api.get(TRUNKS).json() == {}  # nothing appears later either
    time.sleep(2.0)
    assert api.get(TRUNKS).json() == {}
    within = api.post(TRUNKS, json=BODY, headers={"X-Server-Timeout": "5"})  # time enough: held, then committed
    assert within.status_code == 200 and len(api.get(TRUNKS).json()["sipTrunks"]) == 1
