"""Benchmark: refreshing N trunks' connection state by paged list vs one GET per trunk.

Both run in this process against the same in-process emulator, through the operator's own
client, so the printed ratios compare like with like. Run: `make bench` or
`python tests/benchmarks/refresh_cost.py --trunks 1000`.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import tracemalloc

from google.oauth2.credentials import Credentials

from siptrunk_operator.api import ClientSettings, SipTrunksClient
from siptrunk_operator.emulator import EmulatorConfig, EmulatorServer
from siptrunk_operator.models import SipTrunk
from siptrunk_operator.refresher import TrunkRefresher

PROJECT, LOCATION = "bench-project", "global"


async def _seed(client: SipTrunksClient, count: int) -> list[str]:
    names: list[str] = []
    for start in range(0, count, 50):
        batch = [
            client.create(PROJECT, LOCATION, SipTrunk(expected_hostname=[f"sbc{i}.bench.example.com"]))
            for i in range(start, min(count, start + 50))
        ]
        names += [str(t.name) for t in await asyncio.gather(*batch)]
    return names


async def _by_list(client: SipTrunksClient, names: list[str]) -> tuple[float, int, int]:
    """One full refresh of the parent: seconds, list calls, and the cache's size (a second refresh
    under tracemalloc, so the timing is not slowed by it)."""
    timed = TrunkRefresher(client, fast_seconds=10, slow_seconds=30)
    for name in names:
        timed.watch(name)
    started = time.perf_counter()
    await timed.refresh_now(names[0])
    elapsed = time.perf_counter() - started
    assert all(timed.observed(n) is not None for n in names)

    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    measured = TrunkRefresher(client, fast_seconds=10, slow_seconds=30)
    for name in names:
        measured.watch(name)
    await measured.refresh_now(names[0])
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    cache_bytes = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return elapsed, timed.list_calls, cache_bytes


async def _by_get(client: SipTrunksClient, names: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(10)

    async def one(name: str) -> None:
        async with semaphore:
            await client.get(name)

    await asyncio.gather(*(one(n) for n in names))
    return time.perf_counter() - started, len(names)


async def _main(count: int) -> None:
    server = EmulatorServer(EmulatorConfig(connect_after=0.0))
    url = server.start_in_thread()
    settings = ClientSettings(emulator_url=url, requests_per_minute=0)
    try:
        async with SipTrunksClient(settings, credentials=Credentials(token="bench")) as client:
            names = await _seed(client, count)
            list_seconds, list_calls, cache_bytes = await _by_list(client, names)
            get_seconds, get_calls = await _by_get(client, names)
        print(f"trunks: {count}")
        print(f"list refresh: {list_calls} calls in {list_seconds * 1000:.1f} ms")
        print(f"GET-per-trunk baseline: {get_calls} calls in {get_seconds * 1000:.1f} ms")
        print(f"API calls ratio (GET baseline / list): {get_calls / list_calls:.0f}x")
        print(f"wall time ratio (GET baseline / list): {get_seconds / list_seconds:.1f}x")
        per_minute = list_calls * 60 / 30
        print(f"steady-state cost at the 30 s healthy cadence: {per_minute:.0f} requests/minute "
              f"(quota 60/min); at the 10 s fast cadence: {list_calls * 6:.0f}/minute")
        print(f"refresher cache for {count} trunks: {cache_bytes / 1024:.0f} KiB")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trunks", type=int, default=1000)
    asyncio.run(_main(parser.parse_args().trunks))


if __name__ == "__main__":
    main()
