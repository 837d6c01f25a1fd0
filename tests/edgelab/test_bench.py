"""`edgelab bench` harness: nginx config, wrk parsing, the ratio table, A/B pairs, real runs."""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
from pathlib import Path

import pytest
from edgelab.bench import add_arguments, run_all
from edgelab.bench.disk import FlushProbe
from edgelab.bench.edge_vs_nginx import (
    EDGE,
    NGINX,
    NGINX_AGAIN,
    EnqueueFigures,
    HitRun,
    calm_pairs,
    counted_runs,
    enqueue_rows,
    hit_rows,
    pair_order,
    pressure_note,
)
from edgelab.bench.nginx import NginxConfig, find_nginx, render_nginx_conf
from edgelab.bench.pressure import cpu_some_us, share
from edgelab.bench.report import Report, Row, Spread, render_table
from edgelab.bench.wrk import WrkResult, parse_wrk_output

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8080/items/hot
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   635.91us    1.51ms  37.43ms   97.09%
    Req/Sec    29.49k     3.50k   37.09k    75.00%
  Latency Distribution
     50%  251.00us
     75%  362.00us
     90%  563.00us
     99%    7.54ms
  587207 requests in 10.01s, 469.72MB read
  Non-2xx or 3xx responses: 12
  Socket errors: connect 0, read 3, write 0, timeout 2
