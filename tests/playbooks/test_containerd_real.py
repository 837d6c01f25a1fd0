"""The containerd role's files checked by the real software they are for: Debian's `containerd`
binary loads the rendered config.toml (`containerd --config … config dump`), and the CNI
conflist names plugins that Debian's containernetworking-plugins installs in /usr/lib/cni and
that accept its cniVersion (each plugin answers CNI_COMMAND=VERSION).

Not shown here (no systemd, no kubelet/EdgeCore on this machine): containerd serving CRI with
this config and EdgeCore's node turning Ready; docs/instructor.md's acceptance run checks that.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.playbooks.ansible_run import FIXTURE_PLAYBOOKS, failure_text, run_playbook
from tests.playbooks.local_inventory import root_of, write_local_inventory

pytestmark = pytest.mark.skipif(
    shutil.which("containerd") is None or not Path("/usr/lib/cni/bridge").exists(),
    reason="needs Debian's containerd and containernetworking-plugins (install-system-deps)")


def test_containerd_config_loads_and_cni_plugins_exist(tmp_path: Path) -> None:
    inventory = write_local_inventory(tmp_path)
    run = run_playbook(FIXTURE_PLAYBOOKS / "containerd.yml", tmp_path, inventory=inventory,
                       extra_vars={"containerd_manage_packages": False,
                                   "containerd_manage_service": False})
    assert run.returncode == 0, failure_text(run)
    root = root_of(tmp_path, "edge1")
    config = root / "etc/containerd/config.toml"

    dump = subprocess.run(["containerd", "--config", str(config), "config", "dump"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                          check=False)
    assert dump.returncode == 0, dump.stderr
    cri = tomllib.loads(dump.stdout)["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["cni"]["bin_dir"] == "/usr/lib/cni"
    assert cri["cni"]["conf_dir"] == "/etc/cni/net.d"
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.10"
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
    assert cri["registry"]["config_path"] == "/etc/containerd/certs.d"

    conflist = json.loads((root / "etc/cni/net.d/10-edgelab.conflist").read_text())
    packaged = set(subprocess.run(["dpkg", "-L", "containernetworking-plugins"],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=60,
                                  check=True).stdout.split())
    types = [plugin["type"] for plugin in conflist["plugins"]]
    types.append(conflist["plugins"][0]["ipam"]["type"])
    for plugin in types:
        binary = f"/usr/lib/cni/{plugin}"
        assert binary in packaged, f"{plugin}: not in Debian's containernetworking-plugins"
        answer = subprocess.run([binary], input="", capture_output=True, text=True, timeout=30,
                                env={**os.environ, "CNI_COMMAND": "VERSION"}, check=False)
        assert answer.returncode == 0, answer.stderr
        assert conflist["cniVersion"] in json.loads(answer.stdout)["supportedVersions"], plugin

    second = run_playbook(FIXTURE_PLAYBOOKS / "containerd.yml", tmp_path, inventory=inventory,
                          extra_vars={"containerd_manage_packages": False,
                                      "containerd_manage_service": False})
    assert second.returncode == 0, failure_text(second)
    assert second.stats("edge1")["changed"] == 0, second.changed_tasks()
