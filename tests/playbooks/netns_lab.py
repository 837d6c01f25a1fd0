"""A three-namespace network for the link role: control host, edge and cloud, each a network
namespace this test creates (addresses 10.213.x.y exist only inside them), with Debian's real
sshd on the edge (login as an unprivileged user, `become` through real sudo).

Every name a lab makes outside its namespaces (the login user, its sudoers file, its remote
tmp) carries the lab's own suffix, so two labs on one machine (two test runs, two workers)
never remove each other's user or sudo rule.

    ctl 10.213.1.1 --veth-- 10.213.1.2 "to-ctl" EDGE "to-cloud" 10.213.2.2 --veth-- 10.213.2.1 cloud

The edge's default route points at the control host, so the interface towards the cloud can
only be found by asking the kernel about the cloud's address (what the role does).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from edgelab.process import ProcessFailed, wait_until

CTL, EDGE, CLOUD = "10.213.1.1", "10.213.1.2", "10.213.2.1"
EDGE_TO_CLOUD = "10.213.2.2"


def run(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    # stdin is never inherited: under pytest-xdist it is the worker's channel (ssh would read
    # it, and tools that set O_NONBLOCK on it break later Ansible runs).
    return subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, check=check)


@dataclass
class NetnsLab:
    tmp: Path
    ns: dict[str, str]
    key: Path
    remote_tmp: Path
    user: str
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def exec(self, where: str, *argv: str, check: bool = True,
             timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", self.ns[where], *argv, check=check, timeout=timeout)

    def prefix(self, where: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns[where]]

    def connect(self, where: str, host: str, port: int, timeout: float = 3) -> str:
        """'connected', 'refused' or 'timeout' for a TCP connection from a namespace."""
        code = (
            "import socket,sys\n"
            f"s=socket.socket(); s.settimeout({timeout})\n"
            f"try: s.connect(({host!r}, {port})); print('connected')\n"
            "except ConnectionRefusedError: print('refused')\n"
            "except (TimeoutError, socket.timeout): print('timeout')\n"
        )
        return self.exec(where, "python3", "-c", code, timeout=timeout + 20).stdout.strip()

    def ssh(self, where: str, command: str = "echo ok") -> subprocess.CompletedProcess[str]:
        return self.exec(where, "ssh", "-i", str(self.key), "-o", "BatchMode=yes",
                         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                         "-o", "ConnectTimeout=5", f"{self.user}@{EDGE}", command,
                         check=False, timeout=40)

    def nft_table(self) -> str:
        return self.exec("edge", "nft", "list", "table", "inet", "edgelab_link", check=False).stdout


def _create_user(user: str) -> None:
    """A system login user of this lab only. A locked account cannot log in with a key either
    (sshd without PAM), so it is created unlocked without a usable password."""
    run("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
        "--shell", "/bin/sh", "--password", "*", user)


@contextmanager
def netns_lab(tmp: Path) -> Iterator[NetnsLab]:
    suffix = secrets.token_hex(4)
    ns = {"ctl": f"el-ctl-{suffix}", "edge": f"el-edge-{suffix}", "cloud": f"el-cloud-{suffix}"}
    remote_tmp = Path(f"/tmp/edgelab-ssh-{suffix}")
    user = f"el-ssh-{suffix}"
    sudoers = Path(f"/etc/sudoers.d/edgelab-ssh-{suffix}")
    lab = NetnsLab(tmp, ns, tmp / "id_ed25519", remote_tmp, user)
    created_user = False
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        for name in ns.values():
            run("ip", "netns", "add", name)
            run("ip", "-n", name, "link", "set", "lo", "up")
        run("ip", "link", "add", "el-c0", "netns", ns["ctl"], "type", "veth", "peer", "name",
            "to-ctl", "netns", ns["edge"])
        run("ip", "link", "add", "el-k0", "netns", ns["cloud"], "type", "veth", "peer", "name",
            "to-cloud", "netns", ns["edge"])
        for where, dev, addr in (("ctl", "el-c0", CTL), ("edge", "to-ctl", EDGE),
                                 ("edge", "to-cloud", EDGE_TO_CLOUD), ("cloud", "el-k0", CLOUD)):
            run("ip", "-n", ns[where], "addr", "add", f"{addr}/24", "dev", dev)
            run("ip", "-n", ns[where], "link", "set", dev, "up")
        run("ip", "-n", ns["edge"], "route", "add", "default", "via", CTL)
        run("ip", "-n", ns["cloud"], "route", "add", "default", "via", EDGE_TO_CLOUD)

        _create_user(user)
        created_user = True
        sudoers.write_text(f"{user} ALL=(ALL) NOPASSWD: ALL\n")
        sudoers.chmod(0o440)
        uid, gid = pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid
        remote_tmp.mkdir(mode=0o700)
        os.chown(remote_tmp, uid, gid)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(lab.key))
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "host_ed25519"))
        keys = Path(f"{remote_tmp}.keys")
        shutil.copy(f"{lab.key}.pub", keys)
        keys.chmod(0o644)
        config = tmp / "sshd_config"
        config.write_text(
            f"Port 22\nListenAddress {EDGE}\nListenAddress {EDGE_TO_CLOUD}\n"
            f"HostKey {tmp}/host_ed25519\nPidFile {tmp}/sshd.pid\n"
            f"AuthorizedKeysFile {keys}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
            f"KbdInteractiveAuthentication no\nAllowUsers {user}\nPermitRootLogin no\n"
            "Subsystem sftp internal-sftp\n"
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        sshd = subprocess.Popen(["ip", "netns", "exec", ns["edge"], "/usr/sbin/sshd", "-D", "-e",
                                 "-f", str(config)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=(tmp / "sshd.log").open("wb"))
        lab.servers.append(sshd)
        for port in (6443, 30800):
            lab.servers.append(subprocess.Popen(
                ["ip", "netns", "exec", ns["cloud"], "python3", "-c",
                 "import socket,sys\ns=socket.create_server(('0.0.0.0', int(sys.argv[1])))\n"
                 "while True:\n c,_=s.accept(); c.close()\n", str(port)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        try:
            wait_until(lambda: (lab.ssh("ctl").returncode == 0
                                and lab.connect("edge", CLOUD, 6443) == "connected"
                                and lab.connect("edge", CLOUD, 30800) == "connected"),
                       timeout_s=60, interval_s=0.5, what="netns lab")
        except ProcessFailed as exc:
            raise RuntimeError(f"{exc}: {(tmp / 'sshd.log').read_text()}") from exc
        yield lab
    finally:
        for proc in lab.servers:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        # Anything the role left running in the edge namespace (the detached restore timer).
        for name in ns.values():
            pids = run("ip", "netns", "pids", name, check=False).stdout.split()
            for pid in pids:
                with suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 9)
            run("ip", "netns", "del", name, check=False)
        sudoers.unlink(missing_ok=True)
        shutil.rmtree(remote_tmp, ignore_errors=True)
        Path(f"{remote_tmp}.keys").unlink(missing_ok=True)
        if created_user:
            run("userdel", user, check=False)
