"""SIGKILL the operator at random moments of its working life, and restart it at once."""

from __future__ import annotations

import asyncio
import random
import time

from .environment import ChaosEnvironment

MIN_GAP_SECONDS, MAX_GAP_SECONDS = 0.2, 3.0
ACTIVITY_TIMEOUT_SECONDS = 10.0


class Killer:
    """Each `cycle()` waits until the running operator is at work (its first request to the emulator since
    it started: the token request; at most `ACTIVITY_TIMEOUT_SECONDS`), then a random 0.2 to 3 s more, then
    kills it and starts a new one. Kill times are epoch seconds, as in the request log."""

    def __init__(self, env: ChaosEnvironment, rng: random.Random) -> None:
        self.env, self.rng = env, rng
        self.kills: list[float] = []

    async def cycle(self) -> None:
        await self._wait_active()
        await asyncio.sleep(self.rng.uniform(MIN_GAP_SECONDS, MAX_GAP_SECONDS))
        self.kills.append(await asyncio.to_thread(self.env.kill_operator))
        await asyncio.to_thread(self.env.start_operator)

    async def _wait_active(self) -> None:
        deadline = time.monotonic() + ACTIVITY_TIMEOUT_SECONDS
        collector = self.env.collector
        while time.monotonic() < deadline:
            await asyncio.to_thread(collector.poll)
            if collector.latest_token >= self.env.operator_started:
                return
            await asyncio.sleep(0.2)
