"""One scenario's figures, its figures line, and the summary line across scenarios."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from .figures import amplification

LEGEND = (
    "chaos: amplification = every sipTrunks API call the operator made to the scenario's project "
    "(list pages, failed and faulted calls included) / minimal calls (1 POST per create, 1 PATCH per edit "
    "that changes a trunk, 1 DELETE per trunk deleted); lists = list pages among those calls; "
    "converge_s = from the end of each disturbance until every object converged, summed; "
    "kills and mid_create_kills: operator SIGKILLs, mid-create when a POST had arrived at the emulator and was "
    "not yet answered or committed; faults counted from the emulator's request log"
)
Extra = int | float | str


@dataclass
class ScenarioFigures:
    name: str
    objects: int
    kills: int = 0
    mid_create_kills: int = 0
    duplicates: int = 0
    orphans: int = 0
    unconverged: int = 0
    calls: int = 0
    lists: int = 0
    minimal: int = 0
    converge_s: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    extra: dict[str, Extra] = field(default_factory=dict)
    """Scenario-specific figures, printed after the common ones."""
    failures: list[str] = field(default_factory=list)
    """Checks that failed besides duplicates, orphans and unconverged objects."""

    @property
    def amplification(self) -> float | None:
        return amplification(self.calls, self.minimal)

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.orphans or self.unconverged or self.failures)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _faults(faults: Counter[str]) -> str:
    return ",".join(f"{kind}:{n}" for kind, n in sorted(faults.items())) or "none"


def _extra(value: Extra) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def figures_line(figures: ScenarioFigures) -> str:
    common: list[tuple[str, Extra]] = [
        ("objects", figures.objects), ("kills", figures.kills), ("mid_create_kills", figures.mid_create_kills),
        ("duplicates", figures.duplicates), ("orphans", figures.orphans), ("unconverged", figures.unconverged),
        ("amplification", _number(figures.amplification)), ("calls", figures.calls), ("lists", figures.lists),
        ("minimal", figures.minimal), ("converge_s", figures.converge_s),
        ("faults_injected", sum(figures.faults.values())), ("faults", _faults(figures.faults)),
    ]
    pairs = [*common, *figures.extra.items(), ("result", "PASS" if figures.ok else "FAIL")]
    return f"chaos {figures.name}: " + " ".join(f"{key}={_extra(value)}" for key, value in pairs)


def failure_lines(figures: ScenarioFigures) -> list[str]:
    return [f"chaos {figures.name} FAILED: {failure}" for failure in figures.failures]


def summary_line(results: Sequence[ScenarioFigures], runtime_s: float) -> str:
    """Totals across scenarios; amplification is total calls / total minimal calls."""
    total = ScenarioFigures("summary", objects=sum(r.objects for r in results))
    for result in results:
        total.kills += result.kills
        total.mid_create_kills += result.mid_create_kills
        total.duplicates += result.duplicates
        total.orphans += result.orphans
        total.unconverged += result.unconverged
        total.calls += result.calls
        total.lists += result.lists
        total.minimal += result.minimal
        total.converge_s += result.converge_s
        total.faults += result.faults
    failed = [r.name for r in results if not r.ok]
    pairs: list[tuple[str, Extra]] = [
        ("scenarios", len(results)), ("objects", total.objects), ("kills", total.kills),
        ("mid_create_kills", total.mid_create_kills), ("duplicates", total.duplicates), ("orphans", total.orphans),
        ("unconverged", total.unconverged), ("amplification", _number(total.amplification)),
        ("converge_s", total.converge_s), ("faults_injected", sum(total.faults.values())),
        ("runtime_s", runtime_s), ("failed", ",".join(failed) or "none"), ("result", "FAIL" if failed else "PASS"),
    ]
    return "chaos summary: " + " ".join(f"{key}={_extra(value)}" for key, value in pairs)
