"""After the burst: the steady-state window (API calls, idle CPU, staleness) and the quota run."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass, field

from siptrunk_operator.emulator import EmulatorControl, EmulatorControlError

from .environment import Environment
from .kube_http import KubeHttp, TrunkWatch, create_trunks, operator_ready
from .measure import RequestTally, cpu_seconds, polling

STALENESS_TIMEOUT_SECONDS = 120.0
"""Longer than the slow list interval plus the status tick (30 s + 5 s by default)."""


@dataclass
class SteadyResult:
    window_seconds: float
    changes: int
    api_calls: dict[str, int]
    api_calls_per_trunk_hour: float
    cpu_seconds: float
    idle_cpu_percent: float
    staleness_seconds: list[float]
    staleness_median: float | None
    staleness_max: float | None
    unobserved_changes: int
    request_log_complete: bool


async def _disconnect(control: EmulatorControl, watch: TrunkWatch, name: str) -> float | None:
    """Pin the trunk's connections to DISCONNECTED; seconds until the object's status shows it."""
    trunk_name = watch.objects[name]["status"]["name"]
    listed = (await asyncio.to_thread(control.trunk, trunk_name)).get("connections") or []
    pinned = [{"connectionId": c["connectionId"], "state": "DISCONNECTED"} for c in listed]
    wanted = {c["connectionId"] for c in pinned}
    started = time.monotonic()
    await asyncio.to_thread(control.set_connections, trunk_name, pinned)

    def shown() -> bool:
        mirrored = watch.objects.get(name, {}).get("status", {}).get("connections") or []
        states = {c.get("connectionId"): c.get("state") for c in mirrored}
        return all(states.get(cid) == "DISCONNECTED" for cid in wanted)

    if not await watch.wait_for(shown, STALENESS_TIMEOUT_SECONDS):
        return None
    return time.monotonic() - started


async def steady_window(env: Environment, watch: TrunkWatch, project: str, pid: int, *,
                        trunks: int, window: float, changes: int, rng: random.Random) -> SteadyResult:
    """API calls to `project` and the operator's CPU over `window` seconds, while `changes` random
    trunks are disconnected at even spacing (restored after the window); staleness of each change."""
    with EmulatorControl(env.emulator_url) as control:
        tally = RequestTally(control, project)
        await asyncio.to_thread(tally.reset)
        return await _window(env, watch, tally, pid, trunks=trunks, window=window, changes=changes, rng=rng)


async def _window(env: Environment, watch: TrunkWatch, tally: RequestTally, pid: int, *,
                  trunks: int, window: float, changes: int, rng: random.Random) -> SteadyResult:
    cpu_before, started = cpu_seconds(pid), time.monotonic()
    targets = rng.sample(sorted(watch.objects), min(changes, trunks))
    waits: list[asyncio.Task[float | None]] = []
    for index, name in enumerate(targets):
        await asyncio.sleep(max(0.0, started + window * (index + 0.5) / len(targets) - time.monotonic()))
        waits.append(asyncio.create_task(_disconnect(env.control, watch, name)))
    await asyncio.sleep(max(0.0, started + window - time.monotonic()))
    cpu = cpu_seconds(pid) - cpu_before
    elapsed = time.monotonic() - started
    mark = await asyncio.to_thread(tally.poll)
    staleness = await asyncio.gather(*waits)
    for name in targets:  # back to the connection script (CONNECTED), outside the window
        await asyncio.to_thread(env.control.set_connections, watch.objects[name]["status"]["name"], None)
    calls = tally.by_method(mark)
    observed = sorted(s for s in staleness if s is not None)
    return SteadyResult(
        window_seconds=elapsed, changes=len(targets), api_calls=dict(calls),
        api_calls_per_trunk_hour=sum(calls.values()) / trunks / (elapsed / 3600),
        cpu_seconds=cpu, idle_cpu_percent=100 * cpu / elapsed, staleness_seconds=observed,
        staleness_median=statistics.median(observed) if observed else None,
        staleness_max=max(observed) if observed else None,
        unobserved_changes=len(staleness) - len(observed), request_log_complete=tally.complete,
    )


@dataclass
class QuotaResult:
    trunks: int
    quota_per_minute: int
    bound_seconds: float
    seconds: float | None
    ready: int
    ratio_to_bound: float | None
    answers_429: int
    api_calls: dict[str, int]
    quota_emulated: bool
    request_log_complete: bool
    notes: list[str] = field(default_factory=list)


async def quota_run(env: Environment, kube: KubeHttp, *, trunks: int, quota: int, concurrency: int,
                    within: float) -> QuotaResult:
    """A fresh operator limited to `quota` requests a minute, the emulator's quota set to the same,
    `trunks` new trunks in a new project and namespace: time to all Ready against trunks / quota."""
    project, namespace = "bench-quota-project", "bench-quota"
    notes: list[str] = []
    try:
        await asyncio.to_thread(env.control.configure, quota_per_minute=quota)
        emulated = True
    except EmulatorControlError as error:
        emulated = False
        notes.append(f"the emulator refused quota_per_minute ({error.status}): no 429s emulated")
    tally = RequestTally(EmulatorControl(env.emulator_url), project)
    try:
        await asyncio.to_thread(env.start_operator, quota, concurrency)
        await operator_ready(kube, "quota")
        await kube.create_namespace(namespace)
        await asyncio.to_thread(tally.reset)
        async with TrunkWatch(kube, namespace) as watch, polling(tally):
            started = time.monotonic()
            await create_trunks(kube, namespace, project, trunks, concurrency, prefix="q", domain="quota")
            all_ready = await watch.wait_all_ready(trunks, within)
        await asyncio.to_thread(tally.poll)
    finally:
        if emulated:
            await asyncio.to_thread(env.control.configure, quota_per_minute=None)
        tally.control.close()
    bound = trunks / quota * 60
    seconds = watch.last_ready() - started if all_ready else None
    if not all_ready:
        notes.append(f"only {len(watch.ready_at)} of {trunks} Ready after {within:.0f} s")
    return QuotaResult(
        trunks=trunks, quota_per_minute=quota, bound_seconds=bound, seconds=seconds, ready=len(watch.ready_at),
        ratio_to_bound=None if seconds is None else seconds / bound, answers_429=tally.statuses()["429"],
        api_calls=dict(tally.by_method()), quota_emulated=emulated, request_log_complete=tally.complete,
        notes=notes,
    )
