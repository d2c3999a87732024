"""Authentication and permissions: the token endpoint, self-signed JWTs, open and iam modes."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from siptrunk_operator.emulator import EmulatorConfig, EmulatorControl, EmulatorControlError, EmulatorServer
from siptrunk_operator.emulator.iam import DEFAULT_EMAIL, PERMISSIONS, generate_service_account_key

ServiceAccount = Callable[..., dict[str, str]]
SignJwt = Callable[..., str]
PARENT = "projects/sandbox/locations/global"
TRUNKS = f"/v2/{PARENT}/sipTrunks"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def unsign_jwt(**claims: Any) -> str:
    def segment(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': 'none'})}.{segment(claims)}.c2ln"


def grant(api: httpx.Client, assertion: str | None, grant_type: str = JWT_BEARER) -> httpx.Response:
    form = {"grant_type": grant_type} | ({"assertion": assertion} if assertion is not None else {})
    return api.post("/token", data=form)


def access_token(api: httpx.Client, sign_jwt: SignJwt, key: dict[str, str]) -> str:
    """A token from the emulator's token endpoint, the way google-auth asks for one."""
    response = grant(api, sign_jwt(key, aud=key["token_uri"], scope="https://www.googleapis.com/auth/cloud-platform"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    token: str = body["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_open_mode_accepts_any_token_as_the_default_identity(api: httpx.Client, control: EmulatorControl) -> None:
    assert api.get(TRUNKS, headers=bearer("anything-at-all")).status_code == 200
    assert control.requests()[0]["identity"] == DEFAULT_EMAIL


def test_open_mode_issues_tokens_for_unsigned_assertions(
    api: httpx.Client, control: EmulatorControl, sign_jwt: SignJwt
) -> None:
    response = grant(api, unsign_jwt(iss="dev@example.iam.gserviceaccount.com", exp=time.time() + 60))
    assert response.status_code == 200, response.text
    assert api.get(TRUNKS, headers=bearer(response.json()["access_token"])).status_code == 200
    assert control.requests()[0]["identity"] == "dev@example.iam.gserviceaccount.com"


@pytest.mark.parametrize(
    ("grant_type", "assertion", "error"),
    [
        ("client_credentials", "x", "unsupported_grant_type"),
        (JWT_BEARER, None, "invalid_request"),
        (JWT_BEARER, "not-a-jwt", "invalid_grant"),
        (JWT_BEARER, unsign_jwt(sub="no-issuer"), "invalid_grant"),
    ],
)
def test_token_endpoint_errors_are_oauth_shaped(
    api: httpx.Client, grant_type: str, assertion: str | None, error: str
) -> None:
    response = grant(api, assertion, grant_type)
    assert response.status_code == 400
    assert set(response.json()) == {"error", "error_description"}
    assert response.json()["error"] == error


def test_iam_mode_requires_a_verified_signature(
    api: httpx.Client, control: EmulatorControl, service_account: ServiceAccount, sign_jwt: SignJwt
) -> None:
    control.configure(mode="iam")
    key = service_account("op@sandbox.iam.gserviceaccount.com")
    unsigned = unsign_jwt(iss=key["client_email"], exp=time.time() + 60)
    assert grant(api, unsigned).json()["error"] == "invalid_grant"
    expired = sign_jwt(key, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    assert grant(api, expired).json()["error"] == "invalid_grant"
    token = access_token(api, sign_jwt, key)
    assert api.get(TRUNKS, headers=bearer(token)).status_code == 200


def test_iam_mode_accepts_self_signed_jwts(
    api: httpx.Client, control: EmulatorControl, service_account: ServiceAccount, sign_jwt: SignJwt
) -> None:
    control.configure(mode="iam")
    key = service_account("op@sandbox.iam.gserviceaccount.com")
    other = service_account("op@sandbox.iam.gserviceaccount.com", register=False)
    audience = "https://dialogflow.googleapis.com/"
    assert api.get(TRUNKS, headers=bearer(sign_jwt(key, aud=audience))).status_code == 200
    forged = api.get(TRUNKS, headers=bearer(sign_jwt(other, aud=audience)))
    expired = api.get(TRUNKS, headers=bearer(sign_jwt(key, aud=audience, exp=int(time.time()) - 600)))
    for response in (forged, expired):
        assert response.status_code == 401
        assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_permission_is_checked_before_existence(
    api: httpx.Client, control: EmulatorControl, service_account: ServiceAccount, sign_jwt: SignJwt
) -> None:
    control.configure(mode="iam")
    denied = access_token(api, sign_jwt, service_account("denied@x.iam.gserviceaccount.com", projects=["elsewhere"]))
    allowed = access_token(api, sign_jwt, service_account("allowed@x.iam.gserviceaccount.com"))
    missing = f"{PARENT}/sipTrunks/missing"

    response = api.delete(f"/v2/{missing}", headers=bearer(denied))
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["status"] == "PERMISSION_DENIED"
    assert error["message"] == (
        f"Permission 'dialogflow.siptrunks.delete' denied on resource '{missing}' (or it may not exist)."
    )
    assert error["details"] == [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "IAM_PERMISSION_DENIED",
            "domain": "iam.googleapis.com",
            "metadata": {"permission": "dialogflow.siptrunks.delete", "resource": missing},
        }
    ]
    assert api.delete(f"/v2/{missing}", headers=bearer(allowed)).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "permission", "resource"),
    [
        ("POST", TRUNKS, "dialogflow.siptrunks.create", PARENT),
        ("GET", TRUNKS, "dialogflow.siptrunks.list", PARENT),
        ("GET", f"{TRUNKS}/t", "dialogflow.siptrunks.get", f"{PARENT}/sipTrunks/t"),
        ("PATCH", f"{TRUNKS}/t", "dialogflow.siptrunks.update", f"{PARENT}/sipTrunks/t"),
        ("DELETE", f"{TRUNKS}/t", "dialogflow.siptrunks.delete", f"{PARENT}/sipTrunks/t"),
    ],
)
def test_each_method_needs_its_permission(
    api: httpx.Client,
    control: EmulatorControl,
    service_account: ServiceAccount,
    method: str,
    path: str,
    permission: str,
    resource: str,
    sign_jwt: SignJwt,
) -> None:
    control.configure(mode="iam")
    everything_else = [p for p in PERMISSIONS if p != permission]
    token = access_token(
        api, sign_jwt, service_account("partial@x.iam.gserviceaccount.com", permissions=everything_else)
    )
    response = api.request(method, path, headers=bearer(token), json={"expectedHostname": ["a"]})
    assert response.status_code == 403
    assert response.json()["error"]["details"][0]["metadata"] == {"permission": permission, "resource": resource}


def test_identities_list_never_shows_keys(control: EmulatorControl, service_account: ServiceAccount) -> None:
    service_account("op@sandbox.iam.gserviceaccount.com", permissions=["dialogflow.siptrunks.get"])
    [identity] = control.identities()
    assert identity == {
        "email": "op@sandbox.iam.gserviceaccount.com",
        "projects": ["sandbox"],
        "permissions": ["dialogflow.siptrunks.get"],
    }


def test_bad_identity_is_rejected(control: EmulatorControl) -> None:
    with pytest.raises(EmulatorControlError, match="not a PEM public key") as caught:
        control.add_identity("x@y", "not a pem", ["p"])
    assert caught.value.status == 400
    _, pem = generate_service_account_key("x@y", "http://unused/token")
    with pytest.raises(EmulatorControlError, match="unknown permissions"):
        control.add_identity("x@y", pem, ["p"], ["dialogflow.siptrunks.fly"])


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_identities_from_an_iam_config_file(tmp_path: Path, suffix: str, sign_jwt: SignJwt) -> None:
    key, pem = generate_service_account_key("file@sandbox.iam.gserviceaccount.com", "http://placeholder/token")
    (tmp_path / "op.pem").write_text(pem)
    config = {"identities": [{"email": key["client_email"], "public_key_file": "op.pem", "projects": ["*"]}]}
    path = tmp_path / f"iam{suffix}"
    path.write_text(yaml.safe_dump(config) if suffix == ".yaml" else json.dumps(config))

    with (
        EmulatorServer(EmulatorConfig(mode="iam", iam_config=path)) as server,
        httpx.Client(base_url=server.url) as api,
    ):
        token = access_token(api, sign_jwt, key)
        assert api.get("/v2/projects/any/locations/global/sipTrunks", headers=bearer(token)).status_code == 200
        assert api.get(TRUNKS, headers=bearer("unknown")).status_code == 401
