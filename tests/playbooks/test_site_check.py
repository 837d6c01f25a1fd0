"""`site.yml --check` against a local inventory (cloud1 + edge1 are this machine, each with its
own fixture root), for both flavors, in airgap mode with placeholder artifacts (these machines
have no internet: the download tasks would otherwise fail).

What this shows: every play and role of site.yml (cluster.yml + deploy.yml) evaluates on a
fresh node in check mode, the variables resolve for both flavors, and nothing is written.
What it cannot show (no systemd, no Docker, no K3s/KubeEdge binaries, no cluster here): the
installs, service starts, `keadm init/join`, and applying the manifests; the app role says it
only rendered because there is no kubeconfig yet. Packages and systemd services are switched
off with the roles' *_manage_* variables, because this machine has neither apt bindings for
Ansible's Python nor systemd as PID 1.
"""

from __future__ import annotations

import io
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from tests.playbooks.ansible_run import (
    COMMON_DEFAULTS,
    PLAYBOOKS,
    PlaybookRun,
    failure_text,
    run_playbook,
)
from tests.playbooks.local_inventory import root_of, write_local_inventory

KUBEEDGE_VERSION = yaml.safe_load(COMMON_DEFAULTS.read_text())["kubeedge_version"]


def placeholder_airgap_dir(directory: Path, arch: str = "amd64") -> Path:
    """Files named like the real airgap artifacts; their content is irrelevant in check mode."""
    directory.mkdir(parents=True)
    for name in ("k3s-install.sh", "k3s" if arch == "amd64" else f"k3s-{arch}",
                 f"k3s-airgap-images-{arch}.tar.zst", f"kubeedge-images-{arch}.tar",
                 f"edgelab-images-{arch}.tar"):
        (directory / name).write_text("placeholder, not a real artifact\n")
    keadm = f"keadm-{KUBEEDGE_VERSION}-linux-{arch}"
    with tarfile.open(directory / f"{keadm}.tar.gz", "w:gz") as tar:
        data = b"#!/bin/sh\necho placeholder keadm\n"
        info = tarfile.TarInfo(f"{keadm}/keadm/keadm")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return directory


def site_check(flavor: str, tmp_path: Path) -> PlaybookRun:
    inventory = write_local_inventory(tmp_path)
    airgap_dir = placeholder_airgap_dir(tmp_path / "airgap")
    extra = {
        "cluster_flavor": flavor,
        "airgap": True,
        "airgap_dir": str(airgap_dir),
        "edgelab_kubeconfig": str(tmp_path / "kubeconfig"),
        "app_manifest_dir": str(tmp_path / "manifests"),
        "prereq_manage_packages": False,
        "prereq_apply_runtime": False,
        "containerd_manage_packages": False,
        "containerd_manage_service": False,
    }
    return run_playbook(PLAYBOOKS / "site.yml", tmp_path, inventory=inventory,
                        extra_vars=extra, args=["--check"], timeout=500)


def test_site_check_mode_completes_for_both_flavors(tmp_path: Path) -> None:
    """Both flavors run at the same time (two ansible-playbook processes, two cores)."""
    flavors = ["k3s", "kubeedge"]
    for flavor in flavors:
        (tmp_path / flavor).mkdir()
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = dict(zip(flavors, pool.map(lambda f: site_check(f, tmp_path / f), flavors),
                        strict=True))
    for flavor, run in runs.items():
        check_run(flavor, run, tmp_path / flavor)


def check_run(flavor: str, run: PlaybookRun, tmp_path: Path) -> None:
    assert run.returncode == 0, failure_text(run)
    for host in ("cloud1", "edge1", "localhost"):
        assert run.stats(host)["failures"] == 0
    # The roles for the flavor ran; the others were skipped.
    ran = {t.split(" : ")[0] for t in run.changed_tasks() if " : " in t}
    assert {"prereq", "airgap", "registry", "k3s_server"} <= ran
    if flavor == "k3s":
        assert "k3s_agent" in ran and "containerd" not in ran
    else:
        assert "containerd" in ran and "k3s_agent" not in ran
        init = run.results("Install CloudCore with keadm init")["cloud1"]
        assert init.get("skipped") or init.get("changed")  # check mode: not run
    # The app role rendered nothing to disk and said why nothing was applied.
    (note,) = run.results("Say why nothing is applied").values()
    assert "check mode before the cluster exists" in note["msg"]
    # Check mode wrote nothing under the fixture roots or on the control host.
    for host in ("cloud1", "edge1"):
        assert list(root_of(tmp_path, host).rglob("*")) == []
    assert not (tmp_path / "manifests").exists()
    assert not (tmp_path / "kubeconfig").exists()
