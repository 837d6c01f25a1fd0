"""The ratio table `edgelab bench` prints: one row per measurement, edge-cache beside nginx."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Spread:
    """Median with min–max of repeated runs (e.g. one value per A/B pair)."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread | None:
        """The spread of `values`, or None when there are none."""
        if not values:
            return None
        return cls(float(statistics.median(values)), float(min(values)), float(max(values)),
                   len(values))


@dataclass
class Row:
    """One measurement. `ratio` is edge-cache / nginx when both exist.

    A measurement repeated in A/B pairs also carries the spreads: the columns then show the
    median (min–max), and `ratio` is the median of the per-pair ratios, not a ratio of medians.
    """

    measurement: str
    unit: str
    edge_cache: float | None = None
    nginx: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""
    compare: bool = True
    edge_cache_spread: Spread | None = None
    nginx_spread: Spread | None = None
    ratio_spread: Spread | None = None

    @property
    def ratio(self) -> float | None:
        if not self.compare:
            return None
        if self.ratio_spread is not None:
            return self.ratio_spread.median
        if self.edge_cache is None or self.nginx is None or self.nginx == 0:
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


def _cell(value: float | None, spread: Spread | None) -> str:
    if spread is None or spread.n < 2:
        return _fmt(value)
    return f"{_fmt(spread.median)} ({_fmt(spread.low)}–{_fmt(spread.high)})"


def render_table(report: Report) -> str:
    """A plain-text table (fixed-width columns) followed by skip messages and notes.

    Repeated measurements show ``median (min–max)`` in the edge-cache, nginx and ratio columns.
    """
    headers = ["measurement", "unit", "edge-cache", "nginx", "ratio", "target", "met"]
    body = []
    for row in report.rows:
        met = "" if row.met is None else ("yes" if row.met else "NO")
        body.append(
            [
                row.measurement,
                row.unit,
                _cell(row.edge_cache, row.edge_cache_spread),
                _cell(row.nginx, row.nginx_spread),
                _cell(row.ratio, row.ratio_spread if row.compare else None),
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
