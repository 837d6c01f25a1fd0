"""The `edgelab` command: --help, bad input (one clear line, no traceback), --json output.

Commands run as real subprocesses of the installed console script; the ones that need a lab use
the session's local lab (tests/edgelab/lab_fixtures.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from edgelab.cli.app import build_parser, main
from edgelab.targets.lab_state import load_state
from edgelab.targets.local import LocalTarget

from tests.support.kubeconfig import write_kubeconfig
from tests.support.ports import busy_port, free_port

EDGELAB = str(Path(sys.executable).parent / "edgelab")


def run(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EDGELAB, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def call(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """`edgelab ARGS` in this process (same code path as the console script, but faster)."""
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse: --help and usage errors
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(["edgelab", *args], code, out.out, out.err)


def assert_clean_error(done: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert done.returncode == code, (done.stdout, done.stderr)
    assert text in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_help_documents_every_command() -> None:
    done = run("--help")
    assert done.returncode == 0
    for command in ("up", "down", "status", "link", "seed", "run", "bench", "check"):
        assert f"    {command} " in done.stdout
    assert "EDGELAB_LAB_DIR" in done.stdout


@pytest.mark.parametrize("argv", [
    ["up"], ["down"], ["status"], ["seed"], ["link", "shop-1", "degrade"], ["link", "x", "down"],
    ["run", "disconnection"], ["run", "cache-sweep"], ["run"],
])
def test_subcommand_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser(argv[0]).parse_args([*argv, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: edgelab")
    assert len(out.splitlines()) > 3


@pytest.mark.parametrize("argv, message", [
    (["link", "shop-1", "degrade", "--loss", "1.5"], "must be a fraction between 0 and 1"),
    (["link", "shop-1", "degrade", "--latency-ms", "-5"], "-5 must be >= 0"),
    (["link", "shop-1", "degrade", "--rate-kbit", "0"], "0 must be > 0"),
    (["link", "shop-1", "down", "--mode", "sideways"], "invalid choice: 'sideways'"),
    (["link", "shop-1", "sideways"], "invalid choice: 'sideways'"),
    (["up", "--edges", "0"], "0 must be >= 1"),
    (["up", "--app-port", "70000"], "is not a TCP port"),
    (["up", "--edge-env", "NOEQUALS"], "expected [EDGE:]NAME=VALUE"),
    (["run", "disconnection", "--outage", "-3"], "-3 must be > 0"),
    (["run", "cache-sweep", "--cache-sizes", "10,x"], "'x' is not an integer"),
    (["run", "teleport"], "invalid choice: 'teleport'"),
    (["run", "disconnection", "--outage", "twenty"], "'twenty' is not a number"),
    (["run", "disconnection", "--mode", "blackhol"], "invalid choice: 'blackhol'"),
    (["run", "disconnection", "--seed", "-1"], "must be a seed between"),
    (["run", "disconnection", "--clerk-rate", "0"], "0 must be > 0"),
    (["run", "cache-sweep", "--wan-loss", "1"], "must be a loss fraction"),
    ([], "the following arguments are required: COMMAND"),
])
def test_bad_arguments(argv: list[str], message: str,
                       capsys: pytest.CaptureFixture[str]) -> None:
    assert_clean_error(call(capsys, *argv), 2, message)


def test_bad_argument_in_a_real_process() -> None:
    assert_clean_error(run("link", "shop-1", "degrade", "--loss", "2"), 2,
                       "must be a fraction between 0 and 1")


def test_lab_not_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab = str(tmp_path / "lab")
    for argv in (["link", "shop-1", "up"], ["run", "disconnection"]):
        assert_clean_error(call(capsys, *argv, "--lab-dir", lab), 1, "no local lab is running")
    assert_clean_error(run("status", "--lab-dir", lab), 1, "no local lab is running")
    done = run("down", "--lab-dir", lab, "--json")
    assert done.returncode == 0
    assert json.loads(done.stdout)["stopped"] == []


def test_cluster_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = Path(__file__).resolve().parents[2] / "playbooks/inventory/lab-vms.yml"
    assert_clean_error(
        call(capsys, "status", "--target", "cluster", "--kubeconfig", str(tmp_path / "missing"),
             "--inventory", str(inventory)),
        1, "kubeconfig")
    assert_clean_error(
        call(capsys, "status", "--target", "cluster", "--kubeconfig", str(tmp_path / "missing"),
             "--inventory", str(tmp_path / "none.yml")),
        1, "inventory")
    port = free_port()  # nobody listens there
    config = write_kubeconfig(tmp_path / "kubeconfig", f"https://127.0.0.1:{port}")
    assert_clean_error(
        call(capsys, "status", "--target", "cluster", "--kubeconfig", str(config),
             "--inventory", str(inventory)),
        1, "is unreachable")


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with busy_port() as busy:
        done = run("up", "--lab-dir", str(tmp_path / "lab"), "--app-port", str(busy))
    assert_clean_error(done, 1, f"port {busy} for the cloud app is in use")
    assert load_state(tmp_path / "lab") is None


def test_status_and_link_json(local_lab: LocalTarget) -> None:
    lab = str(local_lab.lab_dir)
    done = run("status", "--lab-dir", lab, "--json")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["healthy"] is True
    assert sorted(status["edges"]) == ["shop-1", "shop-2"]
    parts = {p["name"]: p for p in status["parts"]}
    assert parts["shop-1"]["state"] == "online" and parts["shop-1"]["outbox_depth"] == 0
    assert parts["cloud"]["pid"] > 0

    table = run("status", "--lab-dir", lab)
    assert table.returncode == 0
    assert "shop-2" in table.stdout and "online" in table.stdout

    try:
        done = run("link", "shop-2", "degrade", "--latency-ms", "5", "--loss", "0",
                   "--lab-dir", lab, "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["state"] == "degraded"
        done = run("--lab-dir", lab, "--json", "link", "shop-2", "down", "--mode", "blackhole")
        state = json.loads(done.stdout)
        assert (state["edge"], state["state"], state["mode"]) == ("shop-2", "down", "blackhole")
    finally:
        done = run("link", "shop-2", "up", "--lab-dir", lab, "--json")
    assert json.loads(done.stdout)["state"] == "up"
    assert_clean_error(run("link", "shop-7", "up", "--lab-dir", lab), 1,
                       "unknown edge 'shop-7' (this lab has: shop-1, shop-2)")
    assert_clean_error(run("run", "disconnection", "--edges", "shop-1,nope", "--lab-dir", lab),
                       1, "unknown edge(s) nope")


def test_global_target_reaches_check(tmp_path: Path) -> None:
    """`edgelab --target cluster check …` keeps the global target (check's own option only
    overrides it when given): the cluster preflight refuses the missing kubeconfig before any
    notebook runs, instead of silently running the notebook on the local target."""
    notebook = Path(__file__).parents[2] / "notebooks" / "01-install.ipynb"
    done = run("--target", "cluster", "check", str(notebook), "--run-dir", str(tmp_path / "run"),
               "-p", "kubeconfig", str(tmp_path / "missing-kubeconfig"))
    assert_clean_error(done, 2, "target=cluster needs a kubeconfig")


def _fake_lab(lab_dir: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """A lab directory whose state.json records one real (sleeping) process as its cloud."""
    import psutil
    from edgelab.process import ProcessRecord
    from edgelab.targets.lab_state import LabState, PartState, save_state

    proc = subprocess.Popen(["sleep", "300"])
    procs.append(proc)
    record = ProcessRecord(name="cloud", pid=proc.pid,
                           create_time=psutil.Process(proc.pid).create_time(),
                           argv=["sleep", "300"], log="")
    part = PartState(name="cloud", kind="cloud", host="127.0.0.1", port=9, process=record)
    save_state(lab_dir, LabState(lab_dir=str(lab_dir), parts=[part], complete=True))


def test_status_and_down_find_every_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """No --lab-dir: `status` finds a lab the notebooks or a check run started elsewhere under
    ./build/lab, and `down` stops every lab there, naming each."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EDGELAB_LAB_DIR", raising=False)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        _fake_lab(tmp_path / "build/lab/20261201-101500-ab12/lab", procs)
        status = call(capsys, "status")
        assert "build/lab/20261201-101500-ab12/lab" in status.stdout + status.stderr
        _fake_lab(tmp_path / "build/lab/local", procs)
        done = call(capsys, "down", "--json")
        assert done.returncode == 0, done.stderr
        labs = {Path(lab["lab_dir"]).relative_to(tmp_path).as_posix(): lab["stopped"]
                for lab in json.loads(done.stdout)["labs"]}
        assert labs == {"build/lab/local": ["cloud"],
                        "build/lab/20261201-101500-ab12/lab": ["cloud"]}
        for proc in procs:
            assert proc.wait(timeout=30) is not None
        again = call(capsys, "down")
        assert "nothing was running" in again.stdout
        assert str(tmp_path / "build/lab/local") in again.stdout
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
