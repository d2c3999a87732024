"""Benchmark: a burst of N SipTrunks against a minimal baseline, then the steady state and a quota run.

Everything runs on 127.0.0.1 and is stopped at the end: kube-apiserver + etcd with the CRD, the
API emulator in a thread (50 ms per call, connections CONNECTED 1 s after create) and the operator
as a child process (cluster-wide). `BENCHMARKS.md` explains each figure.

    python tests/benchmarks/burst.py --trunks 1000          # `make bench`
    python tests/benchmarks/burst.py --trunks 100,1000,5000 # growth factors from the smallest N
    python tests/benchmarks/burst.py --smoke                # CI: N=20, 10 s window, no quota run

`run_benchmark(options)` returns the figures as a dict (for tests: counts, never times);
`report.format_report` prints them.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: `tests.benchmarks` importable

import argparse
import asyncio
import os
import random
import shlex
import shutil
import signal
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from siptrunk_operator.emulator import EmulatorControl
from tests.benchmarks.baseline import client_settings, run_baseline
from tests.benchmarks.environment import Environment
from tests.benchmarks.kube_http import KubeHttp, TrunkWatch, create_trunks, operator_ready, warm_up
from tests.benchmarks.kube_metrics import siptrunk_requests, writes_between
from tests.benchmarks.measure import (
    RequestTally,
    cpu_seconds,
    machine_facts,
    operator_revision,
    peak_rss_bytes,
    polling,
)
from tests.benchmarks.report import format_report
from tests.benchmarks.steady import QuotaResult, SteadyResult, quota_run, steady_window

BURST_REQUESTS_PER_MINUTE = 600_000
"""The operator's client-side limit during the burst: out of the way."""
BENCH_NAMESPACE, BENCH_PROJECT = "bench", "bench-project"
BASELINE_NAMESPACE, BASELINE_PROJECT = "baseline", "baseline-project"


@dataclass
class BenchOptions:
    trunks: list[int] = field(default_factory=lambda: [1000])
    concurrency: int = 16
    window: float = 120.0
    changes: int = 10
    settle: float = 15.0
    quota_run: bool = True
    quota_trunks: int = 100
    quota_per_minute: int = 60
    noop: bool = True
    ready_timeout: float = 1800.0
    seed: int = 1
    workdir: Path | None = None
    """Kept after the run (logs of every process) when given; otherwise a temporary directory."""
    command: str = ""

    @classmethod
    def smoke(cls) -> BenchOptions:
        """CI: N=20, a 10 s window with 2 changes, no quota run, no no-op operator."""
        return cls(trunks=[20], window=10.0, changes=2, settle=5.0, quota_run=False, noop=False,
                   ready_timeout=300.0)


@dataclass
class SizeResult:
    trunks: int
    concurrency: int
    baseline_seconds: float
    operator_seconds: float
    ratio_operator_to_baseline: float
    api_calls_per_trunk: dict[str, float]
    """Until all Ready, by method: POST, GET (one), LIST (pages), PATCH, DELETE."""
    list_pages: int
    list_passes: int
    api_calls_per_trunk_settled: float
    api_statuses_settled: dict[str, int]
    kube_writes_per_trunk: dict[str, float]
    """Until all Ready: object, status, total (the benchmark's own N creates excluded)."""
    kube_writes_per_trunk_settled: dict[str, float]
    events_per_trunk: dict[str, float]
    operator_cpu_seconds: float
    operator_peak_rss_bytes: int
    noop_peak_rss_bytes: int | None
    ratio_rss_operator_to_noop: float | None
    steady: SteadyResult
    request_log_complete: bool


