"""Trunks by resource name: server-assigned IDs, stable paging, optional JSON persistence."""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siptrunk_operator.models import Connection, SipTrunk, TrunkName

from .errors import invalid_argument

_STATE_VERSION = 1


def new_trunk_id() -> str:
    """16 random bytes, URL-safe base64 without padding: 22 characters like ``JxN1ndLCR9OJvgrDlc32_Q``."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()


@dataclass
class StoredTrunk:
    """A trunk as kept by the emulator (``trunk.connections`` is never set here)."""

    trunk: SipTrunk
    seq: int
    create_time: float
    script_start: float
    """When the connection script's clock last (re)started: create or ``expectedHostname`` change."""
    connections: list[Connection] | None = None
    """Connections set through the control endpoint; they replace the script while set."""

    @property
    def name(self) -> str:
        assert self.trunk.name is not None
        return self.trunk.name

    def to_json(self) -> dict[str, Any]:
        return {
            "sipTrunk": self.trunk.to_wire(),
            "seq": self.seq,
            "createTime": self.create_time,
            "scriptStart": self.script_start,
            "connections": None if self.connections is None else [c.to_wire() for c in self.connections],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredTrunk:
        connections = data.get("connections")
        return cls(
            trunk=SipTrunk.model_validate(data["sipTrunk"]),
            seq=int(data["seq"]),
            create_time=float(data["createTime"]),
            script_start=float(data["scriptStart"]),
            connections=None if connections is None else [Connection.model_validate(c) for c in connections],
        )


def _encode_token(parent: str, after_seq: int) -> str:
    raw = json.dumps({"parent": parent, "after": after_seq}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode_token(token: str, parent: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data["parent"] == parent and isinstance(data["after"], int):
            return data["after"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        pass
    raise invalid_argument(
        "Invalid page token: it was not returned by a previous list call for this parent.",
        reason="INVALID_PAGE_TOKEN",
        field="page_token",
    )


class TrunkStore:
    """All trunks of every project and location; writes through to ``state_file`` when given."""

    def __init__(self, state_file: Path | None = None) -> None:
        self._state_file = state_file
        self._trunks: dict[str, StoredTrunk] = {}
        self._next_seq = 1
        if state_file is not None and state_file.exists():
            self._load(state_file)

    def _load(self, path: Path) -> None:
        data = json.loads(path.read_text())
        if data.get("version") != _STATE_VERSION:
            raise ValueError(f"{path}: unsupported emulator state version {data.get('version')!r}")
        for item in data["trunks"]:
            stored = StoredTrunk.from_json(item)
            self._trunks[stored.name] = stored
        self._next_seq = max([int(data.get("nextSeq", 1)), *(t.seq + 1 for t in self._trunks.values())])

    def save(self) -> None:
        """Persist atomically (write a temporary file, then rename over the state file)."""
        if self._state_file is None:
            return
        data = {
            "version": _STATE_VERSION,
            "nextSeq": self._next_seq,
            "trunks": [t.to_json() for t in self._trunks.values()],
        }
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._state_file.parent, prefix=".emulator-state-")
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=1)
        os.replace(tmp, self._state_file)

    def create(self, parent: str, trunk: SipTrunk, now: float) -> StoredTrunk:
        name = f"{parent}/sipTrunks/{new_trunk_id()}"
        stored = StoredTrunk(
            trunk=trunk.model_copy(update={"name": name, "connections": None}),
            seq=self._next_seq,
            create_time=now,
            script_start=now,
        )
        self._next_seq += 1
        self._trunks[name] = stored
        self.save()
        return stored

    def get(self, name: str) -> StoredTrunk | None:
        return self._trunks.get(name)

    def replace(self, stored: StoredTrunk, trunk: SipTrunk, now: float) -> StoredTrunk:
        """Store new field values; a changed ``expectedHostname`` restarts the connection script."""
        if trunk.expected_hostname != stored.trunk.expected_hostname:
            stored.script_start = now
        stored.trunk = trunk.model_copy(update={"name": stored.name, "connections": None})
        self.save()
        return stored

    def set_connections(self, stored: StoredTrunk, connections: list[Connection] | None) -> StoredTrunk:
        stored.connections = connections
        self.save()
        return stored

    def delete(self, name: str) -> bool:
        found = self._trunks.pop(name, None) is not None
        if found:
            self.save()
        return found

    def list_page(self, parent: str, page_size: int, page_token: str) -> tuple[list[StoredTrunk], str]:
        """One page in creation order and the token of the next one (``""`` at the end)."""
        after = _decode_token(page_token, parent) if page_token else 0
        matching = [t for t in self._trunks.values() if t.seq > after and TrunkName.parse(t.name).parent == parent]
        matching.sort(key=lambda t: t.seq)
        page = matching[:page_size]
        more = len(matching) > page_size
        return page, _encode_token(parent, page[-1].seq) if more else ""

    def all(self) -> list[StoredTrunk]:
        return sorted(self._trunks.values(), key=lambda t: t.seq)

    def clear(self) -> None:
        self._trunks.clear()
        self.save()
