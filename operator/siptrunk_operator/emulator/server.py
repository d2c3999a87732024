"""Run the emulator inside a running event loop, or in a daemon thread with its own loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Generator
from types import TracebackType
from typing import Any

from aiohttp import web

from .app import make_app
from .config import EmulatorConfig
from .state import EmulatorState

_THREAD_TIMEOUT = 30.0


class _Done:
    """An awaitable that is already complete, for :meth:`EmulatorServer.stop` in thread mode."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield


class EmulatorServer:
    """One emulator instance listening on loopback (by default).

    In a loop: ``await server.start()`` ... ``await server.stop()`` (or ``async with``).
    From synchronous code: ``server.start_in_thread()`` ... ``server.stop()`` (or ``with``).
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config if config is not None else EmulatorConfig()
        self.state = EmulatorState.create(self.config)
        """Live state; only touch it from the server's loop (tests use the control endpoint)."""
        self.host: str | None = None
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self.host is None or self.port is None:
            raise RuntimeError("the emulator is not running")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 = a free port) in the current loop; returns the base URL."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        runner = web.AppRunner(make_app(self.state), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.host, self.port = host, int(runner.addresses[0][1])
        return self.url

    async def _shutdown(self) -> None:
        """Stop listening, then let held writes commit (``hold.py``): the API keeps what it received."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        await self.state.commits.drain()
        self.port = None

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start in a daemon thread running its own loop; returns the base URL once listening."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="siptrunk-emulator", daemon=True)
        thread.start()
        try:
            url = asyncio.run_coroutine_threadsafe(self.start(host, port), loop).result(_THREAD_TIMEOUT)
        except BaseException:
            self._join(loop, thread)
            raise
        self._loop, self._thread = loop, thread
        return url

    @staticmethod
    def _join(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_THREAD_TIMEOUT)
        loop.close()

    def stop(self) -> Awaitable[None]:
        """Stop listening.

        Thread mode: blocks until stopped (the returned awaitable is already done). Loop mode:
        schedules the shutdown and returns the task to ``await``.
        """
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            if self._runner is None:
                return _Done()
            return asyncio.get_running_loop().create_task(self._shutdown())
        self._loop = self._thread = None
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(_THREAD_TIMEOUT)
        finally:
            self._join(loop, thread)
        return _Done()

    def __enter__(self) -> EmulatorServer:
        self.start_in_thread()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
