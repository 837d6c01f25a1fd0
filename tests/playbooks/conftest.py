"""Fixtures for the deployment-kit tests.

ansible-lint takes a minute, mostly on one core. When its test is part of the session, it is
started in the background as soon as the first test of test_static.py runs, so that it overlaps
with that module's other Ansible runs; `test_ansible_lint_production_profile` waits for it.
(Module scope, not session: under pytest-xdist every worker would otherwise start its own.)
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.playbooks.ansible_run import REPO_ROOT, LintRun, ansible_env, tool

LINT_TEST = "test_ansible_lint_production_profile"


@pytest.fixture(scope="module")
def ansible_lint_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LintRun | None]:
    if not any(item.name == LINT_TEST for item in request.session.items):
        yield None
        return
    tmp = tmp_path_factory.mktemp("ansible-lint")
    output = tmp / "ansible-lint.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [tool("ansible-lint"), "--nocolor", "--profile", "production", "playbooks/"],
            env=ansible_env(tmp), cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=sink,
            stderr=subprocess.STDOUT,
        )
    run = LintRun(process, output)
    yield run
    if process.poll() is None:
        process.kill()
        process.wait()
