"""Slow writes: hold a sipTrunks POST/PATCH/DELETE ``hold_writes_seconds``, then commit it.

Google commits a request it has received even when its caller has gone (timed out, killed). So does
this: the held write runs in a task of its own, which a cancelled handler (client gone with
``handler_cancellation``, server shutting down) does not cancel; ``EmulatorServer.stop`` waits for
the pending commits. Each request is held with probability ``hold_writes_fraction``.

A request that carries ``X-Server-Timeout`` (Google's system parameter) is given up at that timeout:
held past it, it is answered 504 DEADLINE_EXCEEDED and never committed, as a server honouring its
caller's deadline does.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine, Mapping
from typing import Any

from aiohttp import web

from .routing import Method, resolve_call

WRITES = frozenset({Method.CREATE, Method.UPDATE, Method.DELETE})


SERVER_TIMEOUT_HEADER = "X-Server-Timeout"


def server_timeout(headers: Mapping[str, str]) -> float | None:
    """Google's `X-Server-Timeout` system parameter (seconds the server may spend), if sent and valid."""
    try:
        value = float(headers.get(SERVER_TIMEOUT_HEADER, ""))
    except ValueError:
        return None
    return value if value > 0 else None


def hold_seconds(seconds: float, fraction: float, method: str, path: str, rng: random.Random) -> float:
    """How long to hold this request: ``seconds`` for a drawn sipTrunks write, else 0."""
    if seconds <= 0:
        return 0.0
    call = resolve_call(method, path)
    if call is None or call.method not in WRITES or rng.random() >= fraction:
        return 0.0
    return seconds


class PendingCommits:
    """Held writes still to commit; each runs as a task that nothing cancels."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[web.StreamResponse]] = set()

    def run(self, commit: Coroutine[Any, Any, web.StreamResponse]) -> asyncio.Future[web.StreamResponse]:
        """Start ``commit``; the returned future is shielded, so cancelling its awaiter leaves it running."""
        task = asyncio.get_running_loop().create_task(commit, name="emulator-held-write")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return asyncio.shield(task)

    async def drain(self) -> None:
        """Wait until every pending commit has run."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))
