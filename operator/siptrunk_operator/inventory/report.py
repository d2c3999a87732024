"""An audit report as a table (for people) or JSON (for scripts)."""

from __future__ import annotations

from typing import Any

from siptrunk_operator.models import TrunkName

from .audit import AuditReport, Finding, Kind

_HEADERS = ("CLASS", "TRUNK", "OBJECT", "DETAIL")


def _trunk_id(name: str) -> str:
    try:
        return TrunkName.parse(name).trunk_id
    except ValueError:
        return name


def _row(finding: Finding) -> tuple[str, str, str, str]:
    trunks = ",".join(_trunk_id(name) for name in finding.trunks) or "-"
    return str(finding.kind), trunks, ",".join(finding.objects) or "-", finding.detail


def summary(report: AuditReport) -> str:
    counts = ", ".join(f"{kind} {report.count(kind)}" for kind in Kind)
    return f"{report.parent}: {counts} (exit code {report.exit_code})"


def to_table(report: AuditReport) -> str:
    """Aligned columns, trunks by ID (the parent is in the summary line), then the summary."""
    rows = [_HEADERS, *map(_row, report.findings)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_HEADERS) - 1)]
    lines = ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]).rstrip()
             for row in rows]
    return "\n".join([*lines, "", summary(report)]) + "\n"


def to_json(report: AuditReport) -> dict[str, Any]:
    return {
        "parent": report.parent,
        "summary": {str(kind): report.count(kind) for kind in Kind},
        "exitCode": report.exit_code,
        "findings": [
            {"class": str(f.kind), "trunks": list(f.trunks), "objects": list(f.objects), "detail": f.detail}
            for f in report.findings
        ],
    }
