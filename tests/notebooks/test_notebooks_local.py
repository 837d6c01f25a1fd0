"""The four lab notebooks, executed headless on the local target through `edgelab check`
with notebooks/params/local-quick.yaml (real processes: cloud app, link emulators, edges)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil
import pytest
import yaml

from tests.notebooks.labcheck_support import NOTEBOOKS, edgelab_check

QUICK = str(NOTEBOOKS / "params" / "local-quick.yaml")
STEMS = ["01-install", "02-deploy", "03-disconnection", "04-cache-performance"]

# a smaller demo shop: faster seeding and warm-up, the same behaviour
SMALL_DEMO = {"EDGELAB_DEMO_DAYS": "7", "EDGELAB_DEMO_PRODUCTS": "100"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One lab directory for both runs: the demo data is loaded once."""
    return tmp_path_factory.mktemp("lab") / "lab"


def _lab_processes(lab_dir: Path) -> list[psutil.Process]:
    """Live processes whose command line or environment points into ``lab_dir``."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            text = " ".join(proc.info["cmdline"] or [])
            env = proc.environ() if str(lab_dir) not in text else {}
            mine = str(lab_dir) in text or any(str(lab_dir) in v for v in env.values())
            if mine and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def test_all_notebooks_pass_with_quick_parameters(tmp_path: Path, lab_dir: Path) -> None:
    run = edgelab_check(
        tmp_path / "run",
        "--solutions",
        *(str(NOTEBOOKS / f"{stem}.ipynb") for stem in STEMS),
        "-f",
        QUICK,
        "-p",
        "lab_dir",
        str(lab_dir),
        "--timeout",
        "240",
        timeout=900,
        cli=True,
        extra_env=SMALL_DEMO,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    for stem in STEMS:
        checks = run.checks(stem)
        failed = {n: c for n, c in checks.items() if c["status"] == "failed"}
        assert not failed, (stem, failed)
        passed = [n for n, c in checks.items() if c["status"] == "passed"]
        assert len(passed) >= 4, (stem, checks)
        out = run.run_dir / stem
        assert (out / f"{stem}.ipynb").exists() and (out / f"{stem}.html").exists()
        results = json.loads((out / "results.json").read_text())
        assert results["values"]["all_checks_passed"] is True
        assert list(out.glob("*.png")) and list(out.glob("*.csv")), stem
    summary_03 = run.results("03-disconnection")["values"]["experiment"]
    assert summary_03["verification_passed"] is True
    assert summary_03["writes_duplicated"] == 0 and summary_03["writes_lost"] == 0
    sweep = run.results("04-cache-performance")["values"]["sweep"]
    quick = yaml.safe_load(Path(QUICK).read_text())["04-cache-performance"]
    assert {row["cache_size"] for row in sweep} == set(quick["cache_sizes"])  # the file's grid
    assert len(sweep) == (len(quick["cache_sizes"]) * len(quick["ttl_s"]) * len(quick["zipf_s"])
                          * len(quick["wan_latency_ms"]))
    cases = ET.parse(run.run_dir / "junit.xml").getroot().findall(".//testcase")
    assert len(cases) == sum(len(run.checks(s)) for s in STEMS)
    assert "0 failed" in run.stdout and "report:" in run.stdout
    assert not _lab_processes(lab_dir)


def test_disconnection_checks_fail_when_the_edge_cannot_queue_or_loses_its_outbox(
    tmp_path: Path, lab_dir: Path
) -> None:
    run = edgelab_check(
        tmp_path / "run",
        "--solutions",
        str(NOTEBOOKS / "03-disconnection.ipynb"),
        "-f",
        QUICK,
        "-p",
        "lab_dir",
        str(lab_dir),
        # an outbox that holds one write: the shop cannot keep selling offline (507)
        "-p",
        "outbox_max_entries",
        "1",
        "-p",
        "baseline",
        "False",
        # and the negative control: the edge killed offline loses its outbox with it
        "-p",
        "lose_outbox",
        "True",
        # writes often enough that one is queued before the edge is killed
        "-p",
        "write_share",
        "0.5",
        timeout=600,
        extra_env=SMALL_DEMO,
    )
    assert run.returncode == 1, run.stdout[-4000:] + run.stderr[-2000:]
    checks = run.checks("03-disconnection")
    assert checks["notebook ran to the end"]["status"] == "passed"
    writes = checks["writes accepted during the outage"]
    assert writes["status"] == "failed"
    assert "outbox_max_entries" in writes["hint"]
    summary = run.results("03-disconnection")["values"]["experiment"]
    assert summary["writes_accepted_during_outage"] < summary["writes_during_outage"]
    assert checks["the edge beats no cache during the outage"]["status"] == "skipped"
    crash = checks["queued writes survive kill -9 while offline"]
    assert crash["status"] == "failed", crash
    assert "durable storage" in crash["hint"] and "lost" in crash["detail"], crash
    # reads are unaffected: only the write checks fail
    assert checks["reads served during the outage"]["status"] == "passed"
    assert checks["no processes left behind"]["status"] == "passed"
    assert "✘" in run.stdout
    assert not _lab_processes(lab_dir)
