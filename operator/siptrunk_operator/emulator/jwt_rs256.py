"""The little JWT handling the emulator needs: decode, and verify RS256 with ``cryptography``.

Written here to avoid a PyJWT dependency for three base64 segments and one signature check.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CLOCK_SKEW = 60.0
"""Seconds of tolerance on ``iat``/``exp``, like Google's token endpoint."""


class JwtError(ValueError):
    """The string is not a usable JWT (malformed, badly signed or outside its validity window)."""


def _b64decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise JwtError("segment is not base64url") from None


def _json_object(segment: str) -> dict[str, Any]:
    try:
        data = json.loads(_b64decode(segment))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise JwtError("segment is not JSON") from None
    if not isinstance(data, dict):
        raise JwtError("segment is not a JSON object")
    return data


@dataclass(frozen=True)
class Jwt:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def issuer(self) -> str | None:
        iss = self.claims.get("iss")
        return iss if isinstance(iss, str) and iss else None


def decode(token: str) -> Jwt:
    """Split and decode a compact JWS without checking its signature."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtError("a JWT has three segments")
    header, claims = _json_object(parts[0]), _json_object(parts[1])
    return Jwt(header, claims, f"{parts[0]}.{parts[1]}".encode(), _b64decode(parts[2]))


def verify_rs256(jwt: Jwt, public_key: rsa.RSAPublicKey) -> None:
    if jwt.header.get("alg") != "RS256":
        raise JwtError(f"unsupported alg {jwt.header.get('alg')!r}")
    try:
        public_key.verify(jwt.signature, jwt.signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise JwtError("invalid signature") from None


def check_lifetime(jwt: Jwt, now: float, *, max_lifetime: float | None = None) -> None:
    """``exp`` must be in the future, ``iat`` not in the future (with clock skew)."""
    exp, iat = jwt.claims.get("exp"), jwt.claims.get("iat")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise JwtError("missing exp claim")
    if exp + CLOCK_SKEW < now:
        raise JwtError("token expired")
    if isinstance(iat, int | float) and iat - CLOCK_SKEW > now:
        raise JwtError("token used before its iat")
    if max_lifetime is not None and isinstance(iat, int | float) and exp - iat > max_lifetime + CLOCK_SKEW:
        raise JwtError("token lifetime too long")
