"""The benchmark's figures (the dict `run_benchmark` returns) as one markdown table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Run = Mapping[str, Any]
METHODS = (("POST", "POST"), ("GET", "GET (one)"), ("LIST", "LIST (pages)"), ("PATCH", "PATCH"),
           ("DELETE", "DELETE"), ("other", "other"))


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.0f} MiB"


def _split(values: Mapping[str, float]) -> str:
    return f"{values['object']:.2f} / {values['status']:.2f} (total {values['total']:.2f})"


def _reasons(values: Mapping[str, float]) -> str:
    return ", ".join(f"{reason} {count:.2f}" for reason, count in values.items()) or "none"


def _not_ok(statuses: Mapping[str, int]) -> str:
    bad = {status: n for status, n in statuses.items() if not status.startswith("2")}
    return ", ".join(f"{status}: {n}" for status, n in sorted(bad.items())) or "none"


def _staleness(steady: Run) -> str:
    text = f"{_seconds(steady['staleness_median'])} / {_seconds(steady['staleness_max'])}"
    return text + (f" ({steady['unobserved_changes']} never seen)" if steady["unobserved_changes"] else "")


def _per_trunk(method: str) -> Callable[[Run], str]:
    return lambda run: f"{run['api_calls_per_trunk'].get(method, 0):.2f}"


def _rows(settle: float) -> list[tuple[str, Callable[[Run], str]]]:
    rows: list[tuple[str, Callable[[Run], str]]] = [
        ("apply concurrency C", lambda r: str(r["concurrency"])),
        ("baseline: all Ready", lambda r: _seconds(r["baseline_seconds"])),
        ("operator: all Ready", lambda r: _seconds(r["operator_seconds"])),
        ("ratio operator / baseline", lambda r: _ratio(r["ratio_operator_to_baseline"])),
    ]
    rows += [(f"API calls per trunk until all Ready: {label}", _per_trunk(key)) for key, label in METHODS]
    rows += [
        ("LIST pages until all Ready, total (list passes)", lambda r: f"{r['list_pages']} ({r['list_passes']})"),
        (f"API calls per trunk until settled (+{settle:.0f} s), all methods",
         lambda r: f"{r['api_calls_per_trunk_settled']:.2f}"),
        ("API answers not 2xx until settled", lambda r: _not_ok(r["api_statuses_settled"])),
        ("Kubernetes writes per trunk until all Ready: object / status",
         lambda r: _split(r["kube_writes_per_trunk"])),
        ("Kubernetes writes per trunk until settled: object / status",
         lambda r: _split(r["kube_writes_per_trunk_settled"])),
        ("Events per trunk, by reason", lambda r: _reasons(r["events_per_trunk"])),
        ("operator CPU during the burst", lambda r: _seconds(r["operator_cpu_seconds"])),
        ("operator peak RSS (VmHWM)", lambda r: _mib(r["operator_peak_rss_bytes"])),
        ("no-op kopf operator peak RSS, same objects", lambda r: _mib(r["noop_peak_rss_bytes"])),
        ("ratio operator RSS / no-op RSS", lambda r: _ratio(r["ratio_rss_operator_to_noop"])),
        ("steady: window, connection changes",
         lambda r: f"{r['steady']['window_seconds']:.0f} s, {r['steady']['changes']}"),
        ("steady: API calls per trunk-hour", lambda r: f"{r['steady']['api_calls_per_trunk_hour']:.1f}"),
        ("steady: API calls in the window, by method",
         lambda r: ", ".join(f"{m} {n}" for m, n in r["steady"]["api_calls"].items() if n) or "none"),
        ("steady: idle CPU, % of one core", lambda r: f"{r['steady']['idle_cpu_percent']:.2f} %"),
        ("steady: staleness median / max", lambda r: _staleness(r["steady"])),
        ("request log complete (burst / window)",
         lambda r: f"{'yes' if r['request_log_complete'] else 'NO'} / "
                   f"{'yes' if r['steady']['request_log_complete'] else 'NO'}"),
    ]
    return rows


def _quota_rows(quota: Run) -> list[tuple[str, str]]:
    head = f"quota run ({quota['trunks']} trunks, {quota['quota_per_minute']}/min, restarted operator)"
    rows = [
        (f"{head}: all Ready", _seconds(quota["seconds"]) + ("" if quota["seconds"] else f", {quota['ready']} Ready")),
        (f"{head}: ratio to the {quota['bound_seconds']:.0f} s bound", _ratio(quota["ratio_to_bound"])),
        (f"{head}: 429 answers", str(quota["answers_429"]) if quota["quota_emulated"] else "n/a (not emulated)"),
        (f"{head}: API calls per trunk",
         ", ".join(f"{m} {n / quota['trunks']:.2f}" for m, n in quota["api_calls"].items() if n) or "none"),
    ]
    return rows + [(f"{head}: note", note) for note in quota["notes"]]


def format_report(result: Mapping[str, Any]) -> str:
    runs: list[Run] = result["runs"]
    machine: Mapping[str, str] = result["machine"]
    lines = [
        f"command: `{result['command']}`",
        "machine: " + "; ".join(f"{key} {value}" for key, value in machine.items()),
        f"runtime: {result['runtime_seconds']:.0f} s",
        "",
        "| figure | " + " | ".join(f"N={run['trunks']}" for run in runs) + " |",
        "|---|" + "---:|" * len(runs),
    ]
    for label, cell in _rows(float(result["options"]["settle"])):
        lines.append(f"| {label} | " + " | ".join(cell(run) for run in runs) + " |")
    if result["growth"]:
        smallest = min(int(run["trunks"]) for run in runs)
        for key, label in (("trunks", "N"), ("time", "time to all Ready"), ("rss", "operator peak RSS")):
            cells = " | ".join(f"{factor[key]:.2f}x" for factor in result["growth"])
            lines.append(f"| growth from N={smallest}: {label} | {cells} |")
    if result["quota"]:
        for label, value in _quota_rows(result["quota"]):  # in the column of the last N, which it followed
            lines.append(f"| {label} | " + " | ".join([""] * (len(runs) - 1) + [value]) + " |")
    return "\n".join(lines)
