"""`AnsibleLink`: the `Link` interface on a real edge node, through `playbooks/link.yml`.

The playbook (the `link` role) cuts the edge node's link to the cloud node with nftables
(`down`: refuse = reject with TCP reset, blackhole = drop) or shapes it with tc netem
(`degrade`) on the edge's interface towards the cloud, and lifts everything on `up`.

Parameter mapping (the `Link` API → the role's variables): the emulator adds `latency_ms`
in each direction, while netem on the edge delays only what the edge sends, so the role gets
twice the latency and jitter (the same added round trip); `loss` is a fraction here and a
percentage in the role; no rate limit is ``link_rate_kbit: 0``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from edgelab.link.base import LinkError, LinkState, validate_degrade, validate_mode

PLAYBOOK = "link.yml"


def inventory_hosts(inventory: Path, group: str = "edge") -> set[str] | None:
    """Host names in `group` of a YAML inventory; None when the inventory is not YAML."""
    if inventory.is_dir() or inventory.suffix not in (".yml", ".yaml"):
        return None
    data = yaml.safe_load(inventory.read_text()) or {}
    found: set[str] = set()

    def walk(node: Any, inside: bool) -> None:
        if not isinstance(node, Mapping):
            return
        hosts = node.get("hosts")
        if inside and isinstance(hosts, Mapping):
            found.update(str(h) for h in hosts)
        children = node.get("children")
        if isinstance(children, Mapping):
            for name, child in children.items():
                walk(child, inside or name == group)

    if isinstance(data, Mapping):
        for name, node in data.items():
            walk(node, name == group)
    return found


def link_extravars(
    state: str,
    mode: str = "refuse",
    latency_ms: float = 0,
    jitter_ms: float = 0,
    loss: float = 0.0,
    rate_kbit: float | None = None,
    max_duration_s: int | None = None,
) -> dict[str, Any]:
    """The `link` role's variables for one change (validated; see the module docstring)."""
    if state not in ("up", "down", "degrade"):
        raise ValueError(f"unknown link state {state!r}; expected up, down or degrade")
    checked_mode = validate_mode(mode)
    latency, jitter, loss_f, rate = validate_degrade(latency_ms, jitter_ms, loss, rate_kbit)
    extravars: dict[str, Any] = {
        "link_state": state,
        "link_mode": checked_mode,
        "link_latency_ms": round(2 * latency, 3),
        "link_jitter_ms": round(2 * jitter, 3),
        "link_loss": round(loss_f * 100.0, 4),
        "link_rate_kbit": 0 if rate is None else round(rate),
    }
    if max_duration_s is not None:
        if max_duration_s < 0:
            raise ValueError(f"max_duration_s must be >= 0, got {max_duration_s}")
        extravars["link_max_duration_s"] = int(max_duration_s)
    return extravars


def run_playbook(kwargs: Mapping[str, Any], run: Callable[..., Any] | None = None) -> str | None:
    """Run `ansible_runner.run(**kwargs)` (or `run`, a stand-in with the same signature).

    None when the play succeeded; otherwise why, for the caller's error:
    ``ended <status> (rc=<rc>): <the last 1,500 characters of its output>``.
    """
    if run is None:
        import ansible_runner

        run = ansible_runner.run
    result = run(**kwargs)
    status, rc = getattr(result, "status", None), getattr(result, "rc", None)
    if status == "successful" and rc == 0:
        return None
    tail = ""
    stdout = getattr(result, "stdout", None)
    if stdout is not None:
        try:
            tail = stdout.read()[-1500:]
        except (OSError, ValueError):
            tail = ""
    return f"ended {status} (rc={rc}): {tail.strip()}"


def runner_kwargs(
    edge_name: str,
    inventory: str | Path,
    playbook_dir: str | Path,
    extravars: Mapping[str, Any],
    private_data_dir: str | Path,
    *,
    check_edge: bool = True,
    check_mode: bool = False,
    quiet: bool = True,
) -> dict[str, Any]:
    """Keyword arguments for `ansible_runner.run(...)` running `link.yml` on one edge.

    Raises `FileNotFoundError` for a missing inventory or playbook and `ValueError` for an
    edge the (YAML) inventory does not list in group ``edge``.
    """
    inventory_path = Path(inventory)
    playbook_path = Path(playbook_dir)
    if not inventory_path.exists():
        raise FileNotFoundError(f"Ansible inventory not found: {inventory_path}")
    if not (playbook_path / PLAYBOOK).is_file():
        raise FileNotFoundError(f"{PLAYBOOK} not found in playbook directory {playbook_path}")
    if check_edge:
        hosts = inventory_hosts(inventory_path)
        if hosts is not None and edge_name not in hosts:
            known = ", ".join(sorted(hosts)) or "none"
            raise ValueError(
                f"unknown edge {edge_name!r}: not in group 'edge' of {inventory_path} "
                f"(edges: {known})"
            )
    envvars: dict[str, str] = {}
    # The repository keeps ansible.cfg at its root, beside playbooks/; a copy next to the
    # playbooks wins.
    for config in (playbook_path / "ansible.cfg", playbook_path.parent / "ansible.cfg"):
        if config.is_file():
            envvars["ANSIBLE_CONFIG"] = str(config.resolve())
            break
    kwargs: dict[str, Any] = {
        "private_data_dir": str(private_data_dir),
        "project_dir": str(playbook_path.resolve()),
        "playbook": PLAYBOOK,
        "inventory": str(inventory_path.resolve()),
        "limit": edge_name,
        "extravars": dict(extravars),
        "envvars": envvars,
        "quiet": quiet,
    }
    if check_mode:
        kwargs["cmdline"] = "--check"
    return kwargs


