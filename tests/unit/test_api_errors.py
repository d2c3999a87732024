"""Parsing Google's AIP-193 error bodies into typed errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import google.auth.crypt
import google.auth.jwt
import pytest

from siptrunk_operator.api import (
    ApiError,
    ApiTransportError,
    Conflict,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    ServerError,
    Unauthenticated,
    Unavailable,
)
from siptrunk_operator.api.errors import REDACTED, error_from_response, parse_duration, parse_retry_after, redact, scrub
from siptrunk_operator.emulator.iam import generate_service_account_key

TOKEN = "ya29.a0AfB_secret-token-value"


def body(code: int, status: str, message: str = "boom", *details: dict[str, Any]) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "status": status, "details": details}}).encode()


def error_info(reason: str, **metadata: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "dialogflow.googleapis.com",
        "metadata": metadata,
    }


def retry_info(delay: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


@pytest.mark.parametrize(
    ("code", "status", "cls", "transient"),
    [
        (400, "INVALID_ARGUMENT", InvalidArgument, False),
        (400, "OUT_OF_RANGE", InvalidArgument, False),
        (400, "FAILED_PRECONDITION", FailedPrecondition, False),
        (401, "UNAUTHENTICATED", Unauthenticated, False),
        (403, "PERMISSION_DENIED", PermissionDenied, False),
        (404, "NOT_FOUND", NotFound, False),
        (409, "ALREADY_EXISTS", Conflict, False),
        (409, "ABORTED", Conflict, False),
        (429, "RESOURCE_EXHAUSTED", RateLimited, True),
        (500, "INTERNAL", ServerError, True),
        (500, "UNKNOWN", ServerError, True),
        (502, "UNAVAILABLE", ServerError, True),
        (501, "UNIMPLEMENTED", ServerError, False),
        (503, "UNAVAILABLE", Unavailable, True),
        (504, "DEADLINE_EXCEEDED", DeadlineExceeded, True),
        (499, "CANCELLED", ApiError, False),
    ],
)
def test_status_maps_to_class(code: int, status: str, cls: type[ApiError], transient: bool) -> None:
    err = error_from_response(code, body(code, status, "the message", error_info("SOME_REASON")))
    assert type(err) is cls
    assert isinstance(err, ApiError)
    assert (err.http_status, err.status, err.message) == (code, status, "the message")
    assert (err.reason, err.domain) == ("SOME_REASON", "dialogflow.googleapis.com")
    assert err.transient is transient


def test_error_info_and_permission() -> None:
    err = error_from_response(
        403,
        body(
            403,
            "PERMISSION_DENIED",
            "denied",
            error_info("IAM_PERMISSION_DENIED", permission="dialogflow.siptrunks.get"),
        ),
    )
    assert isinstance(err, PermissionDenied)
    assert err.permission == "dialogflow.siptrunks.get"
    assert err.metadata == {"permission": "dialogflow.siptrunks.get"}
    assert PermissionDenied("x").permission is None


def test_retry_info_delay_and_only_first_detail_of_a_kind() -> None:
    err = error_from_response(
        429,
        body(429, "RESOURCE_EXHAUSTED", "slow down", retry_info("2.5s"), error_info("A"), error_info("B")),
    )
    assert isinstance(err, RateLimited)
    assert err.retry_delay == 2.5
    assert err.reason == "A"


def test_retry_after_header_used_without_retry_info() -> None:
    err = error_from_response(429, body(429, "RESOURCE_EXHAUSTED"), {"retry-after": "7"})
    assert err.retry_delay == 7.0
    both = error_from_response(429, body(429, "RESOURCE_EXHAUSTED", "x", retry_info("3s")), {"retry-after": "7"})
    assert both.retry_delay == 3.0  # RetryInfo is the API's own hint


@pytest.mark.parametrize(
    ("raw", "code", "cls"),
    [
        (b"<html>502 Bad Gateway</html>", 502, ServerError),
        (b"", 503, Unavailable),
        (b"\xff\xfe not utf8", 404, NotFound),
        (b'{"unexpected": true}', 400, InvalidArgument),
        (b'["not", "an", "error"]', 500, ServerError),
    ],
)
def test_non_json_or_odd_bodies_are_tolerated(raw: bytes, code: int, cls: type[ApiError]) -> None:
    err = error_from_response(code, raw)
    assert type(err) is cls
    assert err.http_status == code
    assert err.message
    assert err.reason is None
    assert err.metadata == {}


def test_list_wrapped_error_body() -> None:
    err = error_from_response(404, b"[" + body(404, "NOT_FOUND", "gone") + b"]")
    assert isinstance(err, NotFound)
    assert err.message == "gone"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2s", 2.0), ("0.5s", 0.5), ({"seconds": 1, "nanos": 500_000_000}, 1.5), ("soon", None), (None, None)],
)
def test_parse_duration(value: object, expected: float | None) -> None:
    assert parse_duration(value) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:10 GMT", now=now) == 10.0
    assert parse_retry_after("garbage", now=now) is None
    assert parse_retry_after(None) is None


def test_str_is_concise_and_repr_names_the_class() -> None:
    err = error_from_response(404, body(404, "NOT_FOUND", "SipTrunk not found.", error_info("SIP_TRUNK_NOT_FOUND")))
    assert str(err) == "404 NOT_FOUND: SipTrunk not found. [reason=SIP_TRUNK_NOT_FOUND]"
    assert repr(err).startswith("NotFound(")


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {TOKEN}",
        f"upstream echoed token {TOKEN} back",
        "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBg-----END PRIVATE KEY-----",
    ],
)
def test_secrets_never_reach_messages(text: str) -> None:
    for err in (
        error_from_response(500, text.encode()),
        error_from_response(400, body(400, "INVALID_ARGUMENT", text)),
        ApiTransportError(text, request_sent=True),
        OutcomeUnknown(text),
    ):
        for rendered in (str(err), repr(err), err.message, *map(str, err.args)):
            assert TOKEN not in rendered
            assert "MIIEvQ" not in rendered
            assert "REDACTED" in rendered


def test_long_bodies_are_truncated() -> None:
    err = error_from_response(502, b"x" * 10_000)
    assert len(str(err)) < 400


# -- redaction, with real-looking secrets ----------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> dict[str, str]:
    """A real service-account key (RSA 2048, PKCS#8 PEM, a 40-hex private_key_id)."""
    key_file, _ = generate_service_account_key("leak@p.iam.gserviceaccount.com", "https://oauth2.googleapis.com/token")
    return key_file


@pytest.fixture(scope="module")
def signed_jwt(key: dict[str, str]) -> str:
    """A JWT-bearer assertion signed with that key, as google-auth sends it to the token endpoint."""
    signer = google.auth.crypt.RSASigner.from_service_account_info(key)
    claims = {"iss": key["client_email"], "aud": "https://oauth2.googleapis.com/token", "scope": "x",
              "iat": 1_700_000_000, "exp": 1_700_003_600}
    return google.auth.jwt.encode(signer, claims).decode()


ACCESS = "ya29.a0AfB_byC1x2Y3z4-Lm9Np0Qr_StUvWxYz0123456789abcdefGHIJKLmnopQRSTuvwxyz-_0123"
REFRESH = "1//0gLmNoPqRsTuVwXyZ-abcdefghijklmnopqrstuvwxyz0123456789_ABCDEFG"


def _secrets(key: dict[str, str], jwt: str) -> list[str]:
    body = "".join(key["private_key"].splitlines()[1:-1])
    return [ACCESS, REFRESH, jwt, key["private_key_id"], body[:40], body[-40:]]


@pytest.mark.parametrize("shape", [
    "token_response", "form_body", "bearer_header", "pem", "pem_cut_short", "pem_json_escaped", "key_json",
    "key_json_in_a_log_line", "kid", "der_base64", "id_token",
])
def test_scrub_blanks_every_credential_shape(key: dict[str, str], signed_jwt: str, shape: str) -> None:
    texts = {
        "token_response": json.dumps({"access_token": ACCESS, "expires_in": 3599, "refresh_token": REFRESH,
                                      "token_type": "Bearer", "id_token": signed_jwt}),
        "form_body": f"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={signed_jwt}",
        "bearer_header": f"GET /v2/x HTTP/1.1\r\nAuthorization: Bearer {ACCESS}\r\n",
        "pem": f"bad key: {key['private_key']} (end)",
        "pem_cut_short": f"bad key: {key['private_key'][:700]}",
        "pem_json_escaped": json.dumps({"message": key["private_key"]}),
        "key_json": json.dumps(key),
        "key_json_in_a_log_line": json.dumps({"message": f"loading {json.dumps(key)} failed", "level": "error"}),
        "kid": f'{{"alg": "RS256", "kid": "{key["private_key_id"]}"}} and kid={key["private_key_id"]}',
        "der_base64": "key " + "".join(key["private_key"].splitlines()[1:-1]),
        "id_token": f"the ID token {signed_jwt} was rejected",
    }
    text = texts[shape]
    cleaned = scrub(text)
    leaked = [secret for secret in _secrets(key, signed_jwt) if secret in cleaned]
    assert leaked == [], cleaned
    assert REDACTED in cleaned
    if shape in ("token_response", "pem_json_escaped", "key_json", "key_json_in_a_log_line"):
        json.loads(cleaned)  # a JSON log line stays a JSON log line


@pytest.mark.parametrize("text", [
    "403 PERMISSION_DENIED: Permission 'dialogflow.siptrunks.get' denied on resource projects/p (or it may not exist).",
    "Trunk projects/p/locations/global/sipTrunks/JxN1ndLCR9OJvgrDlc32_Q does not exist in the API",
    "The bearer token expired; commit 0123456789abcdef0123456789abcdef01234567 fixed it",
    '{"error": {"code": 400, "message": "expectedHostname is required", "status": "INVALID_ARGUMENT"}}',
])
def test_scrub_leaves_ordinary_text_alone(text: str) -> None:
    assert scrub(text) == text


def test_redact_shortens_scrub_does_not(key: dict[str, str]) -> None:
    long = "x" * 1000 + key["private_key"]
    assert len(redact(long)) == 300
    assert scrub(long).startswith("x" * 1000) and key["private_key_id"] not in scrub(long)


def test_server_supplied_reason_and_metadata_are_redacted_too() -> None:
    err = error_from_response(403, body(403, "PERMISSION_DENIED", "denied",
                                        error_info(f"TOKEN_{ACCESS}", permission=f"x access_token={ACCESS}")))
    assert ACCESS not in str(err)
    assert ACCESS not in (err.permission or "")
