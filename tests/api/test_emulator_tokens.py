"""`GET /_emulator/tokens`: the access tokens the emulator issued, for leak scans (read-only)."""

from __future__ import annotations

import httpx

from siptrunk_operator.emulator import EmulatorControl
from tests.api.test_emulator_iam import grant, unsign_jwt


def test_issued_tokens_are_listed_until_a_reset(api: httpx.Client, control: EmulatorControl) -> None:
    assert control.issued_tokens() == []
    issued = [grant(api, unsign_jwt(iss=f"sa{i}@p.iam.gserviceaccount.com")).json()["access_token"] for i in (1, 2)]
    assert sorted(control.issued_tokens()) == sorted(issued)
    assert all(token.startswith("ya29.") for token in issued)  # the shape the redaction patterns know
    control.reset()
    assert control.issued_tokens() == []
