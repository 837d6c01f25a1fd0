"""Running the real Ansible command-line tools from the project's virtualenv in tests.

Every call uses the repository's `ansible.cfg` (roles path, YAML output) and keeps Ansible's
temporary files and fact cache inside the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO_ROOT / "playbooks"
EXAMPLE_INVENTORIES = sorted((PLAYBOOKS / "inventory").glob("*.yml"))
# The kit's shared defaults (role defaults: the lowest precedence, so inventories win).
COMMON_DEFAULTS = PLAYBOOKS / "roles" / "edgelab_common" / "defaults" / "main.yml"
FIXTURE_PLAYBOOKS = Path(__file__).resolve().parent / "fixtures"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """Path of an Ansible tool installed next to the running Python."""
    return str(BIN / name)


def ansible_env(tmp: Path, *, json_output: bool = False) -> dict[str, str]:
    """Environment for an Ansible run confined to `tmp`."""
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
            "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
            "ANSIBLE_REMOTE_TEMP": str(tmp / "ansible-remote"),
            "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp / "facts"),
            "ANSIBLE_HOME": str(tmp / "ansible-home"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_HOST_KEY_CHECKING": "0",
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    if json_output:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    return env


@dataclass
class PlaybookRun:
    """Result of one `ansible-playbook` run with the JSON callback."""

    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any]

    def stats(self, host: str) -> dict[str, int]:
        return dict(self.report["stats"][host])

    def results(self, task_name: str) -> dict[str, dict[str, Any]]:
        """Per-host results of the last task run under this name."""
        found: dict[str, dict[str, Any]] = {}
        for play in self.report.get("plays", []):
            for task in play.get("tasks", []):
                name = task["task"]["name"]
                # Role tasks are reported as "<role> : <task name>".
                if name == task_name or name.endswith(f" : {task_name}"):
                    found = task["hosts"]
        if not found:
            raise KeyError(f"no task named {task_name!r} ran")
        return found

    def changed_tasks(self) -> list[str]:
        names = []
        for play in self.report.get("plays", []):
            for task in play.get("tasks", []):
                if any(r.get("changed") for r in task["hosts"].values()):
                    names.append(task["task"]["name"])
        return names


def run_playbook(
    playbook: Path,
    tmp: Path,
    *,
    inventory: Path,
    extra_vars: dict[str, Any] | None = None,
    args: list[str] | None = None,
    timeout: float = 180,
    prefix: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> PlaybookRun:
    """Run a playbook with the JSON callback and return the parsed report. `prefix` wraps the
    command (e.g. `ip netns exec <ns>` to run the control host inside a network namespace)."""
    cmd = [*(prefix or []), tool("ansible-playbook"), "-i", str(inventory), str(playbook)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    cmd += args or []
    proc = subprocess.run(
        cmd,
        env={**ansible_env(tmp, json_output=True), **(env or {})},
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    start = proc.stdout.find("{")
    report: dict[str, Any] = json.loads(proc.stdout[start:]) if start >= 0 else {}
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, report)


def failure_text(run: PlaybookRun) -> str:
    """Short description of the failed tasks, for assertion messages."""
    lines = [f"rc={run.returncode}", run.stderr[-3000:]]
    for play in run.report.get("plays", []):
        for task in play.get("tasks", []):
            for host, result in task["hosts"].items():
                if result.get("failed") or result.get("unreachable"):
                    lines.append(f"{host}: {task['task']['name']}: {result.get('msg')}")
    return "\n".join(lines)


@dataclass
class LintRun:
    """A background `ansible-lint` run writing to `output`."""

    process: subprocess.Popen[bytes]
    output: Path

    def result(self, timeout: float) -> tuple[int, str]:
        returncode = self.process.wait(timeout=timeout)
        return returncode, self.output.read_text(errors="replace")
