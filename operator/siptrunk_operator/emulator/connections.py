"""The connection script: what ``connections[]`` a trunk shows at a given moment.

Computed lazily on every read from timestamps, so no background task is needed and a restarted
emulator shows the same thing. A trunk has no connections until ``connect_after`` seconds after its
creation (or after its last ``expectedHostname`` change); then it has one CONNECTED connection per
expected hostname. Connections set through the control endpoint replace the script for that trunk.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from siptrunk_operator.models import Connection, ConnectionState, SipTrunk

from .errors import invalid_argument
from .store import StoredTrunk
from .wire import rfc3339


def connection_id(hostname: str) -> str:
    """A stable ID per hostname, so successive reads (and restarts) agree."""
    return "conn-" + hashlib.sha256(hostname.encode()).hexdigest()[:16]


def scripted_connections(stored: StoredTrunk, connect_after: float | None, now: float) -> list[Connection]:
    if connect_after is None or connect_after < 0:
        return []
    connected_at = stored.script_start + connect_after
    if now < connected_at:
        return []
    return [
        Connection(
            connection_id=connection_id(hostname),
            state=ConnectionState.CONNECTED,
            update_time=rfc3339(connected_at),
        )
        for hostname in stored.trunk.expected_hostname
    ]


def trunk_view(stored: StoredTrunk, connect_after: float | None, now: float) -> SipTrunk:
    """The trunk as the API returns it, connections materialised."""
    if stored.connections is not None:
        connections = stored.connections
    else:
        connections = scripted_connections(stored, connect_after, now)
    return stored.trunk.model_copy(update={"connections": connections or None})


def parse_explicit_connections(items: Sequence[Mapping[str, Any]], now: float) -> list[Connection]:
    """Connections given to ``:setConnections``; missing IDs and ``updateTime`` are filled in."""
    connections = []
    for index, item in enumerate(items):
        try:
            connection = Connection.model_validate(item)
        except ValidationError as exc:
            raise invalid_argument(f"connections[{index}]: {exc.errors()[0]['msg']}") from None
        connections.append(
            connection.model_copy(
                update={
                    "connection_id": connection.connection_id or "conn-" + secrets.token_hex(8),
                    "update_time": connection.update_time or rfc3339(now),
                }
            )
        )
    return connections
