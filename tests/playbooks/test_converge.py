"""Converge roles on this machine against fixture roots (plain ansible-playbook, connection:
local), twice, to show what they write and that a second run changes nothing.

Real in these tests: Ansible, the roles and templates, file edits, idempotence, the hostvars
token hand-off. Not covered (no systemd as PID 1, no Docker, no K3s/KubeEdge binaries, no root
network changes here): package installs, sysctl/modprobe, the Pi reboot, starting k3s/containerd/
edgecore, real `keadm init/join` (replaced by STUB scripts named `*-STUB`), loading the nftables
ruleset and tc qdiscs (check mode only). docs/instructor.md's acceptance checklist covers those
on real hardware.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path
from typing import Any

import yaml

from tests.playbooks.ansible_run import (
    COMMON_DEFAULTS,
    FIXTURE_PLAYBOOKS,
    PLAYBOOKS,
    PlaybookRun,
    failure_text,
    run_playbook,
)
from tests.playbooks.local_inventory import root_of, write_local_inventory
from tests.playbooks.stubs import FAKE_TOKEN, calls, write_stubs

PI_CMDLINE = (
    "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes"
    " rootwait cfg80211.ieee80211_regdom=DE\n"
)
KUBEEDGE_VERSION = yaml.safe_load(COMMON_DEFAULTS.read_text())["kubeedge_version"]


def write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def test_prereq_raspberrypi_registry_converge_and_are_idempotent(tmp_path: Path) -> None:
    """cloud1: Pi 5 on Bookworm (/boot/firmware); edge1: a VM with a cmdline.txt that must stay
    untouched; edge2: Pi 4 on an old layout (/boot/cmdline.txt) that already has one flag."""
    inventory = write_local_inventory(
        tmp_path, edges=(("edge1", "192.0.2.11"), ("edge2", "192.0.2.12"))
    )
    pi5, vm, pi4 = (root_of(tmp_path, h) for h in ("cloud1", "edge1", "edge2"))
    write(pi5 / "proc/device-tree/model", b"Raspberry Pi 5 Model B Rev 1.0\x00")
    write(pi5 / "boot/firmware/cmdline.txt", PI_CMDLINE)
    write(pi5 / "boot/cmdline.txt", "stale copy, not in use\n")
    write(pi5 / "sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
    write(vm / "boot/firmware/cmdline.txt", PI_CMDLINE)
    write(pi4 / "proc/device-tree/model", b"Raspberry Pi 4 Model B Rev 1.5\x00")
    write(pi4 / "boot/cmdline.txt", PI_CMDLINE.replace("rootwait", "rootwait cgroup_memory=1"))
    write(pi4 / "sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n")

    extra = {
        "cluster_flavor": "kubeedge",
        "edgelab_mirror_region": "china",
        "edgelab_http_proxy": "http://proxy.lab:3128",
        "edgelab_https_proxy": "http://proxy.lab:3128",
        "prereq_manage_packages": False,
        "prereq_apply_runtime": False,
        "raspberrypi_manage_packages": False,
        "raspberrypi_reboot": False,
    }
    first = run_playbook(FIXTURE_PLAYBOOKS / "node_config.yml", tmp_path, inventory=inventory,
                         extra_vars=extra)
    assert first.returncode == 0, failure_text(first)

    flags = " cgroup_memory=1 cgroup_enable=memory cgroup_enable=cpuset"
    assert (pi5 / "boot/firmware/cmdline.txt").read_text() == PI_CMDLINE[:-1] + flags + "\n"
    assert (pi5 / "boot/cmdline.txt").read_text() == "stale copy, not in use\n"
    pi4_line = (pi4 / "boot/cmdline.txt").read_text()
    assert pi4_line.count("cgroup_memory=1") == 1
    assert pi4_line.endswith(" cgroup_enable=memory cgroup_enable=cpuset\n")
    assert (vm / "boot/firmware/cmdline.txt").read_text() == PI_CMDLINE  # not a Pi: untouched
    # Without reboot the role says so instead of rebooting.
    notes = first.results("Report that a reboot is needed")
    assert set(notes) == {"cloud1", "edge2"}

    for root in (pi5, vm, pi4):
        sysctl = (root / "etc/sysctl.d/90-edgelab.conf").read_text()
        assert "net.ipv4.ip_forward = 1" in sysctl
        assert "net.bridge.bridge-nf-call-iptables = 1" in sysctl
        modules = (root / "etc/modules-load.d/edgelab.conf").read_text().split()
        assert {"br_netfilter", "overlay"} <= set(modules)

    # K3s node (the cloud in kubeedge mode): registries.yaml with the China mirrors.
    registries = yaml.safe_load((pi5 / "etc/rancher/k3s/registries.yaml").read_text())
    assert registries["mirrors"]["docker.io"]["endpoint"] == ["https://docker.m.daocloud.io"]
    assert registries["mirrors"]["registry.k8s.io"]["endpoint"] == ["https://k8s.m.daocloud.io"]
    proxy = (pi5 / "etc/systemd/system/k3s.service.d/edgelab-proxy.conf").read_text()
    assert 'Environment="HTTPS_PROXY=http://proxy.lab:3128"' in proxy
    assert "192.0.2.11" in proxy  # nodes are added to NO_PROXY
    # KubeEdge edges: containerd hosts.toml per registry and a containerd proxy drop-in.
    for root in (vm, pi4):
        hosts = tomllib.loads((root / "etc/containerd/certs.d/docker.io/hosts.toml").read_text())
        assert hosts["server"] == "https://registry-1.docker.io"
        assert hosts["host"]["https://docker.m.daocloud.io"]["capabilities"] == ["pull", "resolve"]
        assert (root / "etc/systemd/system/containerd.service.d/edgelab-proxy.conf").exists()
        assert not (root / "etc/rancher/k3s/registries.yaml").exists()

    second = run_playbook(FIXTURE_PLAYBOOKS / "node_config.yml", tmp_path, inventory=inventory,
                          extra_vars=extra)
    assert second.returncode == 0, failure_text(second)
    for host in ("cloud1", "edge1", "edge2"):
        assert second.stats(host)["changed"] == 0, second.changed_tasks()
    # Second run: the Pis' controllers were verified (memory and cpuset enabled).
    verified = second.results("Check that the memory and cpuset controllers are enabled")
    assert set(verified) == {"cloud1", "edge2"}


def test_kubeedge_token_goes_from_cloud_to_edges_in_memory(tmp_path: Path) -> None:
    """kubeedge_cloud runs `keadm init` once and `keadm gettoken`; kubeedge_edge joins with that
    token through hostvars. keadm and kubectl are STUB scripts (tests/playbooks/stubs.py) that
    record their arguments; the real keadm is not available here."""
    inventory = write_local_inventory(tmp_path)
    stub_dir = tmp_path / "stubs"
    stubs = write_stubs(stub_dir, roots=tmp_path / "roots", kubeedge_version=KUBEEDGE_VERSION)
    extra = {
        "cluster_flavor": "kubeedge",
        "kubeedge_cloud_keadm_bin": str(stubs["keadm"]),
        "kubeedge_edge_keadm_bin": str(stubs["keadm"]),
        "kubeedge_cloud_kubectl": [str(stubs["kubectl"])],
        "kubeedge_edge_kubectl": [str(stubs["kubectl"])],
        "kubeedge_edge_manage_service": False,
    }
    first = run_playbook(FIXTURE_PLAYBOOKS / "kubeedge_tokens.yml", tmp_path,
                         inventory=inventory, extra_vars=extra)
    assert first.returncode == 0, failure_text(first)

    keadm = calls(stub_dir, "keadm")
    verbs = [c[0] for c in keadm]
    assert verbs.count("init") == 1 and verbs.count("gettoken") == 1 and verbs.count("join") == 1
    (init,) = [c for c in keadm if c[0] == "init"]
    assert "--advertise-address=192.0.2.1" in init
    assert f"--kubeedge-version={KUBEEDGE_VERSION}" in init
    assert any(a.startswith("--kube-config=") and a.endswith("/etc/rancher/k3s/k3s.yaml")
               for a in init)
    (join,) = [c for c in keadm if c[0] == "join"]
    assert f"--token={FAKE_TOKEN}" in join
    assert "--edgenode-name=edge1" in join
    assert "--cloudcore-ipport=192.0.2.1:10000" in join
    assert f"--kubeedge-version={KUBEEDGE_VERSION}" in join
    assert "--remote-runtime-endpoint=unix:///run/containerd/containerd.sock" in join
    assert "--cgroupdriver=cgroupfs" in join
    assert "--labels=edgelab.dev/edge=true,edgelab.dev/role=edge" in join
    # The stub wrote EdgeCore's config where the real keadm would: the role sees the node joined.
    edgecore = root_of(tmp_path, "edge1") / "etc/kubeedge/config/edgecore.yaml"
    assert "server: 192.0.2.1:10000" in edgecore.read_text()
    # The token is never printed by Ansible (no_log) and never written on the control host:
    # it only appears in the STUB itself (which invents it) and in its record of the edge-side
    # command line. The scan covers Ansible's temp dirs, the fact cache and the fixture roots.
    assert FAKE_TOKEN not in first.stdout + first.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file() and stub_dir not in path.parents:
            assert FAKE_TOKEN not in path.read_text(errors="replace"), path

    second = run_playbook(FIXTURE_PLAYBOOKS / "kubeedge_tokens.yml", tmp_path,
                          inventory=inventory, extra_vars=extra)
    assert second.returncode == 0, failure_text(second)
    for host in ("cloud1", "edge1"):
        assert second.stats(host)["changed"] == 0, second.changed_tasks()
    new_verbs = [c[0] for c in calls(stub_dir, "keadm")[len(keadm):]]
    assert "init" not in new_verbs and "join" not in new_verbs


def test_kubeedge_edge_without_a_cloud_token_fails_clearly(tmp_path: Path) -> None:
    """Running only the edge play (-l edge1) cannot join: the message says what to run."""
    inventory = write_local_inventory(tmp_path)
    stub_dir = tmp_path / "stubs"
    stubs = write_stubs(stub_dir, roots=tmp_path / "roots", kubeedge_version=KUBEEDGE_VERSION)
    run = run_playbook(
        FIXTURE_PLAYBOOKS / "kubeedge_tokens.yml", tmp_path, inventory=inventory,
        extra_vars={"cluster_flavor": "kubeedge", "kubeedge_edge_keadm_bin": str(stubs["keadm"])},
        args=["-l", "edge1"],
    )
    assert run.returncode != 0
    (result,) = run.results("Check that the cloud play produced a token").values()
    assert "No KubeEdge join token" in result["msg"]
    assert [c[0] for c in calls(stub_dir, "keadm")] == ["version"]


def test_link_down_and_degrade_in_check_mode(tmp_path: Path) -> None:
    """link.yml in check mode on three edges at once, each with its own link settings (the same
    variables the edgelab package passes with -e). nft and tc are STUB scripts for the read-only
    state queries; check mode runs no changing command."""
    settings: dict[str, dict[str, Any]] = {
        "edge1": {"link_state": "down", "link_mode": "refuse"},
        "edge2": {"link_state": "down", "link_mode": "blackhole"},
        "edge3": {"link_state": "degrade", "link_mode": "blackhole", "link_latency_ms": 200,
                  "link_jitter_ms": 50, "link_loss": 5, "link_rate_kbit": 512},
    }
    inventory = write_local_inventory(
        tmp_path, edges=(("edge1", "192.0.2.11"), ("edge2", "192.0.2.12"), ("edge3", "192.0.2.13")),
        host_vars=settings,
    )
    stub_dir = tmp_path / "stubs"
    stubs = write_stubs(stub_dir, roots=tmp_path / "roots", kubeedge_version=KUBEEDGE_VERSION)
    base = {
        "link_interface": "eth0",
        "link_control_host_address": "198.51.100.7",
        "link_nft_bin": str(stubs["nft"]),
        "link_tc_bin": str(stubs["tc"]),
    }
    run = run_playbook(PLAYBOOKS / "link.yml", tmp_path, inventory=inventory,
                       args=["--check", "-l", "edge"], extra_vars=base)
    assert run.returncode == 0, failure_text(run)
    shown = {
        host: result["msg"]
        for host, result in run.results("Show what the link role does on this edge").items()
    }
    ports = "6443, 10000, 10002, 10003, 10004, 10250, 30800"

    lines = [line.strip() for line in shown["edge1"]["nftables"].splitlines()]
    ssh_out = "ip daddr 198.51.100.7 tcp sport 22 accept"
    ssh_in = "ip saddr 198.51.100.7 tcp dport 22 accept"
    tcp_cut = lines.index(f"ip daddr 192.0.2.1 tcp dport {{ {ports} }} reject with tcp reset")
    # SSH safety: the accept rules for the control host (and the cloud node, in case Ansible runs
    # there) come before any cutting rule, in both directions.
    assert lines.index(ssh_out) < tcp_cut
    assert lines.index("ip daddr 192.0.2.1 tcp sport 22 accept") < tcp_cut
    assert lines.index(ssh_in) < lines.index(f"ip saddr 192.0.2.1 tcp sport {{ {ports} }}"
                                             " reject with tcp reset")
    assert "ip daddr 192.0.2.1 udp dport { 8472 } reject" in lines
    assert not any("dport 22 " in line and "accept" not in line for line in lines)
    assert shown["edge1"]["ssh_kept_open_for"] == ["198.51.100.7", "192.0.2.1"]
    assert shown["edge1"]["tc_commands"] == []

    assert f"ip daddr 192.0.2.1 tcp dport {{ {ports} }} drop" in shown["edge2"]["nftables"]
    assert "reject" not in shown["edge2"]["nftables"]

    tc = shown["edge3"]["tc_commands"]
    tc_bin = str(stubs["tc"])
    assert shown["edge3"]["nftables"] == "table removed"
    assert tc[0] == (f"{tc_bin} qdisc replace dev eth0 root handle 1: prio bands 3 priomap"
                     + " 1" * 16)
    assert tc[1] == (f"{tc_bin} qdisc replace dev eth0 parent 1:3 handle 30: netem limit 10000"
                     " delay 200.0ms 50.0ms loss 5.0% rate 512kbit")
    # SSH replies to the control host and to the cloud node bypass netem; the rest to the cloud
    # node goes through it.
    assert any("dst 198.51.100.7/32 match ip sport 22 0xffff flowid 1:2" in c for c in tc)
    assert any("dst 192.0.2.1/32 match ip sport 22 0xffff flowid 1:2" in c for c in tc)
    assert tc[-1].endswith("prio 2 u32 match ip dst 192.0.2.1/32 flowid 1:3")

    # Check mode: nothing written or changed on the nodes; only read-only queries ran.
    for host in settings:
        assert not (root_of(tmp_path, host) / "etc/edgelab/link.nft").exists()
    assert {c[0] for c in calls(stub_dir, "nft")} == {"list"}
    assert {tuple(c[:2]) for c in calls(stub_dir, "tc")} == {("qdisc", "show")}

    bad = run_playbook(
        PLAYBOOKS / "link.yml", tmp_path, inventory=inventory, args=["--check", "-l", "edge1"],
        extra_vars={**base, "link_state": "sideways"},
    )
    assert bad.returncode != 0
    (refusal,) = bad.results("Check the requested link state").values()
    assert "link_state=down|up|degrade" in refusal["msg"]


def test_link_apply_is_idempotent_and_restores(tmp_path: Path) -> None:
    """link.yml for real against STUB nft/tc/systemd-run that keep state in files: down twice
    (the second run changes nothing), then degrade, then the restore script the timer would run.
    The kernel side (nftables, netem, the systemd timer) is not exercised; STUBs stand in."""
    inventory = write_local_inventory(tmp_path, edges=(("edge1", "192.0.2.11"),))
    stub_dir = tmp_path / "stubs"
    stubs = write_stubs(stub_dir, roots=tmp_path / "roots", kubeedge_version=KUBEEDGE_VERSION)
    base = {
        "link_interface": "eth0",
        "link_control_host_address": "198.51.100.7",
        "link_nft_bin": str(stubs["nft"]),
        "link_tc_bin": str(stubs["tc"]),
        "link_systemd_run_bin": str(stubs["systemd-run"]),
        "link_scheduler": "systemd",
        "link_max_duration_s": 120,
    }
    root = root_of(tmp_path, "edge1")

    def link(**extra: object) -> PlaybookRun:
        run = run_playbook(PLAYBOOKS / "link.yml", tmp_path, inventory=inventory,
                           extra_vars={**base, **extra})
        assert run.returncode == 0, failure_text(run)
        return run

    first = link(link_state="down", link_mode="blackhole")
    assert first.stats("edge1")["changed"] > 0
    assert (stub_dir / "nft-table").read_text() == (root / "etc/edgelab/link.nft").read_text()
    (schedule,) = calls(stub_dir, "systemd-run")
    assert "--on-active=120s" in schedule
    assert schedule[-1] == str(root / "usr/local/sbin/edgelab-link-restore")

    again = link(link_state="down", link_mode="blackhole")
    assert again.stats("edge1")["changed"] == 0, again.changed_tasks()
    assert len(calls(stub_dir, "systemd-run")) == 1

    # degrade replaces the cut (the nftables table goes, as with `up`) by netem.
    link(link_state="degrade", link_latency_ms=100, link_loss=1)
    assert (stub_dir / "tc-netem").exists()
    assert not (stub_dir / "nft-table").exists()

    # The restore script (what the timer runs) lifts the degradation.
    subprocess.run([str(root / "usr/local/sbin/edgelab-link-restore")], check=True, timeout=30,
                   stdin=subprocess.DEVNULL)
    assert not (stub_dir / "tc-netem").exists()


def test_reset_removes_what_the_kit_installed(tmp_path: Path) -> None:
    """reset.yml on fixture roots: runs the link restore, `keadm reset` (STUB) and the K3s
    uninstall script (a fake that deletes itself like the real one), and removes EdgeLab's files
    and the kubeconfig."""
    stub_dir = tmp_path / "stubs"
    stubs = write_stubs(stub_dir, roots=tmp_path / "roots", kubeedge_version=KUBEEDGE_VERSION)
    inventory = write_local_inventory(tmp_path)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\n")
    for host, uninstall in (("cloud1", "k3s-uninstall.sh"), ("edge1", "k3s-agent-uninstall.sh")):
        root = root_of(tmp_path, host)
        write(root / "etc/rancher/k3s/config.yaml", "token: x\n")
        write(root / "etc/rancher/k3s/registries.yaml", "mirrors: {}\n")
        write(root / "etc/edgelab/link.nft", "table inet edgelab_link {}\n")
        write(root / "var/lib/edgelab/edge-cache/cache.sqlite3", "data")
        restore = root / "usr/local/sbin/edgelab-link-restore"
        write(restore, f"#!/bin/sh\necho restored >> {tmp_path}/restored-{host}\n")
        restore.chmod(0o755)
        script = root / "usr/local/bin" / uninstall
        write(script, f'#!/bin/sh\necho {host} >> {tmp_path}/uninstalled\nrm -f "$0"\n')
        script.chmod(0o755)
        (root / "usr/local/bin/keadm").symlink_to(stubs["keadm"])

    extra = {"edgelab_kubeconfig": str(kubeconfig)}
    first = run_playbook(PLAYBOOKS / "reset.yml", tmp_path, inventory=inventory, extra_vars=extra)
    assert first.returncode == 0, failure_text(first)
    assert sorted((tmp_path / "uninstalled").read_text().split()) == ["cloud1", "edge1"]
    assert (tmp_path / "restored-edge1").exists() and (tmp_path / "restored-cloud1").exists()
    resets = [c[:2] for c in calls(stub_dir, "keadm")]
    assert resets == [["reset", "edge"], ["reset", "cloud"]]  # edges first
    for host in ("cloud1", "edge1"):
        root = root_of(tmp_path, host)
        assert not (root / "etc/rancher/k3s/config.yaml").exists()
        assert not (root / "etc/edgelab").exists()
        assert not (root / "var/lib/edgelab").exists()
        assert not (root / "usr/local/bin/keadm").exists()
    assert not kubeconfig.exists()
