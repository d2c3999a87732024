"""Identities, access tokens and permission checks.

Bearer tokens the emulator accepts:

* tokens it issued at ``POST /token`` (OAuth2 JWT-bearer grant, what google-auth's
  ``service_account.Credentials.refresh`` does with the key file's ``token_uri``);
* self-signed JWTs (AIP-4111), what Google's client libraries send for service accounts by default.

In ``open`` mode any bearer token passes: it stands for the issued token's or JWT's email, else for
:data:`DEFAULT_EMAIL`, and permissions are not checked. In ``iam`` mode a token must belong to a
registered identity (JWT signatures verified with the identity's public key) and that identity
needs the project and the permission.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import jwt_rs256
from .config import Mode
from .errors import invalid_argument, permission_denied, unauthenticated

PERMISSIONS: tuple[str, ...] = tuple(
    f"dialogflow.siptrunks.{verb}" for verb in ("create", "list", "get", "update", "delete")
)
DEFAULT_EMAIL = "open-mode@siptrunk-emulator.iam.gserviceaccount.com"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_LIFETIME = 3600
_TOKEN_PREFIX = "ya29.emulator."
_ASSERTION_MAX_LIFETIME = 3600.0


class OAuthError(Exception):
    """A token endpoint error, answered as ``{"error", "error_description"}`` (RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise ValueError("public_key_pem is not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("public_key_pem must be an RSA key (RS256)")
    return key


@dataclass(frozen=True)
class Identity:
    email: str
    public_key: rsa.RSAPublicKey | None
    projects: frozenset[str]
    """Projects it may act on; ``*`` means all."""
    permissions: frozenset[str]

    def allows(self, project: str, permission: str) -> bool:
        return ("*" in self.projects or project in self.projects) and permission in self.permissions

    def summary(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "projects": sorted(self.projects),
            "permissions": sorted(self.permissions),
        }


def _open_identity(email: str) -> Identity:
    return Identity(email, None, frozenset({"*"}), frozenset(PERMISSIONS))


class Iam:
    def __init__(self) -> None:
        self._identities: dict[str, Identity] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        """Issued access token -> (email, expiry)."""

    def register(
        self, email: str, public_key_pem: str, projects: list[str], permissions: list[str] | None = None
    ) -> Identity:
        unknown = set(permissions or ()) - set(PERMISSIONS)
        if unknown:
            raise ValueError(f"unknown permissions {sorted(unknown)}; known: {list(PERMISSIONS)}")
        identity = Identity(
            email=email,
            public_key=load_public_key(public_key_pem),
            projects=frozenset(projects),
            permissions=frozenset(PERMISSIONS if permissions is None else permissions),
        )
        self._identities[email] = identity
        return identity

    def load_file(self, path: Path) -> None:
        """Register ``identities: [{email, public_key_pem | public_key_file, projects, permissions}]``.

        JSON, or YAML for ``.yaml``/``.yml``; ``public_key_file`` is relative to the config file.
        """
        text = path.read_text()
        data = yaml.safe_load(text) if path.suffix in {".yaml", ".yml"} else json.loads(text)
        for entry in data.get("identities", []):
            pem = entry.get("public_key_pem")
            if pem is None:
                pem = (path.parent / entry["public_key_file"]).read_text()
            self.register(entry["email"], pem, list(entry.get("projects", [])), entry.get("permissions"))

    def identities(self) -> list[Identity]:
        return list(self._identities.values())

    def issued_tokens(self) -> list[dict[str, Any]]:
        """Every access token issued since start-up (or the last reset), with whom and until when:
        tests scan logs, Events and status for them (none may ever appear there)."""
        return [{"token": token, "email": email, "expires": expiry} for token, (email, expiry) in self._tokens.items()]

    def issue_token(self, grant_type: str | None, assertion: str | None, mode: Mode, now: float) -> tuple[str, str]:
        """Exchange a signed JWT assertion for an access token (the JWT-bearer grant): (token, email)."""
        if grant_type != JWT_BEARER_GRANT:
            raise OAuthError("unsupported_grant_type", f"Only {JWT_BEARER_GRANT} is supported.")
        if not assertion:
            raise OAuthError("invalid_request", "Missing required parameter: assertion")
        try:
            jwt = jwt_rs256.decode(assertion)
        except jwt_rs256.JwtError as exc:
            raise OAuthError("invalid_grant", f"Invalid JWT: {exc}.") from None
        if jwt.issuer is None:
            raise OAuthError("invalid_grant", "Invalid JWT: no iss claim.")
        if mode == "iam":
            self._verify(jwt, now, max_lifetime=_ASSERTION_MAX_LIFETIME)
        token = _TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._tokens[token] = (jwt.issuer, now + TOKEN_LIFETIME)
        return token, jwt.issuer

    def _verify(self, jwt: jwt_rs256.Jwt, now: float, *, max_lifetime: float | None) -> Identity:
        """The registered identity that signed ``jwt``, or an ``invalid_grant`` error."""
        identity = self._identities.get(jwt.issuer or "")
        if identity is None or identity.public_key is None:
            raise OAuthError("invalid_grant", f"Invalid grant: account {jwt.issuer!r} not found.")
        try:
            jwt_rs256.verify_rs256(jwt, identity.public_key)
            jwt_rs256.check_lifetime(jwt, now, max_lifetime=max_lifetime)
        except jwt_rs256.JwtError as exc:
            raise OAuthError("invalid_grant", f"Invalid JWT: {exc}.") from None
        return identity

    def authenticate(self, authorization: str | None, mode: Mode, now: float) -> Identity:
        """The identity behind an ``Authorization`` header, or a 401."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthenticated("CREDENTIALS_MISSING")
        issued = self._tokens.get(token)
        if issued is not None:
            email, expiry = issued
            if expiry < now:
                raise unauthenticated("ACCESS_TOKEN_EXPIRED")
            if mode == "open":
                return _open_identity(email)
            if email in self._identities:
                return self._identities[email]
            raise unauthenticated("ACCESS_TOKEN_TYPE_UNSUPPORTED")
        return self._authenticate_self_signed(token, mode, now)

    def _authenticate_self_signed(self, token: str, mode: Mode, now: float) -> Identity:
        try:
            jwt = jwt_rs256.decode(token)
        except jwt_rs256.JwtError:
            jwt = None
        if mode == "open":
            return _open_identity(jwt.issuer if jwt and jwt.issuer else DEFAULT_EMAIL)
        if jwt is None:
            raise unauthenticated("ACCESS_TOKEN_TYPE_UNSUPPORTED")
        try:
            return self._verify(jwt, now, max_lifetime=None)
        except OAuthError:
            raise unauthenticated("ACCESS_TOKEN_TYPE_UNSUPPORTED") from None

    @staticmethod
    def authorize(identity: Identity, mode: Mode, project: str, permission: str, resource: str) -> None:
        if mode == "iam" and not identity.allows(project, permission):
            raise permission_denied(permission, resource)


def register_from_json(iam: Iam, body: dict[str, Any]) -> Identity:
    """``POST /_emulator/identities``: the body validated into a registered identity (or a 400)."""
    try:
        email, pem, projects = body["email"], body["public_key_pem"], body.get("projects", [])
        if not isinstance(email, str) or not isinstance(projects, list):
            raise ValueError("email must be a string and projects a list")
        return iam.register(email, pem, [str(p) for p in projects], body.get("permissions"))
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise invalid_argument(f"invalid identity: {exc!s}") from None


def generate_service_account_key(email: str, token_uri: str, project_id: str = "sandbox") -> tuple[dict[str, str], str]:
    """A service-account key file (Google's JSON format) and its public key PEM, for tests and the sandbox."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    key_file = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": private_pem,
        "client_email": email,
        "client_id": str(secrets.randbelow(10**21)).zfill(21),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
        "universe_domain": "googleapis.com",
    }
    return key_file, public_pem
