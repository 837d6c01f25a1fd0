"""Plots of experiment and notebook tables (matplotlib, Agg; no display needed), one module by plot.

Every function takes a pandas table (plus a few arguments), returns the `Figure`, and saves a
PNG (Agg renderer) when given `path`. Figures are built without pyplot, so importing this package
never changes the backend of a notebook, and no global figure state leaks; they still display in
Jupyter. Column names are the defaults below and can be overridden by keyword. Legends sit
outside the data; axes whose values span decades are logarithmic; durations in titles are
human (`human_duration`); labels follow `set_language` (English or 简体中文).

- `timeline` (:mod:`.timeline`): requests per second by outcome and latency over time,
  outage shaded, reconnection marked, an online/offline strip per edge and marks for the
  moment the edge noticed the outage and the moment its outbox was empty. Table: the workload
  client's (``t``, ``latency_ms``, ``outcome``, ``status``, ``cache_status``).
- `outbox_depth` (:mod:`.timeline`): queued writes per edge over time, drain time marked.
  Table: ``t``, ``edge``, ``outbox_depth``.
- `latency_ecdf` (:mod:`.latency`): latency ECDF per cache status (log x; QUEUED is not an
  error colour).
- `hit_ratio_vs_cache_size` (:mod:`.hit_ratio`): measured hit ratio per skew with Che's LRU
  curve dashed; `che_figure`: Che's curves alone, before the sweep (04).
- `edge_vs_direct` (:mod:`.latency`): median (and p5–p95 band) latency through the edge and
  directly to the cloud vs WAN latency. Table: ``wan_latency_ms``, ``path``
  (``edge``/``direct``), ``latency_ms``.
- `probe_figure`, `browse_figure` (:mod:`.walkthrough`): health round trips (01), browsing
  through the edge (02).
- `disconnection_plots`, `sweep_plots` (:mod:`.runs`): an experiment's PNGs next to its CSV.

:mod:`.language` holds `set_language`, `tr` and `human_duration`; :mod:`.style` the colours,
the legend placement and `save`.
"""

from __future__ import annotations

from edgelab.plots.hit_ratio import che_figure, hit_ratio_vs_cache_size
from edgelab.plots.language import human_duration, set_language, tr
from edgelab.plots.latency import edge_vs_direct, latency_ecdf
from edgelab.plots.runs import disconnection_plots, sweep_plots
from edgelab.plots.style import OUTCOME_COLORS, STATUS_COLORS, save
from edgelab.plots.timeline import display_outcome, outbox_depth, timeline
from edgelab.plots.walkthrough import browse_figure, probe_figure

__all__ = [
    "OUTCOME_COLORS",
    "STATUS_COLORS",
    "browse_figure",
    "che_figure",
    "disconnection_plots",
    "display_outcome",
    "edge_vs_direct",
    "hit_ratio_vs_cache_size",
    "human_duration",
    "latency_ecdf",
    "outbox_depth",
    "probe_figure",
    "save",
    "set_language",
    "sweep_plots",
    "timeline",
    "tr",
]
