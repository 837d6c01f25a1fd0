"""What every plot shares: colours by outcome, cache status and edge state, the legend beside the
data, the outage shading, and saving as PNG."""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from edgelab.plots.language import tr

OUTCOME_COLORS = {
    "ok": "#2e7d32",
    "queued": "#1565c0",
    "refused": "#f9a825",
    "error": "#c62828",
    "timeout": "#ef6c00",
    "conn_error": "#6a1b9a",
}
OUTCOME_ORDER = ["ok", "queued", "refused", "error", "timeout", "conn_error"]
OUTCOME_LABELS = {
    "ok": "answered (2xx/304)",
    "queued": "queued in the outbox (202)",
    "refused": "refused by the edge (503 not cached / 507 outbox full)",
    "error": "error (other 4xx/5xx)",
    "timeout": "timeout",
    "conn_error": "connection refused or reset",
}
# cache statuses: a fresh or offline answer is good news, QUEUED is a write that was kept
STATUS_COLORS = {
    "HIT": "#2e7d32",
    "OFFLINE-HIT": "#00838f",
    "STALE": "#8e24aa",
    "REVALIDATED": "#f9a825",
    "MISS": "#ef6c00",
    "QUEUED": "#1565c0",
    "BYPASS": "#757575",
}
STATE_COLORS = {"online": "#2e7d32", "offline": "#c62828", "unknown": "#bdbdbd"}
REFUSALS = (503, 507)
OUTAGE_COLOR = "#9e9e9e"
RECONNECT_COLOR = "#000000"
MARK_COLOR = "#37474f"
def save(fig: Figure, path: str | Path | None) -> Figure:
    """Write ``fig`` as PNG to ``path`` (when given, parents created); returns ``fig``."""
    if path is not None:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=120, format="png", bbox_inches="tight")
    return fig


def legend_outside(ax: Axes, **kwargs: object) -> None:
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
                  **kwargs)


def mark_outage(
    ax: Axes,
    outage: tuple[float, float] | None,
    reconnected_at: float | None,
    label: bool,
) -> None:
    if outage is not None:
        ax.axvspan(outage[0], outage[1], color=OUTAGE_COLOR, alpha=0.25,
                   label=tr("link down") if label else None)
    if reconnected_at is not None:
        ax.axvline(reconnected_at, color=RECONNECT_COLOR, linestyle="--", linewidth=1.2,
                   label=tr("reconnected") if label else None)
