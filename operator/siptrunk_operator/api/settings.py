"""Client configuration (pydantic), loadable from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

ENV_PREFIX = "SIPTRUNK_"


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ClientSettings(BaseModel):
    """Settings for :class:`~siptrunk_operator.api.SipTrunksClient`.

    ``emulator_url`` sends every request to that address while the ``Host`` header still names the
    real Google host (the emulator routes by it). It does not change where tokens come from: that
    is the credentials' own ``token_uri``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_version: Literal["v2", "v2beta1"] = "v2"
    emulator_url: str | None = None
    credentials_file: Path | None = None
    """Any google-auth credentials file (service-account key, authorized user, external account)."""
    credentials_json: str | None = Field(default=None, repr=False)
    """The same, inline. Kept out of ``repr``/``str``."""
    quota_project: str | None = None
    """Sent as ``x-goog-user-project``; overrides a quota project carried by the credentials."""
    timeout_seconds: float = Field(default=30.0, gt=0)
    """Per HTTP attempt."""
    deadline_seconds: float = Field(default=120.0, gt=0)
    """Per call, across all attempts and back-off sleeps (starts once the rate limiter admits it)."""
    initial_backoff: float = Field(default=1.0, gt=0)
    max_backoff: float = Field(default=32.0, gt=0)
    jitter: Literal["full", "equal"] = "equal"
    max_attempts: int = Field(default=8, ge=1)
    max_server_error_retries: int = Field(default=2, ge=0)
    requests_per_minute: int = Field(default=60, ge=0)
    """Client-side limit per project: never more admitted in any rolling minute; 0 disables it."""
    rate_limit_margin_seconds: float = Field(default=1.0, ge=0)
    """Added to the minute the limit is counted over, for skew between admission and server arrival."""

    @field_validator("emulator_url")
    @classmethod
    def _check_emulator_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("emulator_url must start with http:// or https://")
        host = (urlsplit(value).hostname or "").lower()
        if value.startswith("http://") and host not in _LOOPBACK:
            # Real credentials' bearer tokens would cross the network in clear text.
            raise ValueError(f"emulator_url over plain http must be a loopback address, not {host!r}")
        return value.rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ClientSettings:
        """Read ``SIPTRUNK_API_VERSION``, ``SIPTRUNK_API_EMULATOR_URL``, ``GOOGLE_APPLICATION_CREDENTIALS``,
        ``SIPTRUNK_QUOTA_PROJECT`` and ``SIPTRUNK_REQUESTS_PER_MINUTE``; ``overrides`` win."""
        env = os.environ if environ is None else environ
        names = {
            "api_version": f"{ENV_PREFIX}API_VERSION",
            "emulator_url": f"{ENV_PREFIX}API_EMULATOR_URL",
            "credentials_file": "GOOGLE_APPLICATION_CREDENTIALS",
            "quota_project": f"{ENV_PREFIX}QUOTA_PROJECT",
            "requests_per_minute": f"{ENV_PREFIX}REQUESTS_PER_MINUTE",
        }
        values: dict[str, Any] = {field: env[var] for field, var in names.items() if env.get(var)}
        return cls.model_validate({**values, **overrides})
