"""The lab-check runner on tiny throwaway notebooks (real kernels, real processes)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil
import pytest

from tests.notebooks.labcheck_support import edgelab_check, make_notebook

PARAMS = 'results_dir = "results"\nn = 1\nnames = ["a"]\ncleanup = True'
SETUP = (
    "import subprocess, sys\n"
    "from edgelab.labcheck import Results\n"
    "lab = Results(results_dir, cleanup=cleanup)\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "lab.on_teardown(child.kill)\n"
    "lab.record('child_pid', child.pid)"
)
TEARDOWN = "lab.teardown()\nlab.teardown()"


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return make_notebook(
        tmp_path / "good.ipynb",
        [
            ("md", "# A tiny lab"),
            ("code", PARAMS, "parameters"),
            ("code", SETUP),
            ("code", "lab.record('values', {'n': n, 'names': names})"),
            ("code", 'lab.check("n is small", lambda r: r["values"]["n"] < 5, hint="lower n")'),
            ("code", 'lab.check("names given", len(names) > 0, success="ok")'),
            (
                "code",
                "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
                "fig, ax = plt.subplots()\nax.plot([1, 2], [n, n])\n"
                "fig.savefig(lab.file('line.png'))",
            ),
            ("code", "lab.summary()"),
            ("code", TEARDOWN, "teardown"),
        ],
    )


def test_passing_notebook_writes_report_and_junit(tmp_path: Path, good: Path) -> None:
    junit = tmp_path / "out.xml"
    run = edgelab_check(tmp_path / "run", str(good), "-p", "names", "[x, y]", "--junit", str(junit))
    assert run.returncode == 0, run.stdout + run.stderr
    checks = run.checks("good")
    assert all(c["status"] == "passed" for c in checks.values()), checks
    assert {"n is small", "names given", "notebook ran to the end"} <= set(checks)
    results = run.results("good")
    assert results["values"]["values"] == {"n": 1, "names": ["x", "y"]}
    assert _gone(results["values"]["child_pid"])
    out = run.run_dir / "good"
    assert (out / "good.ipynb").exists() and (out / "good.html").exists()
    assert (out / "line.png").exists()
    index = (run.run_dir / "index.html").read_text()
    assert "n is small" in index and "line.png" in index
    suites = ET.parse(junit).getroot()
    cases = suites.findall(".//testcase")
    assert {c.get("name") for c in cases} >= {"n is small", "names given"}
    assert not suites.findall(".//failure")
    assert "report:" in run.stdout and "✔" in run.stdout


def test_failed_check_exits_non_zero_with_hint(tmp_path: Path, good: Path) -> None:
    run = edgelab_check(tmp_path / "run", str(good), "-p", "n", "7")
    assert run.returncode == 1
    checks = run.checks("good")
    assert checks["n is small"]["status"] == "failed"
    assert checks["n is small"]["hint"] == "lower n"
    assert checks["names given"]["status"] == "passed"
    assert "lower n" in run.stdout and "✘" in run.stdout
    failures = ET.parse(run.run_dir / "junit.xml").getroot().findall(".//failure")
    assert [f.get("message") for f in failures] == ["lower n"]


def test_unknown_parameter_is_an_error_before_execution(tmp_path: Path, good: Path) -> None:
    run = edgelab_check(tmp_path / "run", str(good), "-p", "nn", "3")
    assert run.returncode == 2
    assert "unknown parameter: nn" in run.stderr
    assert "nothing was executed" in run.stderr
    assert not (tmp_path / "run").exists()
    params = tmp_path / "p.yaml"
    params.write_text("n: 2\ngood:\n  bogus: 1\n")
    run = edgelab_check(tmp_path / "run", str(good), "-f", str(params))
    assert run.returncode == 2 and "good.bogus" in run.stderr


def test_params_file_and_per_notebook_sections(tmp_path: Path, good: Path) -> None:
    params = tmp_path / "p.yaml"
    params.write_text("n: 9\ngood:\n  names: [q]\n")
    run = edgelab_check(tmp_path / "run", str(good), "-f", str(params), "-p", "n", "2")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.results("good")["values"]["values"] == {"n": 2, "names": ["q"]}


def test_failure_midway_keeps_executed_copy_fails_checks_and_tears_down(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "broken.ipynb",
        [
            ("code", PARAMS, "parameters"),
            ("code", SETUP),
            ("code", 'lab.check("first", True)'),
            ("code", "raise RuntimeError('the link emulator exploded')"),
            ("code", 'lab.check("second", True, hint="never reached")'),
            ("code", "lab.summary()"),
            ("code", TEARDOWN, "teardown"),
        ],
    )
    run = edgelab_check(tmp_path / "run", str(nb))
    assert run.returncode == 1
    checks = run.checks("broken")
    assert checks["first"]["status"] == "passed"
    assert checks["second"]["status"] == "failed"
    assert "not reached" in checks["second"]["detail"]
    assert "the link emulator exploded" in checks["second"]["detail"]
    assert checks["notebook ran to the end"]["status"] == "failed"
    assert checks["no processes left behind"]["status"] == "passed"
    results = run.results("broken")
    assert _gone(results["values"]["child_pid"])
    assert results["values"]["teardown_errors"] == []
    executed = json.loads((run.run_dir / "broken" / "broken.ipynb").read_text())
    text = json.dumps(executed)
    assert "the link emulator exploded" in text and "RuntimeError" in text
    assert executed["metadata"]["papermill"]["exception"] is True
    assert (run.run_dir / "broken" / "broken.html").exists()


def test_hanging_cell_is_interrupted_by_the_timeout_and_teardown_runs(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "hang.ipynb",
        [
            ("code", PARAMS, "parameters"),
            ("code", SETUP),
            ("code", "import time\ntime.sleep(600)"),
            ("code", 'lab.check("after the hang", True)'),
            ("code", TEARDOWN, "teardown"),
        ],
    )
    run = edgelab_check(tmp_path / "run", str(nb), "--timeout", "5")
    assert run.returncode == 1
    checks = run.checks("hang")
    assert "did not finish within 5 s" in checks["notebook ran to the end"]["detail"]
    assert checks["after the hang"]["status"] == "failed"
    assert checks["no processes left behind"]["status"] == "passed"
    assert _gone(run.results("hang")["values"]["child_pid"])


def test_unresponsive_kernel_is_killed_and_leftovers_are_reaped(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "stuck.ipynb",
        [
            ("code", PARAMS, "parameters"),
            # a child in its own session survives the kernel's process-group kill
            (
                "code",
                SETUP.replace("lab.on_teardown(child.kill)\n", "").replace(
                    "time.sleep(600)'])", "time.sleep(600)'], start_new_session=True)"
                ),
            ),
            (
                "code",
                "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                "time.sleep(600)",
            ),
            ("code", TEARDOWN, "teardown"),
        ],
    )
    run = edgelab_check(tmp_path / "run", str(nb), "--timeout", "4")
    assert run.returncode == 1
    checks = run.checks("stuck")
    assert checks["notebook ran to the end"]["status"] == "failed"
    leftover = checks["no processes left behind"]
    assert leftover["status"] == "failed"
    pid = run.results("stuck")["values"]["child_pid"]
    assert f"pid {pid}" in leftover["detail"]
    assert _gone(pid)


def test_missing_notebook_and_bad_target_config(tmp_path: Path, good: Path) -> None:
    run = edgelab_check(tmp_path / "run", str(tmp_path / "nope.ipynb"))
    assert run.returncode == 2 and "no such notebook" in run.stderr
    run = edgelab_check(tmp_path / "run", str(good), "-p", "results_dir", "x")
    assert run.returncode == 2 and "--run-dir" in run.stderr
