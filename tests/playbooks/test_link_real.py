"""link.yml over real SSH against real nftables, in network namespaces this test creates
(tests/playbooks/netns_lab.py): Ansible runs in the control host's namespace and logs in to
Debian's sshd on the edge as an unprivileged user, `become` goes through real sudo, and the
rules are loaded into the edge namespace's kernel nftables.

Shown here: the interface towards the cloud is found by the role (nothing passes
link_interface), `refuse` is refused at once (TCP reset), `blackhole` times out, SSH from the
control host and from the cloud stays open while the link is down, a second identical run
changes nothing, and the automatic restore fires (no systemd here, so the role's detached
timer runs it). `degrade` needs the sch_netem qdisc: the test probes the kernel and, where
netem is missing (as on these machines), shows that the role reports the failure instead of
pretending; it does not fake netem.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.playbooks.ansible_run import PLAYBOOKS, PlaybookRun, failure_text, run_playbook
from tests.playbooks.netns_lab import CLOUD, CTL, EDGE, NetnsLab, netns_lab

pytestmark = pytest.mark.skipif(
    shutil.which("sshd", path="/usr/sbin:/usr/bin") is None or shutil.which("nft", path="/usr/sbin")
    is None, reason="needs Debian's openssh-server and nftables (scripts/install-system-deps)")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[NetnsLab]:
    with netns_lab(tmp_path / "lab") as lab:
        yield lab


def inventory(lab: NetnsLab, tmp_path: Path) -> Path:
    root = tmp_path / "roots" / "edge1"
    root.mkdir(parents=True)
    data = {"all": {
        "vars": {"ansible_python_interpreter": "/usr/bin/python3"},
        "children": {
            "cloud": {"hosts": {"cloud1": {"ansible_host": CLOUD}}},
            "edge": {"hosts": {"edge1": {
                "ansible_host": EDGE,
                "ansible_user": lab.user,
                "ansible_become": True,
                "ansible_become_method": "sudo",
                "ansible_ssh_private_key_file": str(lab.key),
                "ansible_ssh_common_args":
                    "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no",
                "ansible_remote_tmp": str(lab.remote_tmp),
                "edgelab_root": str(root),
            }}},
        },
    }}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_link_down_refuse_blackhole_and_automatic_restore(lab: NetnsLab, tmp_path: Path) -> None:
    hosts = inventory(lab, tmp_path)

    def link(**extra: object) -> PlaybookRun:
        return run_playbook(PLAYBOOKS / "link.yml", tmp_path, inventory=hosts, extra_vars=extra,
                            prefix=lab.prefix("ctl"), timeout=300)

    refuse = link(link_state="down", link_mode="refuse")
    assert refuse.returncode == 0, failure_text(refuse)
    shown = refuse.results("Show what the link role does on this edge")["edge1"]["msg"]
    assert shown["interface"] == "to-cloud"  # found through `ip route get`, not the default route
    assert shown["ssh_kept_open_for"] == [CTL, CLOUD]  # the control host from SSH_CLIENT
    assert "edgelab_link" in lab.nft_table()
    # Refused at once (a TCP reset reaches the socket), not a timeout.
    assert lab.connect("edge", CLOUD, 6443) == "refused"
    assert lab.connect("edge", CLOUD, 30800) == "refused"
    # SSH from the control host and from the cloud node is not cut.
    assert lab.ssh("ctl").stdout.strip() == "ok"
    assert lab.ssh("cloud").stdout.strip() == "ok"

    again = link(link_state="down", link_mode="refuse")
    assert again.returncode == 0, failure_text(again)
    assert again.stats("edge1")["changed"] == 0, again.changed_tasks()

    # The restore fires link_max_duration_s after the rules are applied: long enough that the
    # checks below (a playbook finishing, three processes started in namespaces) always run
    # before it on a loaded machine (4 s did not: seen 'connected' at load 15).
    blackhole = link(link_state="down", link_mode="blackhole", link_max_duration_s=20)
    assert blackhole.returncode == 0, failure_text(blackhole)
    assert lab.connect("edge", CLOUD, 6443, timeout=2) == "timeout"
    assert lab.ssh("ctl").stdout.strip() == "ok"
    assert lab.ssh("cloud").stdout.strip() == "ok"
    # The automatic restore (a detached timer: there is no systemd here) removes the table.
    deadline = time.monotonic() + 90
    while "edgelab_link" in lab.nft_table():
        assert time.monotonic() < deadline, "the automatic restore did not fire"
        time.sleep(0.5)
    assert lab.connect("edge", CLOUD, 6443) == "connected"


def netem_available(lab: NetnsLab) -> bool:
    probe = lab.exec("edge", "tc", "qdisc", "add", "dev", "to-cloud", "root", "netem", "delay",
                     "1ms", check=False)
    if probe.returncode == 0:
        lab.exec("edge", "tc", "qdisc", "del", "dev", "to-cloud", "root")
    return probe.returncode == 0


def test_link_degrade_uses_netem_or_reports_that_it_is_missing(lab: NetnsLab,
                                                             tmp_path: Path) -> None:
    hosts = inventory(lab, tmp_path)
    run = run_playbook(PLAYBOOKS / "link.yml", tmp_path, inventory=hosts, prefix=lab.prefix("ctl"),
                       extra_vars={"link_state": "degrade", "link_latency_ms": 50}, timeout=300)
    if netem_available(lab):
        assert run.returncode == 0, failure_text(run)
        assert "netem 30:" in lab.exec("edge", "tc", "qdisc", "show", "dev", "to-cloud").stdout
        assert lab.ssh("ctl").stdout.strip() == "ok"
    else:
        # This kernel has no sch_netem (checked above with a real `tc qdisc add … netem`): the
        # role must fail loudly on the edge rather than report a degraded link it did not make.
        assert run.returncode != 0
        (failed,) = run.results("Explain why the link could not be degraded").values()
        assert "The kernel has no sch_netem qdisc" in failed["msg"]
        assert "Specified qdisc kind is unknown" in failed["msg"]
        assert "qdisc prio 1:" not in lab.exec("edge", "tc", "qdisc", "show", "dev",
                                               "to-cloud").stdout  # nothing half-made left
        assert lab.ssh("ctl").stdout.strip() == "ok"
