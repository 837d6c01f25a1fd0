"""A throwaway inventory whose `cloud` and `edge` hosts are this machine (connection: local).

Each host gets its own fixture root (`edgelab_root`), so roles write `<root>/etc/...` instead of
`/etc/...`. The inventory lives in the test's temporary directory, outside playbooks/, with no
group_vars: every default comes from the roles, as for an instructor's inventory kept anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def write_local_inventory(
    tmp: Path,
    *,
    cloud: tuple[str, str] = ("cloud1", "192.0.2.1"),
    more_clouds: tuple[tuple[str, str], ...] = (),
    group_vars: dict[str, Any] | None = None,
    edges: tuple[tuple[str, str], ...] = (("edge1", "192.0.2.11"),),
    host_vars: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Write `tmp/inventory/hosts.yml` and return its path."""
    inventory_dir = tmp / "inventory"
    inventory_dir.mkdir(parents=True, exist_ok=True)

    def host(name: str, address: str) -> dict[str, Any]:
        root = tmp / "roots" / name
        root.mkdir(parents=True, exist_ok=True)
        extra = (host_vars or {}).get(name, {})
        return {"ansible_host": address, "edgelab_root": str(root), **extra}

    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                **(group_vars or {}),
            },
            "children": {
                "cloud": {"hosts": {name: host(name, address)
                                    for name, address in (cloud, *more_clouds)}},
                "edge": {"hosts": {name: host(name, address) for name, address in edges}},
            },
        }
    }
    path = inventory_dir / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


def root_of(tmp: Path, host: str) -> Path:
    """The fixture root of an inventory host."""
    return tmp / "roots" / host
