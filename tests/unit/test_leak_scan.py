"""The end-to-end leak scan (tests/e2e/leaks.py) really fails: planted secrets are found, by value
and by shape, in log text, an Event and a status, and reported without being printed."""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path

from siptrunk_operator.emulator.iam import generate_service_account_key
from siptrunk_operator.localcluster.operator_process import write_emulator_key
from tests.e2e.leaks import Scan, find_leaks, keys_in_files, keys_in_secrets, operator_logs

TOKEN = "ya29.emulator.Zx8fQ2vB7mLk3HsT9wYpRn4cJ6dA1eGuVo0iXbKqMtE"


def test_a_planted_issued_token_fails_the_scan() -> None:
    # Outside pytest's basetemp, which the end-to-end session scan reads: the plant is not a real leak.
    with tempfile.TemporaryDirectory() as directory:
        _planted_token_is_found(Path(directory))


def _planted_token_is_found(tmp_path: Path) -> None:
    log = tmp_path / "operator" / "operator-abc123.log"
    log.parent.mkdir()
    log.write_text('{"message": "reconciled", "severity": "info"}\n'
                   f'{{"message": "refresh gave {TOKEN}", "severity": "debug"}}\n')
    scan = Scan(secrets={TOKEN: "a token the emulator issued"})
    for where, text in operator_logs(tmp_path):
        scan.scan("operator logs", where, text)
    assert [(leak.where, leak.what) for leak in scan.leaks] == [
        ("operator/operator-abc123.log:2", "a token the emulator issued"),
        ("operator/operator-abc123.log:2", "an access token (ya29.)"),
    ]
    report = scan.report()
    assert "2 LEAK(S)" in report and "operator-abc123.log:2" in report
    assert TOKEN not in report  # what leaked is named, not repeated


def test_key_ids_and_private_keys_are_found_in_events_and_status(tmp_path: Path) -> None:
    key_file = write_emulator_key(tmp_path, "http://127.0.0.1:1", "leak@e2e.iam.gserviceaccount.com")
    key = json.loads(key_file.read_text())
    scan = Scan()
    for found, origin in keys_in_files(tmp_path):
        scan.add_key(found, origin)
    assert key["private_key_id"] in scan.secrets
    body_line = key["private_key"].splitlines()[3]
    scan.scan("Events", "Event ns/e1", f"Warning PermissionDenied key {key['private_key_id']} was refused")
    scan.scan("SipTrunk statuses", "SipTrunk ns/t status", json.dumps({"message": f"bad key {body_line}"}))
    scan.scan("SipTrunk statuses", "SipTrunk ns/u status", json.dumps({"message": key["private_key"]}))
    whats = sorted({(leak.where, leak.what.split(" of ")[0]) for leak in scan.leaks})
    assert whats == [("Event ns/e1", "the key ID"), ("SipTrunk ns/t status", "the private key"),
                     ("SipTrunk ns/u status", "a private key"), ("SipTrunk ns/u status", "the private key")]
    assert key["private_key_id"] not in scan.report() and body_line not in scan.report()


def test_jwts_and_keys_held_in_secrets_are_looked_for() -> None:
    key, _ = generate_service_account_key("tenant@team-a.iam.gserviceaccount.com", "http://127.0.0.1:1/token")
    secret = {"metadata": {"namespace": "team-a", "name": "key"},
              "data": {"credentials.json": base64.b64encode(json.dumps(key).encode()).decode(), "other": "bm9wZQ=="}}
    ((found, origin),) = keys_in_secrets([secret])
    assert found["private_key_id"] == key["private_key_id"] and origin == "Secret team-a/key key credentials.json"
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4QHAuaWFtIn0.c2lnbmF0dXJl"
    assert [leak.what for leak in find_leaks("log", f"assertion={jwt}", {})] == ["a JWT"]


def test_clean_text_passes() -> None:
    scan = Scan(secrets={TOKEN: "a token the emulator issued"})
    scan.scan("operator logs", "x.log", '{"message": "Bearer [REDACTED] refused; access_token=[REDACTED]"}\n')
    assert scan.leaks == []
    assert scan.summary().endswith(": clean")
