"""The baseline: only the irreducible work per trunk, at the operator's concurrency.

Per trunk: create the SipTrunk object, POST the trunk to the API with the production client,
one merge patch of the status subresource setting Ready=True. No list, no get, no finalizer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from pathlib import Path

from siptrunk_operator.api import ClientSettings, NotFound, SipTrunksClient
from siptrunk_operator.models import SipTrunk

from .kube_http import KubeHttp, ready_status, trunk_object

LOCATION = "global"


def client_settings(emulator_url: str, key_file: Path, requests_per_minute: int) -> ClientSettings:
    """What the operator builds from the environment it is given (`ClientSettings.from_env`)."""
    env: Mapping[str, str] = {
        "SIPTRUNK_API_EMULATOR_URL": emulator_url,
        "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
        "SIPTRUNK_REQUESTS_PER_MINUTE": str(requests_per_minute),
    }
    return ClientSettings.from_env(env)


async def run_baseline(kube: KubeHttp, settings: ClientSettings, *, namespace: str, project: str,
                       count: int, concurrency: int) -> float:
    """Create `count` trunks (names `b00000`...) with at most `concurrency` in flight; returns the
    `time.monotonic()` of the start, after one GET that fetches the token (the operator has one too)."""
    slots = asyncio.Semaphore(concurrency)

    async def one(client: SipTrunksClient, index: int) -> None:
        name, hostname, display = f"b{index:05d}", f"b{index}.baseline.example.com", f"Baseline trunk {index}"
        async with slots:
            created = await kube.create_trunk(namespace, trunk_object(name, project, hostname, display))
            trunk = await client.create(project, LOCATION, SipTrunk(display_name=display,
                                                                    expected_hostname=[hostname]))
            status = ready_status(str(trunk.name), int(created["metadata"]["generation"]), "baseline")
            await kube.patch_status(namespace, name, status)

    async with SipTrunksClient(settings) as client:
        with contextlib.suppress(NotFound):
            await client.get(f"projects/{project}/locations/{LOCATION}/sipTrunks/warm-up")
        started = time.monotonic()
        await asyncio.gather(*(one(client, i) for i in range(count)))
    return started
