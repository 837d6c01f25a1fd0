"""Plots a student reads at a glance: human durations, refusals not drawn as errors, the
online/offline strip and the detection/drain marks on the outage timeline, 简体中文 labels in
a CJK font."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from edgelab.plots.runs import disconnection_plots

from edgelab import plots


@pytest.fixture
def zh() -> Iterator[None]:
    plots.set_language("zh-CN")
    yield
    plots.set_language("en")


def test_human_durations() -> None:
    assert plots.human_duration(31_536_000) == "1 year"
    assert plots.human_duration(604_800) == "1 week"
    assert plots.human_duration(300) == "5 min"
    assert plots.human_duration(90) == "1.5 min"
    assert plots.human_duration(6) == "6 s"
    assert plots.human_duration(0.19) == "0.19 s"


def test_an_edge_refusal_is_not_an_error() -> None:
    table = pd.DataFrame({
        "outcome": ["ok", "error", "error", "error", "queued"],
        "status": [200, 503, 507, 500, 202],
        "cache_status": ["HIT", "MISS", "QUEUED", None, "QUEUED"],
    })
    assert plots.display_outcome(table).tolist() == ["ok", "refused", "refused", "error",
                                                     "queued"]
    assert plots.OUTCOME_COLORS["refused"] != plots.OUTCOME_COLORS["error"]
    assert plots.STATUS_COLORS["QUEUED"] != plots.OUTCOME_COLORS["error"]


def _run() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, object]]:
    t = [0.2 * i for i in range(50)]
    requests = pd.DataFrame({
        "t": t, "variant": "edge", "latency_ms": [2.0 + (i % 5) for i in range(50)],
        "outcome": ["ok"] * 50, "status": [200] * 50,
        "cache_status": ["HIT" if x < 2 or x >= 6 else "OFFLINE-HIT" for x in t],
    })
    states = pd.DataFrame({
        "t": [0.0, 2.5, 6.2], "edge": "shop-1", "state": ["online", "offline", "online"],
        "outbox_depth": [0, 3, 0],
    })
    summary: dict[str, object] = {"t_cut": 2.0, "t_restore": 6.0, "drain_time_s": 1.5,
                                  "mode": "refuse"}
    return requests, states, summary


def test_outage_timeline_has_a_state_strip_and_marks(tmp_path: Path) -> None:
    requests, states, _ = _run()
    fig = plots.timeline(requests, outage=(2.0, 6.0), states=states, detected_at=2.2,
                         drained_at=7.5, path=tmp_path / "t.png")
    strip = fig.get_axes()[-1]
    assert strip.get_ylabel() == "edge state" and strip.get_xlabel()
    assert [t.get_text() for t in strip.get_yticklabels()] == ["shop-1"]
    texts = [t.get_text() for t in fig.get_axes()[0].texts]
    assert "edge offline after 0.2 s" in texts
    assert "outbox empty 1.5 s after reconnect" in texts
    assert (tmp_path / "t.png").stat().st_size > 10_000


def test_chinese_plots_use_a_cjk_font(tmp_path: Path, zh: None) -> None:
    requests, states, summary = _run()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph … missing from font(s)" would raise
        written = disconnection_plots(tmp_path, requests, states, summary)
    assert [p.name for p in written] == ["timeline_edge.png", "outbox.png", "latency_ecdf.png"]
    fig = plots.timeline(requests, outage=(2.0, 6.0), title=plots.tr("Requests during a WAN "
                                                                      "outage"))
    assert fig.get_axes()[0].get_title() == "广域网断网期间的请求"
    assert fig.get_axes()[-1].get_xlabel() == "开始后的时间（秒）"
    assert plots.human_duration(31_536_000) == "1 年"
