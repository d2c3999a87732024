"""What the emulator was asked, for tests to read back through ``GET /_emulator/requests``.

Entry kinds: ``api`` (Google paths), ``token`` (``POST /token``; the assertion is never kept) and
``control`` (out-of-band trunk edits through ``/_emulator/trunks``). ``status`` is the HTTP status
sent, or ``"dropped"`` when a fault closed the connection without a response.

Times are RFC 3339 with milliseconds: ``time`` when the request arrived, ``done`` when the emulator
was finished with it (answered, dropped, or committed after its client left). A held write
(``hold.py``) has ``held`` (seconds) and, if it changed anything, ``committed`` (when it did);
``client_gone`` is true when the client's connection was closed before the answer. ``injected`` names
every fault applied to the request, in order: ``quota:429`` (over ``quota_per_minute``),
``latency``, ``error:<status>``, ``reset``, ``lost_response`` (fault rules) and ``hold``. ``fault``
keeps the ids of the fault rules applied (comma separated).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

from .wire import rfc3339

EntryKind = Literal["api", "token", "control"]
MAX_ENTRIES = 10_000
"""Oldest entries are dropped beyond this, so a long sandbox run stays bounded."""


class RequestLog:
    def __init__(self) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=MAX_ENTRIES)
        self._next_seq = 1

    def start(
        self,
        *,
        kind: EntryKind,
        now: float,
        method: str,
        host: str | None,
        path: str,
        query: dict[str, str],
        body: Any,
        user_project: str | None,
    ) -> dict[str, Any]:
        """Append an entry; the caller fills ``status``, ``identity`` and ``fault`` as it learns them."""
        entry: dict[str, Any] = {
            "seq": self._next_seq,
            "time": rfc3339(now),
            "kind": kind,
            "method": method,
            "host": host,
            "path": path,
            "query": query,
            "body": body,
            "status": None,
            "identity": None,
            "user_project": user_project,
            "fault": None,
            "injected": [],
            "held": None,
            "committed": None,
            "client_gone": False,
            "done": None,
        }
        self._next_seq += 1
        self._entries.append(entry)
        return entry

    def entries(
        self,
        *,
        kind: str | None = None,
        method: str | None = None,
        path_contains: str | None = None,
        after_seq: int = 0,
    ) -> list[dict[str, Any]]:
        """Matching entries, oldest first; ``after_seq`` skips those with ``seq <= after_seq``."""
        return [
            entry
            for entry in self._entries
            if entry["seq"] > after_seq
            and (kind is None or entry["kind"] == kind)
            and (method is None or entry["method"] == method.upper())
            and (path_contains is None or path_contains in entry["path"])
        ]

    def clear(self) -> None:
        self._entries.clear()
