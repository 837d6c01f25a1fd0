"""The page render benchmark's summary and table (the measurement itself runs in `make bench`:
a real lab, timings are not asserted in tests)."""

from __future__ import annotations

from edgelab.bench.pages import PageTimes, day_pages, render


def test_summary_and_table() -> None:
    times = PageTimes()
    for i in range(1, 101):
        times.add("cloud", "/", float(i), None)
        times.add("edge offline", "/", i / 10, "OFFLINE-HIT")
    times.add("edge online", "/stock", 5.0, "REVALIDATED")
    times.failures = 2
    summary = times.summary()
    assert summary["cloud"]["requests"] == 100
    assert summary["cloud"]["p50_ms"] == 50.5
    assert 99.0 <= summary["cloud"]["p99_ms"] <= 100.0
    assert summary["edge offline"]["x_edge_cache"] == {"OFFLINE-HIT": 100}
    assert summary["edge online"]["p50_ms_by_page"] == {"/stock": 5.0}
    summary.update(pages=day_pages(2, 7), rounds=3)
    table = render(summary)
    assert "cloud" in table and "OFFLINE-HIT 100" in table and "failed requests: 2" in table
    assert "/products/7" in table and "/stock 5.0" not in table  # per page: three numbers
    assert "/stock -/5.0/-" in table
    assert render({"error": "boom"}).endswith("failed: boom")


def test_the_day_is_what_the_ui_links() -> None:
    pages = day_pages(2, 7, "zh-CN")
    assert "/stock?warehouse_id=2&lang=zh-CN" in pages
    assert "/documents/stocktake?warehouse_id=2&lang=zh-CN" in pages
    assert len(pages) == 9 and all(p.endswith("lang=zh-CN") for p in pages)