async def _baseline_seconds(env: Environment, kube: KubeHttp, options: BenchOptions, trunks: int) -> float:
    """The baseline in its own namespace and project, with no operator running; its objects are then deleted."""
    await kube.create_namespace(BASELINE_NAMESPACE)
    await warm_up(kube, BASELINE_NAMESPACE, BASELINE_PROJECT, options.concurrency)
    settings = client_settings(env.emulator_url, env.key_file, BURST_REQUESTS_PER_MINUTE)
    async with TrunkWatch(kube, BASELINE_NAMESPACE) as watch:
        started = await run_baseline(kube, settings, namespace=BASELINE_NAMESPACE, project=BASELINE_PROJECT,
                                     count=trunks, concurrency=options.concurrency)
        if not await watch.wait_all_ready(trunks, 60):
            raise RuntimeError(f"baseline: only {len(watch.ready_at)} of {trunks} objects Ready")
        seconds = watch.last_ready() - started
        await kube.delete_all_trunks(BASELINE_NAMESPACE)
        if not await watch.wait_for(lambda: not watch.objects, 60):
            raise RuntimeError("baseline: objects still present 60 s after deleting them")
    return seconds


def _per_trunk(counts: dict[str, int], trunks: int) -> dict[str, float]:
    return {key: value / trunks for key, value in counts.items()}


async def _measure_size(env: Environment, options: BenchOptions, trunks: int,
                        with_quota: bool) -> tuple[SizeResult, QuotaResult | None]:
    """Baseline, operator burst, settle, no-op operator and steady window for one N (then the quota run)."""
    kube = KubeHttp(env.tls, connections=options.concurrency + 8)
    tally = RequestTally(EmulatorControl(env.emulator_url), BENCH_PROJECT)
    try:
        baseline = await _baseline_seconds(env, kube, options, trunks)
        pid = await asyncio.to_thread(env.start_operator, BURST_REQUESTS_PER_MINUTE, options.concurrency)
        await operator_ready(kube, "burst")
        await kube.create_namespace(BENCH_NAMESPACE)
        async with TrunkWatch(kube, BENCH_NAMESPACE) as watch:
            await asyncio.to_thread(tally.reset)
            metrics_before = siptrunk_requests(await kube.metrics_text())
            cpu_before = cpu_seconds(pid)
            async with polling(tally):
                started = time.monotonic()
                await create_trunks(kube, BENCH_NAMESPACE, BENCH_PROJECT, trunks, options.concurrency,
                                    prefix="t", domain=BENCH_NAMESPACE)
                if not await watch.wait_all_ready(trunks, options.ready_timeout):
                    raise RuntimeError(f"only {len(watch.ready_at)} of {trunks} Ready after "
                                       f"{options.ready_timeout:.0f} s; operator log:\n{env.operator_log_tail()}")
                seconds = watch.last_ready() - started
                cpu, rss = cpu_seconds(pid) - cpu_before, peak_rss_bytes(pid)
                ready_seq = await asyncio.to_thread(tally.poll)
                metrics_ready = siptrunk_requests(await kube.metrics_text())
                await asyncio.sleep(options.settle)
                await asyncio.to_thread(tally.poll)
                metrics_settled = siptrunk_requests(await kube.metrics_text())
            events = await kube.settled_event_reasons(BENCH_NAMESPACE)
            calls_ready, calls_settled = tally.by_method(ready_seq), tally.by_method()
            noop_rss = await env.noop_peak_rss(BENCH_NAMESPACE, trunks) if options.noop else None
            steady = await steady_window(env, watch, BENCH_PROJECT, pid, trunks=trunks, window=options.window,
                                         changes=options.changes, rng=random.Random(options.seed))
        quota = None
        if with_quota:
            quota = await quota_run(env, kube, trunks=options.quota_trunks, quota=options.quota_per_minute,
                                    concurrency=options.concurrency, within=options.ready_timeout)
    finally:
        tally.control.close()
        await kube.aclose()

    own_creates = {"object": trunks, "status": 0, "total": trunks}
    writes_ready = writes_between(metrics_before, metrics_ready)
    writes_settled = writes_between(metrics_before, metrics_settled)
    result = SizeResult(
        trunks=trunks, concurrency=options.concurrency, baseline_seconds=baseline, operator_seconds=seconds,
        ratio_operator_to_baseline=seconds / baseline,
        api_calls_per_trunk=_per_trunk(dict(calls_ready), trunks),
        list_pages=calls_ready["LIST"], list_passes=tally.list_passes(ready_seq),
        api_calls_per_trunk_settled=sum(calls_settled.values()) / trunks,
        api_statuses_settled=dict(tally.statuses()),
        kube_writes_per_trunk=_per_trunk({k: v - own_creates[k] for k, v in writes_ready.items()}, trunks),
        kube_writes_per_trunk_settled=_per_trunk({k: v - own_creates[k] for k, v in writes_settled.items()}, trunks),
        events_per_trunk=_per_trunk(dict(events.most_common()), trunks),
        operator_cpu_seconds=cpu, operator_peak_rss_bytes=rss, noop_peak_rss_bytes=noop_rss,
        ratio_rss_operator_to_noop=rss / noop_rss if noop_rss else None,
        steady=steady, request_log_complete=tally.complete,
    )
    return result, quota


