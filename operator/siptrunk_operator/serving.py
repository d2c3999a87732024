"""The operator's own HTTP endpoints: `/metrics` (Prometheus) and `/readyz` (leader or standby).

`/healthz` is kopf's liveness endpoint (`run --liveness`), answered from the event loop with the
`@kopf.on.probe` results: a stuck loop does not answer and a failing probe answers 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, ProcessCollector, generate_latest

from siptrunk_operator.metrics import REGISTRY

_LOG = logging.getLogger(__name__)
ProcessCollector(registry=REGISTRY)


class OpsServer:
    """`role()` says "leader" or "standby" once the operator serves, None before (not ready)."""

    def __init__(self, host: str, port: int, role: Callable[[], str | None]) -> None:
        self.host, self.port, self._role = host, port, role
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.add_routes([web.get("/metrics", self._metrics), web.get("/readyz", self._ready)])
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        _LOG.info("serving /metrics and /readyz on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _ready(self, _: web.Request) -> web.Response:
        role = self._role()
        status = 200 if role is not None else 503
        return web.Response(status=status, text=json.dumps({"role": role or "starting"}),
                            content_type="application/json")
