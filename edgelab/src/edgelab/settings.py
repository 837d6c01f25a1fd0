"""EdgeLab settings: one object, read from `EDGELAB_*` environment variables.

| variable | default | meaning |
|---|---|---|
| `EDGELAB_LAB_DIR` | `./build/lab/local` | the local lab's data, logs, pid files, `state.json` |
| `EDGELAB_RESULTS_DIR` | `./build/results` | where experiments write CSV/JSON/PNG |
| `EDGELAB_HOST` | `127.0.0.1` | address every local part listens on (loopback only) |
| `EDGELAB_EDGES` | `2` | number of edge caches (`shop-1`, `shop-2`, …) |
| `EDGELAB_APP_PORT` | `8000` | cloud app port (0 = any free port) |
| `EDGELAB_EDGE_PORT` | `8080` | first edge-cache port (edge *n* gets base + n - 1) |
| `EDGELAB_LINK_PORT` | `9000` | first link-emulator listen port |
| `EDGELAB_LINK_CONTROL_PORT` | `9100` | first link-emulator control port |
| `EDGELAB_STRICT_PORTS` | `0` | `1`: a port in use is an error, not "take the next free one" |
| `EDGELAB_READY_TIMEOUT_S` | `60` | deadline for every part to answer its readiness check |
| `EDGELAB_STOP_TIMEOUT_S` | `10` | SIGTERM → SIGKILL grace period |
| `EDGELAB_TARGET` | `local` | `local` or `cluster` |
| `EDGELAB_KUBECONFIG` | `~/.kube/config` | kubeconfig of the cluster target |
| `EDGELAB_INVENTORY` | `playbooks/inventory/hosts.yml` | Ansible inventory of the cluster target |
| `EDGELAB_SEED` | `42` | default seed of the experiments |
| `EDGELAB_DEMO_DAYS` | `21` | days of demo history `edgelab up`/`seed` loads |
| `EDGELAB_DEMO_PRODUCTS` | `300` | products in the demo catalogue |
| `EDGELAB_DEBUG` | unset | `1`: the CLI shows tracebacks instead of one-line errors |

The default lab directory is the notebooks' default `lab_dir` (`../build/lab/local` seen from
`notebooks/`): `edgelab up/status/down` and the notebooks find the same lab.
Setting any of the port variables implies strict ports: an explicitly chosen port that is in use
is reported, never silently replaced. Relative paths are relative to the current directory (run
`edgelab` from the repository root, as `make` does).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_LAB_DIR = "build/lab/local"  # = the notebooks' default lab_dir ("../build/lab/local")
LABS_ROOT = "build/lab"  # every lab the CLI, the notebooks and `edgelab check` start lives below


class SettingsError(ValueError):
    """An `EDGELAB_*` variable has a value that cannot be used."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not an integer") from exc
    if value < minimum:
        raise SettingsError(f"{name}={value} must be >= {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a number") from exc
    if value <= 0:
        raise SettingsError(f"{name}={value} must be > 0")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


_PORT_VARS = ("EDGELAB_APP_PORT", "EDGELAB_EDGE_PORT", "EDGELAB_LINK_PORT",
              "EDGELAB_LINK_CONTROL_PORT")


@dataclass(frozen=True, slots=True)
class LabSettings:
    """Everything configurable about the lab kit; build with `LabSettings.from_env()`."""

    lab_dir: Path = Path(DEFAULT_LAB_DIR)
    results_dir: Path = Path("build/results")
    host: str = "127.0.0.1"
    edges: int = 2
    app_port: int = 8000
    edge_port: int = 8080
    link_port: int = 9000
    link_control_port: int = 9100
    strict_ports: bool = False
    ready_timeout_s: float = 60.0
    stop_timeout_s: float = 10.0
    target: str = "local"
    kubeconfig: Path = field(default_factory=lambda: Path("~/.kube/config").expanduser())
    inventory: Path = Path("playbooks/inventory/hosts.yml")
    seed: int = 42
    demo_days: int = 21
    demo_products: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LabSettings:
        e = os.environ if env is None else env
        target = e.get("EDGELAB_TARGET", "local") or "local"
        if target not in {"local", "cluster"}:
            raise SettingsError(f"EDGELAB_TARGET={target!r} must be 'local' or 'cluster'")
        return cls(
            lab_dir=Path(e.get("EDGELAB_LAB_DIR") or DEFAULT_LAB_DIR),
            results_dir=Path(e.get("EDGELAB_RESULTS_DIR") or "build/results"),
            host=e.get("EDGELAB_HOST") or "127.0.0.1",
            edges=_int(e, "EDGELAB_EDGES", 2, minimum=1),
            app_port=_int(e, "EDGELAB_APP_PORT", 8000),
            edge_port=_int(e, "EDGELAB_EDGE_PORT", 8080),
            link_port=_int(e, "EDGELAB_LINK_PORT", 9000),
            link_control_port=_int(e, "EDGELAB_LINK_CONTROL_PORT", 9100),
            strict_ports=_flag(e, "EDGELAB_STRICT_PORTS")
            or any(e.get(n) for n in _PORT_VARS),
            ready_timeout_s=_float(e, "EDGELAB_READY_TIMEOUT_S", 60.0),
            stop_timeout_s=_float(e, "EDGELAB_STOP_TIMEOUT_S", 10.0),
            target=target,
            kubeconfig=Path(e.get("EDGELAB_KUBECONFIG") or "~/.kube/config").expanduser(),
            inventory=Path(e.get("EDGELAB_INVENTORY") or "playbooks/inventory/hosts.yml"),
            seed=_int(e, "EDGELAB_SEED", 42),
            demo_days=_int(e, "EDGELAB_DEMO_DAYS", 21, minimum=1),
            demo_products=_int(e, "EDGELAB_DEMO_PRODUCTS", 300, minimum=10),
        )

    def with_changes(self, **changes: object) -> LabSettings:
        """A copy with some fields replaced (e.g. from command-line options)."""
        return replace(self, **changes)  # type: ignore[arg-type]
