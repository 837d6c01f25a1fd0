"""Both images built for real by images.yml with Debian's `buildah build --isolation chroot`,
from a base image made here (a debootstrap of Debian bookworm with its python3, imported into a
private buildah store) passed as the BASE_IMAGE build argument; then each image's command runs
(`buildah run`, as the image's non-root user) and answers the image's own HEALTHCHECK.

Slow (marker `slow`, still part of `make test`): measured on a loaded 2-core machine, the
debootstrap takes about 3.5 min (cached under ~/.cache/edgelab/image-base/, one tarball a
day) and the two builds about 2 min each (pip installs from PyPI). What it stands in for:
the python:3.11-slim base from Docker Hub (unreachable here); the saved tarball and the import
into containerd on the nodes (podman/ctr with a running containerd) are not exercised
(images_save=false).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.playbooks.ansible_run import PLAYBOOKS, failure_text, run_playbook
from tests.support.ports import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("buildah") is None or shutil.which("debootstrap") is None,
                       reason="needs Debian's buildah and debootstrap (install-system-deps)"),
]
BASE_IMAGE = "localhost/edgelab-base:bookworm"
# A cache outside the checkout (like pip's), so fresh clones on one machine share the base
# made today; a new machine makes it once.
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgelab" / "image-base"


def debian_mirror() -> str:
    """The Debian archive this machine's apt uses (its sources), so debootstrap fetches from
    the same place as `apt-get install` and needs no other host."""
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("URIs:"):
                for uri in line.split()[1:]:
                    if uri.rstrip("/").endswith("/debian"):
                        return uri
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if len(words) >= 3 and words[0] == "deb" and words[1].rstrip("/").endswith("/debian"):
                return words[1]
    raise AssertionError("no Debian archive in this machine's apt sources")


def base_tarball() -> Path:
    """debootstrap of bookworm with python3 + pip, cached per day (see CACHE)."""
    today = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d")
    tarball = CACHE / f"bookworm-python3-{today}.tar"
    if tarball.exists():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    rootfs = CACHE / f"rootfs-{os.getpid()}"
    try:
        subprocess.run(
            ["debootstrap", "--variant=minbase",
             "--include=python3,python3-pip,python-is-python3,ca-certificates",
             "bookworm", str(rootfs), debian_mirror()],
            check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=1200)
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(rootfs), "--exclude=./var/cache/apt/archives/*.deb",
                        "-cf", str(partial), "."], check=True, stdin=subprocess.DEVNULL,
                       timeout=600)
        partial.rename(tarball)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    for old in CACHE.glob("bookworm-python3-*.tar"):
        if old != tarball:
            old.unlink()
    return tarball


@pytest.fixture
def buildah_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private buildah store (vfs) in the test's directory, with the base image in it."""
    storage = tmp_path / "storage.conf"
    storage.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{tmp_path}/graph"\n'
                       f'runroot = "{tmp_path}/run"\n')
    env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(storage)}

    def buildah(*argv: str) -> str:
        return subprocess.run(["buildah", *argv], env=env, check=True, capture_output=True,
                              stdin=subprocess.DEVNULL, text=True, timeout=600).stdout.strip()

    container = buildah("from", "scratch")
    buildah("add", container, str(base_tarball()), "/")
    # This machine reaches PyPI through a TLS-inspecting proxy: the base trusts what the host
    # trusts (on an ordinary machine this is the same Debian bundle).
    buildah("copy", container, "/etc/ssl/certs/ca-certificates.crt",
            "/etc/ssl/certs/ca-certificates.crt")
    # Debian's pip refuses system-wide installs (PEP 668); python:3.11-slim has no such marker.
    buildah("config", "--env", "PIP_BREAK_SYSTEM_PACKAGES=1", container)
    buildah("commit", "-q", container, BASE_IMAGE)
    yield env
    subprocess.run(["buildah", "rm", "--all"], env=env, capture_output=True, timeout=120,
                   stdin=subprocess.DEVNULL, check=False)


def test_images_build_and_answer_their_health_checks(tmp_path: Path,
                                                     buildah_env: dict[str, str]) -> None:
    inventory = tmp_path / "hosts.yml"
    local = {"ansible_connection": "local",
             "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    inventory.write_text(yaml.safe_dump({"all": {
        "hosts": {"localhost": local},
        "children": {"cloud": {"hosts": {}}, "edge": {"hosts": {}}}}}))
    run = run_playbook(PLAYBOOKS / "images.yml", tmp_path, inventory=inventory, timeout=1800,
                       args=["-l", "localhost"],
                       env={"CONTAINERS_STORAGE_CONF": buildah_env["CONTAINERS_STORAGE_CONF"]},
                       extra_vars={"images_archs": ["amd64"], "images_save": False,
                                   "images_base_image": BASE_IMAGE,
                                   "airgap_dir": str(tmp_path / "airgap")})
    assert run.returncode == 0, failure_text(run)
    assert run.results("Find an image builder (docker buildx, nerdctl or buildah)")[
        "localhost"]["stdout"] == "buildah"

    port = free_port()
    for image, env in (
        ("edgelab/inventory-app:0.1.0",
         {"INVENTORY_HOST": "127.0.0.1", "INVENTORY_PORT": str(port)}),
        ("edgelab/edge-cache:0.1.0",
         {"EDGE_CACHE_HOST": "127.0.0.1", "EDGE_CACHE_PORT": str(port),
          "EDGE_CACHE_ORIGIN": f"http://127.0.0.1:{free_port()}"}),
    ):
        check_image(f"localhost/{image}", env, buildah_env)


def check_image(image: str, env: dict[str, str], buildah_env: dict[str, str]) -> None:
    def buildah(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # stdin never inherited: `buildah run` attaches it (under xdist: the worker's channel).
        return subprocess.run(["buildah", *argv], env=buildah_env, check=check,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=120)

    config = json.loads(buildah("inspect", "--type", "image", image).stdout)["Docker"]["config"]
    assert config["User"] not in ("", "root", "0")
    health = config["Healthcheck"]["Test"]
    assert health[0] == "CMD"
    command = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
    container = buildah("from", image).stdout.strip()
    env_args = [a for k, v in env.items() for a in ("--env", f"{k}={v}")]
    assert buildah("run", "--isolation", "chroot", *env_args, container, "--", "id", "-u"
                   ).stdout.strip() == "10001"
    server = subprocess.Popen(["buildah", "run", "--isolation", "chroot", *env_args, container,
                               "--", *command], env=buildah_env, start_new_session=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while True:
            probe = buildah("run", "--isolation", "chroot", *env_args, container, "--",
                            *health[1:], check=False)
            if probe.returncode == 0:
                break
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, probe.stderr
            time.sleep(1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