def _growth(runs: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Factors against the smallest N: trunks, time to all Ready, operator peak RSS."""
    smallest = min(runs, key=lambda run: int(run["trunks"]))
    return [{"trunks": run["trunks"] / smallest["trunks"],
             "time": run["operator_seconds"] / smallest["operator_seconds"],
             "rss": run["operator_peak_rss_bytes"] / smallest["operator_peak_rss_bytes"]} for run in runs]


def run_benchmark(options: BenchOptions) -> dict[str, Any]:
    """Run every N in `options.trunks` (each in a fresh environment), the quota run after the last."""
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="siptrunk-bench-"))
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    quota: QuotaResult | None = None
    try:
        for index, trunks in enumerate(options.trunks):
            last = index == len(options.trunks) - 1
            directory = workdir / f"n{trunks}"
            directory.mkdir(parents=True, exist_ok=True)
            with Environment(directory) as env:
                size, size_quota = asyncio.run(_measure_size(env, options, trunks, last and options.quota_run))
            runs.append(asdict(size))
            quota = size_quota or quota
    finally:
        if options.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return {
        "command": options.command,
        "machine": {**machine_facts(), "operator": operator_revision()},
        "options": {**asdict(options), "workdir": str(options.workdir) if options.workdir else None},
        "runs": runs,
        "growth": _growth(runs) if len(runs) > 1 else None,
        "quota": asdict(quota) if quota else None,
        "runtime_seconds": time.monotonic() - started,
    }


def _trunk_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("--trunks takes positive integers, comma separated")
    return counts


def parse_options(argv: Sequence[str], program: str = "tests/benchmarks/burst.py") -> BenchOptions:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trunks", type=_trunk_counts, help="N, or a list: 100,1000,5000 (default 1000)")
    parser.add_argument("--concurrency", type=int, help="apply concurrency C (default 16)")
    parser.add_argument("--window", type=float, help="steady-state window W in seconds (default 120)")
    parser.add_argument("--changes", type=int, help="connection changes in the window (default 10)")
    parser.add_argument("--settle", type=float, help="seconds after all Ready before the window (default 15)")
    parser.add_argument("--quota-run", action=argparse.BooleanOptionalAction, help="the quota run (default on)")
    parser.add_argument("--noop", action=argparse.BooleanOptionalAction, help="the no-op kopf operator (default on)")
    parser.add_argument("--ready-timeout", type=float, help="seconds to wait for all Ready (default 1800)")
    parser.add_argument("--seed", type=int, help="which trunks change in the window (default 1)")
    parser.add_argument("--workdir", type=Path, help="keep every process's log there")
    parser.add_argument("--smoke", action="store_true", help="CI: N=20, window 10 s, no quota run, no no-op")
    args = vars(parser.parse_args(argv))
    base = BenchOptions.smoke() if args.pop("smoke") else BenchOptions()
    given = {key: value for key, value in args.items() if value is not None}
    return replace(base, **given, command=shlex.join([os.path.relpath(sys.executable), program, *argv]))


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(sys.argv[1:] if argv is None else argv, os.path.relpath(sys.argv[0]))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds like Ctrl-C: everything is stopped
    try:
        result = run_benchmark(options)
    except KeyboardInterrupt:
        print("interrupted; every server and process was stopped", file=sys.stderr)
        return 130
    print(format_report(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
