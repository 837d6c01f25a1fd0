"""Static checks of the deployment kit: syntax, example inventories, ansible-lint, yamllint.

These run the real tools on the real files. What they cannot show: that the playbooks work on
real machines (no K3s/KubeEdge binaries, no systemd, no Docker here); see the other test files
and docs/instructor.md's acceptance checklist for that.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.playbooks.ansible_run import (
    EXAMPLE_INVENTORIES,
    PLAYBOOKS,
    REPO_ROOT,
    LintRun,
    ansible_env,
    tool,
)

# Start ansible-lint in the background with this module's first test (tests/playbooks/conftest.py).
pytestmark = pytest.mark.usefixtures("ansible_lint_run")

PLAYBOOK_FILES = sorted(PLAYBOOKS.glob("*.yml"))
EXPECTED_PLAYBOOKS = {
    "site.yml", "cluster.yml", "deploy.yml", "link.yml",
    "verify.yml", "reset.yml", "upgrade.yml", "images.yml", "acceptance.yml",
    "restart-edge.yml",
}
EXPECTED_ROLES = {
    "prereq", "raspberrypi", "airgap", "registry", "k3s_server", "k3s_agent", "containerd",
    "kubeedge_cloud", "kubeedge_edge", "app", "link", "reset",
}


def test_every_playbook_and_role_exists() -> None:
    assert {p.name for p in PLAYBOOK_FILES} == EXPECTED_PLAYBOOKS
    roles = {p.name for p in (PLAYBOOKS / "roles").iterdir() if (p / "tasks" / "main.yml").exists()}
    assert roles == EXPECTED_ROLES
    # Shared defaults live in a role every other role depends on (lowest precedence).
    assert (PLAYBOOKS / "roles" / "edgelab_common" / "defaults" / "main.yml").exists()
    for role in EXPECTED_ROLES:
        meta = (PLAYBOOKS / "roles" / role / "meta" / "main.yml").read_text()
        assert "- role: edgelab_common" in meta, role
    assert not (PLAYBOOKS / "inventory" / "group_vars").exists()
    examples = {p.name for p in EXAMPLE_INVENTORIES}
    assert examples == {"lab-vms.yml", "raspberry-pis.yml", "mixed.yml", "ha-vms.yml"}


def test_role_defaults_carry_the_role_prefix() -> None:
    """ansible-lint's var-naming[no-role-prefix], which .ansible-lint skips only because the
    shared defaults (edgelab_common) cannot follow it: every other role's defaults do."""
    for role in sorted(EXPECTED_ROLES):
        defaults = PLAYBOOKS / "roles" / role / "defaults" / "main.yml"
        if defaults.exists():
            names = yaml.safe_load(defaults.read_text()) or {}
            assert all(name.startswith(f"{role}_") for name in names), (role, sorted(names))


def test_syntax_check_every_playbook(tmp_path: Path) -> None:
    """`ansible-playbook --syntax-check` on every playbook, with every example inventory."""
    for inventory in EXAMPLE_INVENTORIES:
        proc = subprocess.run(
            [tool("ansible-playbook"), "--syntax-check", "-i", str(inventory),
             *map(str, PLAYBOOK_FILES)],
            env=ansible_env(tmp_path), cwd=REPO_ROOT, capture_output=True, text=True,
            timeout=120, check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        for playbook in PLAYBOOK_FILES:
            assert f"playbook: {playbook}" in proc.stdout


@pytest.mark.parametrize("inventory", EXAMPLE_INVENTORIES, ids=lambda p: p.stem)
def test_inventory_graph(inventory: Path, tmp_path: Path) -> None:
    """Each example inventory parses, has one cloud node (3+ for HA) and at least two edges."""
    proc = subprocess.run(
        [tool("ansible-inventory"), "-i", str(inventory), "--graph"],
        env=ansible_env(tmp_path), cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    cloud = lines.index("  |--@cloud:")
    edge = lines.index("  |--@edge:")
    cloud_hosts = [line for line in lines[cloud + 1 : edge] if line.startswith("  |  |--")]
    edge_hosts = [line for line in lines[edge + 1 :] if line.startswith("  |  |--")]
    assert len(cloud_hosts) == 1 or len(cloud_hosts) >= 3
    assert len(cloud_hosts) == (3 if inventory.stem == "ha-vms" else 1)
    assert len(edge_hosts) >= 2


def test_yamllint_clean(tmp_path: Path) -> None:
    proc = subprocess.run(
        [tool("yamllint"), "-s", "-f", "parsable", "playbooks/", ".yamllint", ".ansible-lint"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_ansible_lint_production_profile(ansible_lint_run: LintRun | None) -> None:
    """ansible-lint with the production profile (config: .ansible-lint), zero violations.
    Started in the background by tests/playbooks/conftest.py; this test waits for it."""
    assert ansible_lint_run is not None
    returncode, output = ansible_lint_run.result(timeout=500)
    assert returncode == 0, output[-8000:]
    assert "0 failure(s), 0 warning(s)" in output
