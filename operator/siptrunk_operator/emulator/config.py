"""Emulator settings; the runtime-tunable ones can be changed through ``POST /_emulator/config``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Mode = Literal["open", "iam"]

RUNTIME_SETTINGS: frozenset[str] = frozenset(
    {
        "mode",
        "connect_after",
        "require_peer_hostnames",
        "default_page_size",
        "max_page_size",
        "quota_per_minute",
        "latency_seconds",
        "hold_writes_seconds",
        "hold_writes_fraction",
    }
)
"""Settings ``POST /_emulator/config`` may change; the file paths are fixed at start."""


class EmulatorConfig(BaseModel):
    """How the emulator behaves.

    ``mode``: ``open`` accepts any bearer token (all permissions); ``iam`` only accepts tokens of
    registered identities and enforces their projects and permissions.
    ``connect_after``: seconds after create (or an ``expectedHostname`` change) until the scripted
    connections appear as CONNECTED; ``None`` or negative: they never appear on their own.
    ``state_file``: trunks (with pinned connections) persist there; identities come from
    ``iam_config`` and issued tokens are not kept, so after a restart clients need new tokens.
    ``quota_per_minute``: at most this many API requests per consumer project (the path's project,
    or ``x-goog-user-project``) in any rolling 60 s; more get Google's 429 (see ``quota.py``).
    ``None``: no quota.
    ``latency_seconds``: every API call (not ``/token`` nor ``/_emulator/``) waits this long first.
    ``hold_writes_seconds``: a sipTrunks POST/PATCH/DELETE (with probability ``hold_writes_fraction``)
    is held this long, then committed even if its client has gone, as a slow API does (``hold.py``).
    """

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    mode: Mode = "open"
    connect_after: float | None = 2.0
    require_peer_hostnames: bool = False
    state_file: Path | None = None
    iam_config: Path | None = None
    default_page_size: int = Field(default=100, ge=1)
    max_page_size: int = Field(default=1000, ge=1)
    quota_per_minute: int | None = Field(default=None, ge=1)
    latency_seconds: float = Field(default=0.0, ge=0)
    hold_writes_seconds: float = Field(default=0.0, ge=0)
    hold_writes_fraction: float = Field(default=1.0, ge=0, le=1)

    @property
    def connections_scripted(self) -> bool:
        return self.connect_after is not None and self.connect_after >= 0