def find_playbook_dir(inventory: str | Path) -> Path | None:
    """The nearest directory holding `link.yml` among the inventory's parents (or their
    ``playbooks/`` subdirectory), e.g. ``playbooks/`` for ``playbooks/inventory/lab-vms.yml``."""
    start = Path(inventory).resolve()
    for base in start.parents:
        for candidate in (base, base / "playbooks"):
            if (candidate / PLAYBOOK).is_file():
                return candidate
    return None


class AnsibleLink:
    """Controls one edge node's WAN link by running `playbooks/link.yml` (ansible-runner).

    `playbook_dir` defaults to the nearest directory with `link.yml` above the inventory.
    `state()` is the last state this object set (the role keeps no queryable state).
    `max_duration_s` is the role's safety net: a `down`/`degrade` is lifted after it.
    `role_vars` are extra role variables for every run (e.g. ``link_interface``);
    `check_mode=True` runs ``ansible-playbook --check`` (shows what it would do, changes nothing).
    """

    def __init__(
        self,
        edge_name: str,
        inventory: str | Path,
        playbook_dir: str | Path | None = None,
        *,
        private_data_dir: str | Path | None = None,
        max_duration_s: int | None = None,
        role_vars: Mapping[str, Any] | None = None,
        check_mode: bool = False,
        run: Callable[..., Any] | None = None,
        timeout_s: int = 300,
    ) -> None:
        self.edge_name = edge_name
        self.inventory = Path(inventory)
        if playbook_dir is None:
            found = find_playbook_dir(self.inventory)
            if found is None:
                raise FileNotFoundError(
                    f"no {PLAYBOOK} found above the inventory {self.inventory}; "
                    "pass playbook_dir (the repository's playbooks/ directory)"
                )
            playbook_dir = found
        self.playbook_dir = Path(playbook_dir)
        self.max_duration_s = max_duration_s
        self.timeout_s = timeout_s
        self.role_vars = dict(role_vars or {})
        self.check_mode = check_mode
        self._private = Path(private_data_dir) if private_data_dir else None
        self._run = run
        self._state = LinkState()
        # Fail early, with the same clear messages as a run would give.
        runner_kwargs(edge_name, self.inventory, self.playbook_dir, {}, ".")

    def __repr__(self) -> str:
        return f"AnsibleLink({self.edge_name!r}, {str(self.inventory)!r})"

    def _apply(self, extravars: dict[str, Any], new: LinkState) -> LinkState:
        private = self._private or Path(tempfile.mkdtemp(prefix="edgelab-ansible-"))
        private.mkdir(parents=True, exist_ok=True)
        kwargs = runner_kwargs(
            self.edge_name,
            self.inventory,
            self.playbook_dir,
            {**self.role_vars, **extravars},
            private,
            check_mode=self.check_mode,
        )
        kwargs["timeout"] = self.timeout_s
        failure = run_playbook(kwargs, self._run)
        if failure is not None:
            raise LinkError(
                f"link.yml on {self.edge_name} {failure} "
                f"(link_state={extravars['link_state']})"
            )
        self._state = new
        return new

    def up(self) -> LinkState:
        return self._apply(link_extravars("up"), LinkState(state="up", since=time.time()))

    def down(self, mode: str = "refuse") -> LinkState:
        checked = validate_mode(mode)
        extravars = link_extravars("down", checked, max_duration_s=self.max_duration_s)
        return self._apply(extravars, LinkState(state="down", mode=checked, since=time.time()))

    def degrade(
        self,
        latency_ms: float = 0,
        jitter_ms: float = 0,
        loss: float = 0.0,
        rate_kbit: float | None = None,
    ) -> LinkState:
        latency, jitter, loss_f, rate = validate_degrade(latency_ms, jitter_ms, loss, rate_kbit)
        if latency == 0 and jitter == 0 and loss_f == 0 and rate is None:
            return self.up()
        extravars = link_extravars(
            "degrade",
            latency_ms=latency,
            jitter_ms=jitter,
            loss=loss_f,
            rate_kbit=rate,
            max_duration_s=self.max_duration_s,
        )
        new = LinkState(
            state="degraded",
            latency_ms=latency,
            jitter_ms=jitter,
            loss=loss_f,
            rate_kbit=rate,
            since=time.time(),
        )
        return self._apply(extravars, new)

    def state(self) -> LinkState:
        return self._state
