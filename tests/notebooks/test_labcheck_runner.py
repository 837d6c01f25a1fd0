"""The lab-check runner on tiny throwaway notebooks (real kernels, real processes).

Two runs of `edgelab check` cover the runner: one passing notebook, and one run of four
notebooks that fail in different ways (a failed check, an exception mid-way, a hanging cell,
a kernel that ignores the interrupt). Parameter errors are checked in-process: they must stop
the run before any kernel starts.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from edgelab.labcheck import build_parser, run

from tests.notebooks.labcheck_support import CheckRun, edgelab_check, make_notebook
from tests.support.processes import alive

PARAMS = 'results_dir = "results"\nn = 1\nnames = ["a"]\ncleanup = True'
SETUP = (
    "import subprocess, sys\n"
    "from edgelab.notebook import Results\n"
    "results = Results(results_dir, cleanup=cleanup)\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "results.on_teardown(child.kill)\n"
    "results.record('child_pid', child.pid)"
)
# a child in its own session survives the kernel's process-group kill: only the runner's
# leftover sweep can stop it
ORPHAN = (
    "import subprocess, sys\n"
    "from edgelab.notebook import Results\n"
    "results = Results(results_dir, cleanup=cleanup)\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'],\n"
    "                         start_new_session=True)\n"
    "results.record('child_pid', child.pid)"
)
TEARDOWN = "results.teardown()\nresults.teardown()"


def _good(path: Path, plot: bool = True) -> Path:
    figure = (
        "from matplotlib.figure import Figure\nfig = Figure()\n"
        "fig.subplots().plot([1, 2], [n, n])\nfig.savefig(results.file('line.png'))"
    )
    return make_notebook(
        path,
        [
            ("md", "# A tiny lab"),
            ("code", PARAMS, "parameters"),
            ("code", SETUP),
            ("code", "results.record('values', {'n': n, 'names': names})"),
            ("code", 'results.check("n is small", lambda r: r["values"]["n"] < 5, hint="lower n")'),
            ("code", 'results.check("names given", len(names) > 0, success="ok")'),
            ("code", figure if plot else "pass"),
            ("code", "results.summary()"),
            ("code", TEARDOWN, "teardown"),
        ],
    )


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> CheckRun:
    """One run, four notebooks, four kinds of failure, a 10 s cell timeout (the other cells
    are quick, so a loaded machine does not time them out)."""
    d = tmp_path_factory.mktemp("failing")
    good = _good(d / "good.ipynb", plot=False)
    broken = make_notebook(
        d / "broken.ipynb",
        [
            ("code", PARAMS, "parameters"),
            ("code", SETUP),
            ("code", 'results.check("first", True)'),
            ("code", "raise RuntimeError('the link emulator exploded')"),
            ("code", 'results.check("second", True, hint="never reached")'),
            ("code", TEARDOWN, "teardown"),
        ],
    )
    hang = make_notebook(
        d / "hang.ipynb",
        [
            ("code", PARAMS, "parameters"),
            ("code", SETUP),
            ("code", "import time\ntime.sleep(600)"),
            ("code", 'results.check("after the hang", True)'),
            ("code", TEARDOWN, "teardown"),
        ],
    )
    stuck = make_notebook(
        d / "stuck.ipynb",
        [
            ("code", PARAMS, "parameters"),
            ("code", ORPHAN),
            (
                "code",
                "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                "time.sleep(600)",
            ),
            ("code", TEARDOWN, "teardown"),
        ],
    )
    params = d / "params.yaml"
    params.write_text("good:\n  n: 7\n")
    return edgelab_check(
        d / "run",
        *(str(p) for p in (good, broken, hang, stuck)),
        "-f",
        str(params),
        "--timeout",
        "10",
        timeout=400,
    )


def test_passing_notebook_writes_report_and_junit(tmp_path: Path) -> None:
    good = _good(tmp_path / "good.ipynb")
    params = tmp_path / "p.yaml"
    params.write_text("n: 9\ngood:\n  names: [q]\n")
    junit = tmp_path / "out.xml"
    result = edgelab_check(
        tmp_path / "run", str(good), "-f", str(params), "-p", "n", "2", "--junit", str(junit)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    checks = result.checks("good")
    assert all(c["status"] == "passed" for c in checks.values()), checks
    assert {"n is small", "names given", "notebook ran to the end"} <= set(checks)
    values = result.results("good")["values"]
    assert values["values"] == {"n": 2, "names": ["q"]}  # -p beats -f; the section applies
    assert not alive(values["child_pid"])
    out = result.run_dir / "good"
    assert (out / "good.ipynb").exists() and (out / "good.html").exists()
    assert (out / "line.png").exists()
    index = (result.run_dir / "index.html").read_text()
    assert "n is small" in index and "line.png" in index
    suites = ET.parse(junit).getroot()
    assert {c.get("name") for c in suites.findall(".//testcase")} >= {"n is small", "names given"}
    assert not suites.findall(".//failure")
    assert "report:" in result.stdout and "✔" in result.stdout


def test_failed_check_exits_non_zero_with_its_hint(failing_run: CheckRun) -> None:
    assert failing_run.returncode == 1
    checks = failing_run.checks("good")
    assert checks["n is small"]["status"] == "failed"
    assert checks["n is small"]["hint"] == "lower n"
    assert checks["names given"]["status"] == "passed"
    assert checks["notebook ran to the end"]["status"] == "passed"
    assert "lower n" in failing_run.stdout and "✘" in failing_run.stdout
    failures = ET.parse(failing_run.run_dir / "junit.xml").getroot().findall(".//failure")
    assert "lower n" in [f.get("message") for f in failures]


def test_failure_midway_keeps_executed_copy_fails_checks_and_tears_down(
    failing_run: CheckRun,
) -> None:
    checks = failing_run.checks("broken")
    assert checks["first"]["status"] == "passed"
    assert checks["second"]["status"] == "failed"
    assert "not reached" in checks["second"]["detail"]
    assert "the link emulator exploded" in checks["second"]["detail"]
    assert checks["notebook ran to the end"]["status"] == "failed"
    assert checks["no processes left behind"]["status"] == "passed"
    values = failing_run.results("broken")["values"]
    assert not alive(values["child_pid"])
    assert values["teardown_errors"] == []  # the teardown cell ran after the error
    executed: dict[str, Any] = json.loads(
        (failing_run.run_dir / "broken" / "broken.ipynb").read_text()
    )
    text = json.dumps(executed)
    assert "the link emulator exploded" in text and "RuntimeError" in text
    assert executed["metadata"]["papermill"]["exception"] is True
    assert (failing_run.run_dir / "broken" / "broken.html").exists()


def test_hanging_cell_is_interrupted_by_the_timeout_and_teardown_runs(
    failing_run: CheckRun,
) -> None:
    checks = failing_run.checks("hang")
    assert "did not finish within 10 s" in checks["notebook ran to the end"]["detail"]
    assert checks["after the hang"]["status"] == "failed"
    assert checks["no processes left behind"]["status"] == "passed"
    assert not alive(failing_run.results("hang")["values"]["child_pid"])


def test_unresponsive_kernel_is_killed_and_leftovers_are_reaped(failing_run: CheckRun) -> None:
    checks = failing_run.checks("stuck")
    assert checks["notebook ran to the end"]["status"] == "failed"
    leftover = checks["no processes left behind"]
    assert leftover["status"] == "failed"
    pid = failing_run.results("stuck")["values"]["child_pid"]
    assert f"pid {pid}" in leftover["detail"]
    assert not alive(pid)


def _run_in_process(*argv: str) -> int:
    return run(build_parser().parse_args(["--no-progress", *argv]))


def test_parameter_errors_stop_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _good(tmp_path / "good.ipynb")
    run_dir = tmp_path / "run"
    assert _run_in_process(str(good), "--run-dir", str(run_dir), "-p", "nn", "3") == 2
    err = capsys.readouterr().err
    assert "unknown parameter: nn" in err and "nothing was executed" in err
    params = tmp_path / "p.yaml"
    params.write_text("n: 2\ngood:\n  bogus: 1\n")
    assert _run_in_process(str(good), "--run-dir", str(run_dir), "-f", str(params)) == 2
    assert "good.bogus" in capsys.readouterr().err
    assert _run_in_process(str(tmp_path / "nope.ipynb"), "--run-dir", str(run_dir)) == 2
    assert "no such notebook" in capsys.readouterr().err
    assert _run_in_process(str(good), "--run-dir", str(run_dir), "-p", "results_dir", "x") == 2
    assert "--run-dir" in capsys.readouterr().err
    assert not run_dir.exists()
