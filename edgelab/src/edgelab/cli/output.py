"""Printing for the CLI: rich tables and colours on a terminal, plain text in pipes, or JSON."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from edgelab.jsonio import dumps
from edgelab.targets.base import PartHealth


def print_json(data: Any) -> None:
    sys.stdout.write(dumps(data) + "\n")
    sys.stdout.flush()


def console() -> Console:
    """stdout: colours on a terminal; in a pipe plain text, 120 columns wide."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def error_console() -> Console:
    return Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 120)


def cell(value: Any) -> str:
    """A value as a table cell: – for none, yes/no, floats to three places (whole above 1000)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def health_table(rows: Sequence[PartHealth], title: str = "EdgeLab") -> Table:
    table = Table(title=title)
    for col in ("part", "kind", "address", "pid/node", "healthy", "state", "outbox",
                "hit ratio"):
        table.add_column(col, no_wrap=col in {"part", "address"},
                         justify="right" if col in {"outbox", "hit ratio", "pid/node"} else "left")
    for r in rows:
        state_style = {"online": "green", "ready": "green", "up": "green", "offline": "red",
                       "down": "red", "stopped": "red"}.get(r.state.split(" ")[0], "yellow")
        table.add_row(
            r.name,
            r.kind,
            r.url.replace("http://", "").replace("(control ", "(ctl "),
            str(r.pid) if r.pid else (r.node or "–"),
            "[green]yes[/]" if r.healthy else "[red]no[/]",
            f"[{state_style}]{r.state}[/]" + (f"\n[dim]{r.detail}[/]" if r.detail else ""),
            cell(r.outbox_depth),
            "–" if r.hit_ratio is None else f"{r.hit_ratio:.1%}",
        )
    return table


def kv_table(data: Mapping[str, Any], title: str) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in data.items():
        if isinstance(value, Mapping | list):
            value = dumps(value, indent=None)
        table.add_row(str(key), cell(value))
    return table
