"""`<lab>/state.json`: which parts of the local lab run where, so any process can find them.

Written atomically (temp file + rename) after every part starts, so a crash half-way through
`up` still leaves enough behind for `down` to clean up. The file holds API tokens, so it is
created with mode 0600.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgelab.process import ProcessRecord

STATE_VERSION = 1


@dataclass(slots=True)
class PartState:
    """One running part: cloud app, an edge cache or a link emulator."""

    name: str
    kind: str  # cloud | edge | link
    host: str
    port: int
    process: ProcessRecord
    data_dir: str = ""
    control_port: int | None = None  # link emulators
    upstream: str = ""  # link emulators: "host:port" of the cloud
    edge: str = ""  # link emulators: the edge they serve
    warehouse: str = ""  # edges: warehouse code (SHOP-1)
    env: dict[str, str] = field(default_factory=dict)  # edges: EDGE_CACHE_* overrides

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.control_port}" if self.control_port else ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["process"] = self.process.to_json()
        data["url"] = self.url
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartState:
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            host=str(data["host"]),
            port=int(data["port"]),
            process=ProcessRecord.from_json(data["process"]),
            data_dir=str(data.get("data_dir", "")),
            control_port=int(data["control_port"]) if data.get("control_port") else None,
            upstream=str(data.get("upstream", "")),
            edge=str(data.get("edge", "")),
            warehouse=str(data.get("warehouse", "")),
            env={str(k): str(v) for k, v in dict(data.get("env") or {}).items()},
        )


@dataclass(slots=True)
class LabState:
    lab_dir: str
    parts: list[PartState] = field(default_factory=list)
    tokens: dict[str, Any] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    complete: bool = False  # every part started and ready

    def part(self, name: str) -> PartState | None:
        return next((p for p in self.parts if p.name == name), None)

    def by_kind(self, kind: str) -> list[PartState]:
        return [p for p in self.parts if p.kind == kind]

    def replace_part(self, part: PartState) -> None:
        self.parts = [p for p in self.parts if p.name != part.name] + [part]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "lab_dir": self.lab_dir,
            "started_at": self.started_at,
            "complete": self.complete,
            "parts": [p.to_json() for p in self.parts],
            "tokens": self.tokens,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabState:
        return cls(
            lab_dir=str(data["lab_dir"]),
            parts=[PartState.from_json(p) for p in data.get("parts", [])],
            tokens=dict(data.get("tokens") or {}),
            started_at=float(data.get("started_at", 0.0)),
            complete=bool(data.get("complete", False)),
        )


def state_path(lab_dir: Path) -> Path:
    return lab_dir / "state.json"


def load_state(lab_dir: Path) -> LabState | None:
    """The lab's state, or None when there is none (or it is unreadable)."""
    path = state_path(lab_dir)
    try:
        return LabState.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_state(lab_dir: Path, state: LabState) -> None:
    path = state_path(lab_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".state.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(state.to_json(), fh, indent=2)
    tmp.replace(path)


def remove_state(lab_dir: Path) -> None:
    state_path(lab_dir).unlink(missing_ok=True)


def find_labs(root: Path, depth: int = 4) -> list[Path]:
    """Every lab directory (one holding `state.json`) at most `depth` levels below `root`
    (`edgelab up`, the notebooks, `edgelab check` runs and cache sweeps all start theirs
    there), sorted."""
    found: list[Path] = []
    if not root.is_dir():
        return found
    for level in range(depth + 1):
        pattern = "/".join(["*"] * level + ["state.json"]) if level else "state.json"
        found.extend(p.parent for p in root.glob(pattern) if p.is_file())
    return sorted({p.resolve() for p in found})
