"""Ctrl-C during `edgelab check`: a partial summary, exit status 130, no traceback, nothing left
running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from edgelab.process import wait_until

from tests.notebooks.labcheck_support import REPO, make_notebook
from tests.support.processes import wait_gone


def test_ctrl_c_writes_a_partial_summary_and_exits_130(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    nb = make_notebook(tmp_path / "slow.ipynb", [
        ("code", 'results_dir = "results"\ncleanup = True', "parameters"),
        ("code", "from edgelab.notebook import Results\n"
                 "results = Results(results_dir, cleanup=cleanup)\n"
                 "results.check('first check', True)"),
        ("code", "import os, pathlib, time\n"
                 f"pathlib.Path({str(marker)!r}).write_text(str(os.getpid()))\n"
                 "time.sleep(120)"),
        ("code", "results.check('never reached', True)"),
    ])
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgelab.labcheck", "--no-progress", "--run-dir", str(run_dir),
         str(nb)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    wait_until(lambda: marker.exists() or proc.poll() is not None, timeout_s=120,
               what="the slow cell starting", interval_s=0.2)
    assert marker.exists(), proc.communicate()
    kernel_pid = int(marker.read_text())
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err and "interrupted — partial summary" in err, err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["interrupted"] is True
    checks = {c["name"]: c for c in summary["notebooks"][0]["checks"]}
    assert checks["notebook ran to the end"]["status"] == "failed"
    assert "interrupted" in checks["notebook ran to the end"]["detail"]
    assert checks["first check"]["status"] == "passed"
    assert checks["never reached"]["status"] == "failed"
    assert (run_dir / "junit.xml").exists() and (run_dir / "index.html").exists()
    assert wait_gone([kernel_pid], 15) == [], "the kernel is still running"
