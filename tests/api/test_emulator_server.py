"""The server around the API: request log, persistence, the ways to run it, and the CLI."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from siptrunk_operator.emulator import EmulatorConfig, EmulatorControl, EmulatorServer
from siptrunk_operator.emulator.cli import LISTENING, build_parser

NewTrunk = Callable[..., dict[str, Any]]
PARENT = "projects/sandbox/locations/global"
TRUNKS = f"/v2/{PARENT}/sipTrunks"
AUTH = {"Authorization": "Bearer t"}


def test_request_log_records_each_api_call(api: httpx.Client, control: EmulatorControl, new_trunk: NewTrunk) -> None:
    trunk = new_trunk(displayName="logged")
    api.get(TRUNKS, params={"pageSize": "5"}, headers={"x-goog-user-project": "billing"})
    api.delete(f"/v2/{trunk['name']}")
    control.configure(connect_after=1)  # control calls are not API entries

    create, listing, delete = control.requests()
    assert create["seq"] < listing["seq"] < delete["seq"]
    assert create["method"] == "POST"
    assert create["path"] == TRUNKS
    assert create["body"] == {"displayName": "logged", "expectedHostname": ["sbc.example.com"]}
    assert create["status"] == 200
    assert create["identity"].endswith(".iam.gserviceaccount.com")
    assert create["host"] == control.base_url.removeprefix("http://")
    assert create["time"].endswith("Z")
    assert (listing["query"], listing["body"], listing["user_project"]) == ({"pageSize": "5"}, None, "billing")
    assert (delete["method"], delete["status"]) == ("DELETE", 200)

    assert control.requests(method="delete") == [delete]
    assert control.requests(path_contains="/sipTrunks/") == [delete]
    control.clear_requests()
    assert control.requests(kind=None) == []


def test_log_never_keeps_token_assertions(control: EmulatorControl) -> None:
    httpx.post(f"{control.base_url}/token", data={"grant_type": "x", "assertion": "secret.jwt.value"})
    [entry] = control.requests(kind="token")
    assert entry["body"] == {"grant_type": "x"}
    assert "secret" not in json.dumps(control.requests(kind=None))


def test_trunks_survive_a_restart_with_a_state_file(tmp_path: Path) -> None:
    state_file = tmp_path / "state" / "emulator.json"
    config = EmulatorConfig(state_file=state_file, connect_after=None)
    with EmulatorServer(config) as first:
        control = EmulatorControl(first.url)
        created = httpx.post(f"{first.url}{TRUNKS}", json={"expectedHostname": ["a"]}, headers=AUTH).json()
        control.set_connections(created["name"], [{"connectionId": "c", "state": "KEEPALIVE"}])
        expected = control.trunks()
        control.close()
    assert state_file.exists()

    with EmulatorServer(config) as second, EmulatorControl(second.url) as control:
        assert control.trunks() == expected
        assert httpx.get(f"{second.url}/v2/{created['name']}", headers=AUTH).json() == expected[0]
        more = httpx.post(f"{second.url}{TRUNKS}", json={"expectedHostname": ["b"]}, headers=AUTH).json()
        assert [t["name"] for t in control.trunks()] == [created["name"], more["name"]]
        control.reset()
    assert json.loads(state_file.read_text())["trunks"] == []


def test_thread_mode_stops_listening() -> None:
    with EmulatorServer() as server:
        port = server.port
        assert server.url == f"http://127.0.0.1:{port}"
        assert httpx.get(f"{server.url}/_emulator/healthz").json() == {"status": "ok"}
    assert port is not None
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    with pytest.raises(RuntimeError):
        _ = server.url


def test_async_start_and_stop_inside_a_loop() -> None:
    async def scenario() -> None:
        server = EmulatorServer()
        url = await server.start()
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{url}/_emulator/healthz")).status_code == 200
        await server.stop()
        async with EmulatorServer() as again, httpx.AsyncClient() as client:
            assert (await client.get(f"{again.url}/_emulator/healthz")).status_code == 200

    asyncio.run(scenario())


def test_cli_arguments() -> None:
    args = build_parser().parse_args(["--connect-after", "none", "--mode", "iam", "--require-peer-hostnames"])
    assert (args.host, args.port, args.connect_after, args.mode) == ("127.0.0.1", 8085, None, "iam")
    assert args.require_peer_hostnames
    assert build_parser().parse_args(["--connect-after", "0.5"]).connect_after == 0.5


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    console_script = Path(sys.executable).with_name("siptrunk-operator")  # the installed entry point
    process = subprocess.Popen(
        [
            str(console_script),
            "emulator",
            "--port",
            "0",
            "--state-file",
            str(tmp_path / "s.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith(f"{LISTENING} http://127.0.0.1:")
        url = line.removeprefix(f"{LISTENING} ")
        assert httpx.get(f"{url}/_emulator/healthz", timeout=5).json() == {"status": "ok"}
        assert httpx.get(f"{url}{TRUNKS}", headers=AUTH, timeout=5).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.stderr is not None
    logged = [json.loads(line) for line in process.stderr.read().splitlines() if line.strip()]
    api_lines = [entry for entry in logged if entry.get("path") == TRUNKS]
    assert api_lines
    assert api_lines[0]["status"] == 200
    assert "Bearer" not in json.dumps(logged)
