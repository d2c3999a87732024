"""Every way error text leaves the operator goes through `scrub`: log lines (any logger, tracebacks
included), status condition messages and Events. Tested with a real-looking token and a real key."""

from __future__ import annotations

import io
import json
import logging

from kopf._core.actions.loggers import ObjectJsonFormatter  # what kopf.configure(log_format=JSON) installs

from siptrunk_operator.emulator.iam import generate_service_account_key
from siptrunk_operator.logs import _Scrubbed
from siptrunk_operator.plan.actions import Event
from siptrunk_operator.plan.conditions import merge_conditions, synced_failed
from siptrunk_operator.reasons import EventReason, Reason

TOKEN = "ya29.c.b0AXv0zTOKEN-that-google-issued_0123456789abcdefghijklmnopqrstuvwxyz"
KEY, _ = generate_service_account_key("leak@p.iam.gserviceaccount.com", "https://oauth2.googleapis.com/token")


def _log_line(formatter: logging.Formatter) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Scrubbed(formatter))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise RuntimeError(f"upstream said: Authorization: Bearer {TOKEN}; key {json.dumps(KEY)}")
        except RuntimeError:
            logger.exception("call failed with %s", {"access_token": TOKEN}, extra={"detail": KEY["private_key"]})
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_log_lines_are_scrubbed_in_json_and_text() -> None:
    for formatter in (ObjectJsonFormatter(), logging.Formatter("%(message)s")):  # kopf's JSON, plain text
        line = _log_line(formatter)
        assert "call failed" in line and "RuntimeError" in line  # the message and its traceback stay
        for secret in (TOKEN, KEY["private_key_id"], KEY["private_key"].splitlines()[1]):
            assert secret not in line, line
    json.loads(_log_line(ObjectJsonFormatter()))  # still one JSON object per line


def test_condition_messages_are_scrubbed() -> None:
    update = synced_failed(Reason.PERMISSION_DENIED, f"The API did not accept the credentials: Bearer {TOKEN}")
    (condition,) = merge_conditions([], [update], generation=1, now="2026-01-01T00:00:00Z")
    assert TOKEN not in condition["message"]
    assert condition["message"].startswith("The API did not accept the credentials: Bearer [REDACTED]")


def test_event_messages_are_scrubbed() -> None:
    event = Event(EventReason.DELETED, f"refresh said access_token={TOKEN}&expires_in=3599", warning=True)
    assert TOKEN not in event.message
    assert event == Event(EventReason.DELETED, f"refresh said access_token={TOKEN}&expires_in=3599", warning=True)
