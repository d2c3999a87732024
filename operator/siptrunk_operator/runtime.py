"""What `run` starts beside kopf: the engine, leader election, and the ops endpoints.

`SIPTRUNK_LEADER_ELECTION=true` (`run --leader-elect`) makes only the Lease holder reconcile;
otherwise this process reconciles at once (one replica). `SIPTRUNK_OPS_ADDRESS=host:port`
(`run --ops-address`) serves `/metrics` and `/readyz`; unset, nothing is served.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field

from siptrunk_operator.engine.engine import Engine
from siptrunk_operator.leader import LeaderElector, LeaderSettings
from siptrunk_operator.metrics import REGISTRY, EngineCollector
from siptrunk_operator.serving import OpsServer

_LOG = logging.getLogger(__name__)


def _enabled(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def parse_address(value: str) -> tuple[str, int]:
    """`host:port`, `:port` (all interfaces) or `[::1]:port`."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"SIPTRUNK_OPS_ADDRESS must be host:port, not {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


@dataclass
class _Current:
    """The engine the process-wide metrics collector reads (one registration per process)."""

    engine: Engine | None = None
    leading: bool = False


_CURRENT = _Current()
REGISTRY.register(EngineCollector(
    statuses=lambda: _CURRENT.engine.registry.statuses() if _CURRENT.engine else [],
    listing_ages=lambda: _CURRENT.engine.listing_ages() if _CURRENT.engine else {},
    leading=lambda: _CURRENT.leading,
))


@dataclass
class Runtime:
    engine: Engine
    elector: LeaderElector | None = None
    ops: OpsServer | None = None
    _lead: asyncio.Task[None] | None = field(default=None, repr=False)

    def health(self) -> dict[str, object]:
        """The liveness probe's report; raises if the engine or the election thread has died."""
        if self.elector is not None and not self.elector.alive:
            raise RuntimeError("the leader-election thread has stopped")
        return {"role": self.role() or "starting", **self.engine.health()}

    def role(self) -> str | None:
        if self.elector is None:
            return "leader" if _CURRENT.leading else None
        return "leader" if _CURRENT.leading else "standby"

    async def start(self) -> None:
        _CURRENT.engine = self.engine
        if _enabled(os.environ.get("SIPTRUNK_LEADER_ELECTION")):
            self.elector = LeaderElector(LeaderSettings.from_env())
        address = os.environ.get("SIPTRUNK_OPS_ADDRESS")
        if address:
            self.ops = OpsServer(*parse_address(address), role=self.role)
            await self.ops.start()
        if self.elector is None:
            self._begin()
            return
        self.elector.start()
        self._lead = asyncio.create_task(self._wait_for_lease(self.elector), name="leader-wait")

    async def _wait_for_lease(self, elector: LeaderElector) -> None:
        _LOG.info("standby: waiting for the Lease before reconciling")
        await elector.leading.wait()
        self._begin()

    def _begin(self) -> None:
        self.engine.start()
        _CURRENT.leading = True

    async def stop(self) -> None:
        if self._lead is not None:
            self._lead.cancel()
        _CURRENT.leading = False
        await self.engine.stop()
        if self.ops is not None:
            await self.ops.stop()
        _CURRENT.engine = None
