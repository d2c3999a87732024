"""Run the chosen scenarios in one environment; print a figures line for each and the summary line."""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.benchmarks.kube_http import KubeHttp, operator_ready

from .common import Context
from .environment import ChaosEnvironment
from .options import ChaosOptions
from .report import LEGEND, ScenarioFigures, failure_lines, figures_line, summary_line
from .scenarios import SCENARIOS


def _say(line: str) -> None:
    print(line, flush=True)


async def _scenario(env: ChaosEnvironment, kube: KubeHttp, options: ChaosOptions, name: str) -> ScenarioFigures:
    ctx = Context(env, kube, options, random.Random(f"{options.seed}:{name}"))
    try:
        return await SCENARIOS[name](ctx)
    except Exception as error:  # reported as a failed scenario; the others still run
        return ScenarioFigures(name, objects=0, failures=[f"the scenario crashed: {error!r}"])
    finally:  # whatever it left behind: no faults, no held writes, an operator running
        await asyncio.to_thread(env.control.clear_faults)
        await asyncio.to_thread(env.control.configure, hold_writes_seconds=0.0)
        if not env.operator.running:
            await asyncio.to_thread(env.start_operator)


async def _run_all(env: ChaosEnvironment, options: ChaosOptions, names: Sequence[str]) -> list[ScenarioFigures]:
    kube = KubeHttp(env.tls)
    try:
        await asyncio.to_thread(env.start_operator)
        await operator_ready(kube, "chaos")
        results = []
        for name in names:
            figures = await _scenario(env, kube, options, name)
            _say(figures_line(figures))
            for line in failure_lines(figures):
                _say(line)
            results.append(figures)
        return results
    finally:
        await kube.aclose()


def run(options: ChaosOptions, names: Sequence[str], *, operator_env: Mapping[str, str],
        workdir: Path | None = None) -> int:
    """0 when every scenario passed (no duplicate, orphan, unconverged object or failed check), else 1.
    The working directory (every process's log) is kept when given or when a scenario failed."""
    directory = workdir or Path(tempfile.mkdtemp(prefix="siptrunk-chaos-"))
    directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _say(LEGEND)
    settings = " ".join(f"{key}={value}" for key, value in sorted(operator_env.items()))
    _say(f"chaos: {'long' if options.long else 'default'} configuration, seed {options.seed}; operator {settings}")
    results: list[ScenarioFigures] = []
    try:
        with ChaosEnvironment(directory, operator_env) as env:
            results = asyncio.run(_run_all(env, options, names))
    finally:
        _say(summary_line(results, time.monotonic() - started))
    passed = len(results) == len(names) and all(result.ok for result in results)
    if passed and workdir is None:
        shutil.rmtree(directory, ignore_errors=True)
    else:
        _say(f"chaos: logs kept in {directory}")
    return 0 if passed else 1
