"""Kubernetes Events from `siptrunk-operator`, posted in the background so a pass never waits on them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from siptrunk_operator.engine.loop import log_ref
from siptrunk_operator.plan.actions import Event
from siptrunk_operator.plan.view import ObjectView

_LOG = logging.getLogger("siptrunk_operator.events")
Poster = Callable[..., Awaitable[None]]
_FLUSH_SECONDS = 5.0


class EventPoster:
    """A bounded queue drained by a few tasks; when full, the oldest pending Event is dropped
    (and logged), never the pass."""

    def __init__(self, post: Poster, *, capacity: int = 10_000, concurrency: int = 4) -> None:
        self._post = post
        self._queue: asyncio.Queue[tuple[Mapping[str, Any], Event]] = asyncio.Queue(capacity)
        self._concurrency = concurrency
        self._tasks: list[asyncio.Task[None]] = []
        self.posted = 0

    def post(self, view: ObjectView, event: Event) -> None:
        level = logging.WARNING if event.warning else logging.INFO
        _LOG.log(level, "%s: %s", event.reason, event.message, extra=log_ref(view))
        involved = {"metadata": {"namespace": view.namespace, "name": view.name, "uid": view.uid}}
        if self._queue.full():
            dropped = self._queue.get_nowait()
            self._queue.task_done()
            _LOG.warning("event queue full; dropped %s", dropped[1].reason)
        self._queue.put_nowait((involved, event))

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._drain(), name=f"events-{i}") for i in range(self._concurrency)]

    async def _drain(self) -> None:
        while True:
            involved, event = await self._queue.get()
            try:
                await self._post(involved, type="Warning" if event.warning else "Normal",
                                 reason=str(event.reason), message=event.message)
                self.posted += 1
            except Exception as err:  # best effort: a terminating namespace refuses Events
                _LOG.info("could not post Event %s: %s", event.reason, err)
            finally:
                self._queue.task_done()

    async def flush(self) -> None:
        """Wait (a few seconds at most) until the queued Events are posted."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_FLUSH_SECONDS):
                await self._queue.join()

    async def stop(self) -> None:
        await cancel_all(self._tasks)


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the tasks and wait until each has ended."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
