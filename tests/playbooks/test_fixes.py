"""Regression tests for the defects of issue 12 that need no special software: each converges
or runs the real playbooks with Ansible (connection: local, fixture roots) and fails on the
code before the fix.

Stand-ins (they record their calls): a fake `k3s` binary and a fake install script in the airgap
directory (the real ones come from GitHub, which these machines cannot reach), and `modprobe`.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import yaml

from tests.playbooks.ansible_run import (
    COMMON_DEFAULTS,
    FIXTURE_PLAYBOOKS,
    PLAYBOOKS,
    failure_text,
    run_playbook,
)
from tests.playbooks.local_inventory import root_of, write_local_inventory

DEFAULTS = yaml.safe_load(COMMON_DEFAULTS.read_text())
K3S_VERSION = DEFAULTS["k3s_version"]
KUBEEDGE_VERSION = DEFAULTS["kubeedge_version"]


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_airgap_dir(directory: Path, record: Path) -> Path:
    """The airgap artifacts: a fake k3s that prints the pinned version, a fake install script
    that records its environment and writes the unit where INSTALL_K3S_SYSTEMD_DIR says (as
    get.k3s.io's does), placeholder image tarballs."""
    executable(directory / "k3s", f"#!/bin/sh\necho \"$0 $*\" >> {record}/k3s.calls\n"
               f"[ \"$1\" = --version ] && echo 'k3s version {K3S_VERSION} (fake)'\nexit 0\n")
    executable(directory / "k3s-install.sh", f"""#!/bin/sh
env | grep '^INSTALL_K3S_' | sort > {record}/install.$INSTALL_K3S_EXEC.env
[ "$INSTALL_K3S_SKIP_DOWNLOAD" = true ] || {{ echo 'would download: no network' >&2; exit 7; }}
name=k3s; [ "$INSTALL_K3S_EXEC" = agent ] && name=k3s-agent
mkdir -p "$INSTALL_K3S_SYSTEMD_DIR"
printf '[Service]\\nExecStart=%s/k3s %s\\n' "$INSTALL_K3S_BIN_DIR" "$INSTALL_K3S_EXEC" \\
  > "$INSTALL_K3S_SYSTEMD_DIR/$name.service"
""")
    for name in ("k3s-airgap-images-amd64.tar.zst", "edgelab-images-amd64.tar"):
        (directory / name).write_text("placeholder\n")
    return directory


def test_airgap_converge_runs_the_install_script_offline_and_is_idempotent(tmp_path: Path) -> None:
    """Defect 2: with the binary already delivered by the airgap role, k3s_server/k3s_agent used
    to see the right version and skip the install script, so no unit was written."""
    record = tmp_path / "record"
    record.mkdir()
    airgap = fake_airgap_dir(tmp_path / "airgap", record)
    inventory = write_local_inventory(tmp_path, group_vars={"airgap": True})
    extra = {"airgap_dir": str(airgap), "k3s_server_manage_service": False,
             "k3s_agent_manage_service": False, "k3s_token": "fixed-test-token"}
    playbook = FIXTURE_PLAYBOOKS / "k3s_airgap.yml"
    first = run_playbook(playbook, tmp_path, inventory=inventory, extra_vars=extra)
    assert first.returncode == 0, failure_text(first)
    for host, exec_, unit in (("cloud1", "server", "k3s.service"),
                              ("edge1", "agent", "k3s-agent.service")):
        env = (record / f"install.{exec_}.env").read_text().splitlines()
        assert "INSTALL_K3S_SKIP_DOWNLOAD=true" in env
        assert f"INSTALL_K3S_VERSION={K3S_VERSION}" in env
        assert "INSTALL_K3S_SKIP_START=true" in env
        root = root_of(tmp_path, host)
        assert (root / "etc/systemd/system" / unit).read_text().endswith(f"/k3s {exec_}\n")
        assert (root / "usr/local/bin/k3s").exists()
    for path in record.glob("install.*.env"):
        path.unlink()
    second = run_playbook(playbook, tmp_path, inventory=inventory, extra_vars=extra)
    assert second.returncode == 0, failure_text(second)
    assert not list(record.glob("install.*.env"))  # installed and unit present: not run again
    for host in ("cloud1", "edge1"):
        assert second.stats(host)["changed"] == 0, second.changed_tasks()


def test_inventory_values_win_over_the_kit_defaults(tmp_path: Path) -> None:
    """Defect 8: `cluster_flavor` under `all: vars:` of an inventory kept outside playbooks/
    is used, and every other default is still there."""
    inventory = write_local_inventory(tmp_path, group_vars={"cluster_flavor": "kubeedge",
                                                            "app_node_port": 31999})
    manifests = tmp_path / "manifests"
    run = run_playbook(FIXTURE_PLAYBOOKS / "show_settings.yml", tmp_path, inventory=inventory)
    assert run.returncode == 0, failure_text(run)
    shown = run.results("Show the effective settings")["edge1"]["msg"]
    assert shown["cluster_flavor"] == "kubeedge"
    assert shown["app_node_port"] == 31999
    assert shown["k3s_version"] == K3S_VERSION  # a default, found without any group_vars
    assert shown["edgelab_cloud_address"] == "192.0.2.1"
    assert not manifests.exists()


def test_ha_servers_get_cluster_init_and_join_the_first(tmp_path: Path) -> None:
    """Defect 9: three cloud hosts are accepted; the first gets cluster-init, the others
    `server:` pointing at it, with the first's token. Two cloud hosts are refused (no quorum)."""
    inventory = write_local_inventory(
        tmp_path, more_clouds=(("cloud2", "192.0.2.2"), ("cloud3", "192.0.2.3")))
    record = tmp_path / "record"
    record.mkdir()
    airgap = fake_airgap_dir(tmp_path / "airgap", record)
    token_file = root_of(tmp_path, "cloud1") / "var/lib/rancher/k3s/server/token"
    token_file.parent.mkdir(parents=True)
    token_file.write_text("K10-generated-by-the-first-server\n")
    extra = {"airgap": True, "airgap_dir": str(airgap), "k3s_server_manage_service": False}
    run = run_playbook(FIXTURE_PLAYBOOKS / "k3s_servers.yml", tmp_path, inventory=inventory,
                       extra_vars=extra)
    assert run.returncode == 0, failure_text(run)
    configs = {h: yaml.safe_load((root_of(tmp_path, h) / "etc/rancher/k3s/config.yaml").read_text())
               for h in ("cloud1", "cloud2", "cloud3")}
    assert configs["cloud1"]["cluster-init"] is True and "server" not in configs["cloud1"]
    for joining in ("cloud2", "cloud3"):
        assert configs[joining]["server"] == "https://192.0.2.1:6443"
        assert configs[joining]["token"] == "K10-generated-by-the-first-server"
        assert "cluster-init" not in configs[joining]
        assert "192.0.2.1" in configs[joining]["tls-san"]
    assert "K10-generated-by-the-first-server" not in run.stdout

    two = write_local_inventory(tmp_path / "two", more_clouds=(("cloud2", "192.0.2.2"),))
    refused = run_playbook(FIXTURE_PLAYBOOKS / "k3s_servers.yml", tmp_path / "two", inventory=two,
                           extra_vars=extra)
    assert refused.returncode != 0
    (why,) = refused.results("Check the inventory and the chosen settings").values()
    assert "got 2" in why["msg"]


def test_prereq_reports_a_module_that_cannot_be_loaded(tmp_path: Path) -> None:
    """Defect 10 (sch_netem): a failing modprobe used to be silenced (failed_when: false)."""
    record = tmp_path / "modprobe.calls"
    modprobe = executable(tmp_path / "bin/modprobe", f"#!/bin/sh\necho \"$1\" >> {record}\n"
                          "[ \"$1\" = sch_netem ] && { echo \"modprobe: FATAL: Module sch_netem "
                          "not found in directory /lib/modules/$(uname -r)\" >&2; exit 1; }\n"
                          "exit 0\n")
    inventory = write_local_inventory(tmp_path)
    run = run_playbook(FIXTURE_PLAYBOOKS / "node_config.yml", tmp_path, inventory=inventory,
                       extra_vars={"prereq_manage_packages": False, "raspberrypi_reboot": False,
                                   "prereq_modprobe_bin": str(modprobe),
                                   "prereq_sysctl_bin": "/bin/true"})
    assert run.returncode != 0
    failed = run.results("Fail when a kernel module could not be loaded")
    assert set(failed) == {"cloud1", "edge1"}
    assert "sch_netem" in failed["edge1"]["msg"] and "FATAL" in failed["edge1"]["msg"]
    assert set(record.read_text().split()) == {"br_netfilter", "overlay", "sch_netem"}


def test_small_defects(tmp_path: Path) -> None:
    """Defect 10: exact version checks, k3s-armhf, the Ready wait bound, the Mosquitto image in
    the airgap list, upgrade.yml with the airgap role and all advertise addresses."""
    inventory = write_local_inventory(tmp_path)
    keadm = executable(tmp_path / "bin/keadm", "#!/bin/sh\necho 'version: version.Info{Major:\"1\","
                       " GitVersion:\"v1.23.10\", GitCommit:\"0\"}'\n")
    run = run_playbook(FIXTURE_PLAYBOOKS / "show_settings.yml", tmp_path, inventory=inventory,
                       extra_vars={"show_keadm_bin": str(keadm), "kubeedge_version": "v1.23.1"})
    assert run.returncode == 0, failure_text(run)
    shown = run.results("Show the effective settings")["edge1"]["msg"]
    assert shown["k3s_binary"] == {"amd64": "k3s", "arm64": "k3s-arm64", "arm": "k3s-armhf"}
    assert shown["keadm_installed"] == "v1.23.10"  # and v1.23.10 != v1.23.1: download again
    assert "docker.io/library/eclipse-mosquitto:1.6.15" in shown["kubeedge_images"]

    server = (PLAYBOOKS / "roles/k3s_server/tasks/server.yml").read_text()
    wait = yaml.safe_load(server)
    (block,) = [t for t in wait if t.get("name", "").startswith("Start K3s")]
    (ready,) = [t for t in block["block"] if t["name"] == "Wait for the cloud node to be Ready"]
    # One bounded wait: kubectl's own timeout plus at most retries x delay for a slow API.
    assert ready["retries"] * ready["delay"] <= 60
    assert "timed out" in ready["until"]

    upgrade = yaml.safe_load((PLAYBOOKS / "upgrade.yml").read_text())
    assert upgrade[0]["roles"] == [{"role": "airgap"}]
    text = json.dumps(upgrade)
    assert "kubeedge_cloud_extra_advertise_addresses" in text
    assert " not in " not in text  # no substring version tests


def test_generated_db_password_survives_a_redeploy(tmp_path: Path) -> None:
    """Defect 10: a redeploy after a reset that kept the data used a new random DB password
    (lookup('password', '/dev/null')) against PostgreSQL's old data directory."""
    inventory = write_local_inventory(tmp_path)
    secrets = tmp_path / "secrets"
    runs = []
    for _ in range(2):
        run = run_playbook(FIXTURE_PLAYBOOKS / "app_secrets.yml", tmp_path, inventory=inventory,
                           extra_vars={"app_secrets_dir": str(secrets)})
        assert run.returncode == 0, failure_text(run)
        runs.append((secrets / "db-password").read_text())
    assert runs[0] == runs[1]
    assert (secrets / "db-password").stat().st_mode & 0o077 == 0
    assert secrets.stat().st_mode & 0o077 == 0
    assert runs[0].strip() not in run.stdout + run.stderr
