"""The ratio table `edgelab bench` prints: one row per measurement, edge-cache beside nginx."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Row:
    """One measurement. `ratio` is edge-cache / nginx when both exist."""

    measurement: str
    unit: str
    edge_cache: float | None = None
    nginx: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""
    compare: bool = True

    @property
    def ratio(self) -> float | None:
        if not self.compare or self.edge_cache is None or self.nginx is None or self.nginx == 0:
            return None
        return self.edge_cache / self.nginx

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        return data


@dataclass
class Report:
    title: str
    rows: list[Row] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def skip(self, message: str) -> None:
        self.skipped.append(message)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": [row.to_dict() for row in self.rows],
            "skipped": list(self.skipped),
            "environment": dict(self.environment),
        }

    @property
    def targets_missed(self) -> list[Row]:
        return [row for row in self.rows if row.met is False]


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render_table(report: Report) -> str:
    """A plain-text table (fixed-width columns) followed by skip messages and notes."""
    headers = ["measurement", "unit", "edge-cache", "nginx", "ratio", "target", "met"]
    body = []
    for row in report.rows:
        met = "" if row.met is None else ("yes" if row.met else "NO")
        body.append(
            [
                row.measurement,
                row.unit,
                _fmt(row.edge_cache),
                _fmt(row.nginx),
                _fmt(row.ratio),
                row.target,
                met,
            ]
        )
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]
    numeric = {2, 3, 4}

    def line(cells: list[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            out.append(cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    lines = [report.title, "", line(headers), line(["-" * w for w in widths])]
    lines += [line(cells) for cells in body]
    notes = [row for row in report.rows if row.note]
    if notes:
        lines.append("")
        lines += [f"  {row.measurement}: {row.note}" for row in notes]
    if report.skipped:
        lines.append("")
        lines += [f"  skipped: {message}" for message in report.skipped]
    return "\n".join(lines)