Requests/sec:  58676.24
Transfer/sec:     46.94MB
"""


def test_parse_wrk_output() -> None:
    result = parse_wrk_output(WRK_OUTPUT)
    assert result.requests == 587207
    assert result.duration_s == pytest.approx(10.01)
    assert result.requests_per_s == pytest.approx(58676.24)
    assert result.p50_ms == pytest.approx(0.251)
    assert result.p90_ms == pytest.approx(0.563)
    assert result.p99_ms == pytest.approx(7.54)
    assert result.non_2xx_3xx == 12
    assert result.socket_errors == 5
    with pytest.raises(RuntimeError, match="no request count"):
        parse_wrk_output("wrk: connection refused")


def test_nginx_config_has_the_reference_settings(tmp_path: Path) -> None:
    cfg = NginxConfig(18080, "127.0.0.1", 18000, tmp_path)
    text = render_nginx_conf(cfg, run_as_root=False)
    for directive in (
        "worker_processes 1;",
        "access_log off;",
        "open_file_cache max=10000 inactive=60s;",
        "proxy_cache_lock on;",
        "proxy_cache_revalidate on;",
        "proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;",
        "proxy_cache_background_update on;",
        "proxy_connect_timeout 2s;",
        "proxy_read_timeout 2s;",
        "listen 127.0.0.1:18080",
        "server 127.0.0.1:18000;",
        f"proxy_cache_path {tmp_path}/cache",
    ):
        assert directive in text
    assert "user root" not in text
    assert "user root;" in render_nginx_conf(cfg, run_as_root=True)


def test_nginx_accepts_the_rendered_config(tmp_path: Path) -> None:
    exe = find_nginx()
    assert exe is not None, "nginx is a system dependency (scripts/install-system-deps)"
    for sub in ("cache", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (tmp_path / sub).mkdir(parents=True)
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_nginx_conf(NginxConfig(18080, "127.0.0.1", 18000, tmp_path)))
    done = subprocess.run(
        [exe, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr


def test_ratio_table() -> None:
    report = Report("edge-cache vs nginx")
    report.add(Row("throughput", "req/s", 5000.0, 20000.0, "ratio ≥ 0.33", False))
    report.add(Row("offline slow GETs", "count", 0, 950, "0", True, "nginx waits", compare=False))
    report.add(Row("time to OFFLINE", "s", 1.5, None, "≤ 3 s", True))
    report.skip("enqueue: not built yet")
    assert report.rows[0].ratio == pytest.approx(0.25)
    assert report.rows[1].ratio is None and report.rows[2].ratio is None
    assert [row.measurement for row in report.targets_missed] == ["throughput"]
    text = render_table(report)
    lines = text.splitlines()
    assert lines[0] == "edge-cache vs nginx"
    assert any(line.startswith("throughput") and "0.25" in line and "NO" in line for line in lines)
    assert "skipped: enqueue: not built yet" in text
    assert "offline slow GETs: nginx waits" in text
    data = json.loads(json.dumps(report.to_dict()))
    assert data["rows"][0]["ratio"] == pytest.approx(0.25)


def test_quick_run_against_nginx_and_a_real_origin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--quick",
            "--json",
            "--only",
            "edge-cache",
            "--servers",
            "nginx",
            "--pairs",
            "1",
            "--workdir",
            str(tmp_path / "bench"),
        ]
    )
    assert run_all(args) == 0
    out = json.loads(capsys.readouterr().out)
    report = out["edge_cache_vs_nginx"]
    rows = {row["measurement"]: row for row in report["rows"]}
    assert rows, report
    throughput = rows["cache-hit throughput, 32 conns"]
    assert throughput["nginx"] > 0 and throughput["edge_cache"] is None
    assert any(m.startswith("offline:") for m in rows)
    assert any(m.startswith("RSS with") for m in rows)
    assert all("failed" not in message for message in report["skipped"]), report["skipped"]


def _wrk(rps: float, p99_ms: float) -> WrkResult:
    return WrkResult(1000, 1.0, rps, p99_ms / 4, p99_ms / 2, p99_ms, 0, 0)


def test_cpu_pressure_counter_and_share(tmp_path: Path) -> None:
    psi = tmp_path / "cpu"
    psi.write_text(
        "some avg10=1.00 avg60=0.50 avg300=0.10 total=1500000\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    )
    assert cpu_some_us(psi) == 1_500_000
    assert cpu_some_us(tmp_path / "missing") is None
    psi.write_text("full avg10=0.00 total=7\n")
    assert cpu_some_us(psi) is None
    assert share(1_000_000, 1_600_000, 6.0) == pytest.approx(0.1)
    assert share(None, 5, 6.0) is None and share(5, 7, 0) is None
    assert cpu_some_us() is None or cpu_some_us() >= 0  # this kernel's own file reads


def _pair(pair: int, edge_pressure: float | None, nginx_pressure: float | None) -> list[HitRun]:
    return [HitRun(pair, EDGE, _wrk(100, 1.0), edge_pressure),
            HitRun(pair, NGINX, _wrk(100, 1.0), nginx_pressure)]


def test_busy_pairs_are_left_out_when_enough_calm_pairs_exist() -> None:
    runs = [*_pair(0, 0.01, 0.02), *_pair(1, 0.40, 0.01), *_pair(2, 0.0, 0.0),
            *_pair(3, 0.02, 0.35), *_pair(4, 0.05, 0.05)]
    assert calm_pairs(runs) == [0, 2, 4]  # a pair is busy when either of its runs was
    kept = counted_runs(runs, 3)
    assert [(r.pair, r.server) for r in kept] == [
        (0, EDGE), (0, NGINX), (2, EDGE), (2, NGINX), (4, EDGE), (4, NGINX)]
    assert [r.pair for r in counted_runs(runs, 2)] == [0, 0, 2, 2]  # the first calm ones
    note = pressure_note(runs, kept)
    assert "0%–40%" in note and "2 of 5 pairs over 10%" in note
    assert "the rows use the 3 calm pairs" in note
    # too few calm pairs: every pair counts, and the note says so
    assert counted_runs(runs, 4) == runs
    assert "too few calm pairs: the rows use all pairs" in pressure_note(runs, runs)
    # no pressure file: every run is calm, nothing is measured again
    blind = [*_pair(0, None, None), *_pair(1, None, None)]
    assert calm_pairs(blind) == [0, 1] and counted_runs(blind, 2) == blind
    assert "not available" in pressure_note(blind, blind)


def test_pairs_alternate_their_order() -> None:
    servers = [EDGE, NGINX, NGINX_AGAIN]
    assert pair_order(servers, 0) == [EDGE, NGINX, NGINX_AGAIN]
    assert pair_order(servers, 1) == [NGINX, EDGE, NGINX_AGAIN]
    assert pair_order(servers, 2) == servers
    assert servers == [EDGE, NGINX, NGINX_AGAIN]  # not changed in place
    assert pair_order([EDGE], 1) == [EDGE]
    # over pairs, edge-cache and nginx wait the same between their runs, and no server runs
    # twice in a row
    sequence = [s for pair in range(7) for s in pair_order(servers, pair)]
    assert all(a != b for a, b in itertools.pairwise(sequence))

    def gaps(name: str) -> list[int]:
        at = [i for i, s in enumerate(sequence) if s == name]
        return [j - i - 1 for i, j in itertools.pairwise(at)]

    assert sorted(gaps(EDGE)) == sorted(gaps(NGINX)) == [1, 1, 1, 3, 3, 3]


def test_spread_is_median_with_min_and_max() -> None:
    assert Spread.of([]) is None
    assert Spread.of([3.0, 1.0, 2.0, 10.0]) == Spread(2.5, 1.0, 10.0, 4)


def test_hit_rows_use_the_median_of_per_pair_ratios() -> None:
    # edge-cache 100/300/200 req/s against nginx 200/200/100: per-pair ratios 0.5, 1.5, 2.0.
    # The medians of the columns (200 and 200) would give 1.0; the row must say 1.5 (0.5–2.0).
    runs = [
        HitRun(0, EDGE, _wrk(100, 1.0)), HitRun(0, NGINX, _wrk(200, 2.0)),
        HitRun(1, EDGE, _wrk(300, 2.0)), HitRun(1, NGINX, _wrk(200, 2.0)),
        HitRun(2, EDGE, _wrk(200, 3.0)), HitRun(2, NGINX, _wrk(100, 2.0)),
    ]
    throughput, p50, p99 = hit_rows(runs, 6, ["load 1.00"])
    assert (throughput.edge_cache, throughput.nginx) == (200, 200)
    assert throughput.ratio_spread == Spread(1.5, 0.5, 2.0, 3)
    assert throughput.ratio == pytest.approx(1.5)
    assert throughput.edge_cache_spread == Spread(200, 100, 300, 3)
    assert throughput.met is True and throughput.target == "ratio ≥ 0.85"
    assert "3 A/B pairs (edge_cache → nginx, the first two swapped in every other pair, 6 s" in (
        throughput.note
    )
    assert "per-pair ratios 0.50, 1.50, 2.00" in throughput.note and "load 1.00" in throughput.note
    assert p50.edge_cache == pytest.approx(0.5)
    assert p99.edge_cache_spread == Spread(2.0, 1.0, 3.0, 3)
    assert p99.nginx == 2.0 and p99.target == "≤ nginx" and p99.met is True
    slower = [HitRun(r.pair, r.server, _wrk(r.result.requests_per_s / 2, 9.0)) if r.server == EDGE
              else r for r in runs]
    throughput, _, p99 = hit_rows(slower, 6)
    assert throughput.ratio == pytest.approx(0.75) and throughput.met is False
    assert p99.met is False
    alone = hit_rows([r for r in runs if r.server == EDGE], 6)
    assert alone[0].ratio is None and alone[0].met is None
    assert alone[2].target == "≤ 5 ms" and alone[2].met is True
    report = Report("t")
    for row in hit_rows(runs, 6):
        report.add(row)
    assert "1.50 (0.50–2.00)" in render_table(report)
    assert json.loads(json.dumps(report.to_dict()))["rows"][0]["ratio_spread"]["low"] == 0.5


def test_control_rows_compare_the_second_nginx_with_the_first() -> None:
    # nginx 200/100 req/s, the second nginx 100/150 in the same pairs: ratios 0.5 and 1.5
    runs = [
        HitRun(0, EDGE, _wrk(300, 1.0)), HitRun(0, NGINX, _wrk(200, 2.0)),
        HitRun(0, NGINX_AGAIN, _wrk(100, 4.0)),
        HitRun(1, EDGE, _wrk(300, 1.0)), HitRun(1, NGINX, _wrk(100, 2.0)),
        HitRun(1, NGINX_AGAIN, _wrk(150, 1.0)),
    ]
    rows = hit_rows(runs, 6)
    assert len(rows) == 5
    throughput, _, p99, again_rps, again_p99 = rows
    assert throughput.ratio_spread == Spread(2.25, 1.5, 3.0, 2)  # edge-cache / the first nginx
    assert p99.nginx_spread == Spread(2.0, 2.0, 2.0, 2)
    assert again_rps.edge_cache is None and again_rps.target == "" and again_rps.met is None
    assert again_rps.nginx_spread == Spread(125, 100, 150, 2)
    assert again_rps.ratio_spread == Spread(1.0, 0.5, 1.5, 2)
    assert again_p99.ratio_spread == Spread(1.25, 0.5, 2.0, 2)
    assert "second, identical nginx" in again_p99.note
    assert len(hit_rows([r for r in runs if r.server != NGINX_AGAIN], 6)) == 3


def test_quick_ab_pairs_against_edge_cache_and_nginx(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--quick", "--json", "--only", "edge-cache", "--measure", "hits", "--pairs", "2",
         "--workdir", str(tmp_path / "bench")]
    )
    assert run_all(args) == 0
    report = json.loads(capsys.readouterr().out)["edge_cache_vs_nginx"]
    assert report["skipped"] == []
    runs = report["environment"]["cache_hit_runs"]
    assert [(r["pair"], r["server"]) for r in runs] == [
        (0, EDGE), (0, NGINX), (1, NGINX), (1, EDGE)  # the order reversed in the second pair
    ]
    assert all(r["requests_per_s"] > 0 and r["non_2xx_3xx"] == 0 for r in runs)
    rows = {row["measurement"]: row for row in report["rows"]}
    assert set(rows) == {"cache-hit throughput, 32 conns", "cache-hit p50 latency",
                         "cache-hit p99 latency"}
    ratios = [runs[0]["requests_per_s"] / runs[1]["requests_per_s"],
              runs[3]["requests_per_s"] / runs[2]["requests_per_s"]]
    throughput = rows["cache-hit throughput, 32 conns"]
    assert throughput["ratio"] == pytest.approx(statistics.median(ratios))
    assert throughput["ratio_spread"]["low"] == pytest.approx(min(ratios))
    assert throughput["ratio_spread"]["high"] == pytest.approx(max(ratios))
    p99 = rows["cache-hit p99 latency"]
    assert p99["nginx"] == pytest.approx(statistics.median([runs[1]["p99_ms"], runs[2]["p99_ms"]]))
    assert p99["target"] == "≤ nginx" and isinstance(p99["met"], bool)


def test_enqueue_rows_show_new_reference_and_floor() -> None:
    figures = EnqueueFigures(
        posts=100, new=[1.0] * 98 + [9.0, 9.0], reference=[2.0] * 98 + [12.0, 12.0],
        floor=[0.5] * 98 + [3.0, 3.0], load_before="1.00 0.50 0.25 1/90 7",
        load_after="1.10 0.50 0.25 1/90 8")
    rows = {row.measurement: row for row in enqueue_rows(figures)}
    p99 = rows["offline: enqueue 100 POSTs, p99 (incl. fsync)"]
    assert p99.edge_cache == pytest.approx(9.0) and p99.met is True
    assert rows["offline: enqueue 100 POSTs, p50 (incl. fsync)"].edge_cache == 1.0
    ref99 = rows["offline: enqueue p99, reference edge-cache "
                 "(EDGE_CACHE_OUTBOX_ACKED_SYNC=background)"]
    assert ref99.edge_cache == pytest.approx(12.0)
    floor = rows["bare fdatasync of 32 B in place, same disk (floor), p99"]
    assert floor.edge_cache == pytest.approx(3.0)
    assert "p99 new/reference 0.75" in p99.note and "p99 new/fdatasync floor 3.00" in p99.note
    assert "/proc/loadavg 1.00 0.50 0.25 1/90 7 before" in p99.note
    slow = enqueue_rows(EnqueueFigures(posts=2, new=[5.0, 30.0], reference=[], floor=[1.0],
                                       reference_ran=False))
    assert slow[1].met is False and "no reference edge-cache ran" in slow[1].note
    assert not any("reference edge-cache (" in row.measurement for row in slow)
    data = json.loads(json.dumps(figures.to_dict()))
    assert data["new"]["n"] == 100 and data["fdatasync_floor"]["p99_ms"] == pytest.approx(3.0)


def test_flush_probe_rewrites_one_block_in_place(tmp_path: Path) -> None:
    with FlushProbe(tmp_path) as probe:
        took = [probe.once_ms() for _ in range(3)]
        assert probe.path.stat().st_size == 32 and all(t > 0 for t in took)
        assert probe.path.read_bytes() == (3).to_bytes(8, "little") * 4
    assert not probe.path.exists()


def test_quick_offline_enqueue_runs_new_and_reference_alternately(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--quick", "--json", "--only", "edge-cache", "--servers", "edge-cache", "--measure",
         "offline", "--drain-writes", "20", "--workdir", str(tmp_path / "bench")]
    )
    assert run_all(args) == 0
    report = json.loads(capsys.readouterr().out)["edge_cache_vs_nginx"]
    enqueue = report["environment"]["enqueue"]
    assert enqueue["posts"] == 100
    for part in ("new", "reference", "fdatasync_floor"):
        assert enqueue[part]["n"] == 100 and enqueue[part]["p99_ms"] > 0, (part, enqueue)
    rows = {row["measurement"] for row in report["rows"]}
    assert "offline: enqueue p99, reference edge-cache " \
        "(EDGE_CACHE_OUTBOX_ACKED_SYNC=background)" in rows
    assert not any("enqueue" in message for message in report["skipped"]), report["skipped"]
