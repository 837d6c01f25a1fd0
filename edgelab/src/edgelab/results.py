"""Writing experiment results: tidy tables as CSV, summaries as JSON, in one directory per run."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def timestamped_dir(base: Path, name: str) -> Path:
    """`<base>/<name>-YYYYmmdd-HHMMSS` (not created)."""
    return Path(base) / f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


def jsonable(value: Any) -> Any:
    """`value` with numpy scalars, paths and non-finite floats made JSON-safe."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):
        return jsonable(value.item())
    if isinstance(value, str | int | bool) or value is None:
        return value
    return str(value)


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(data), indent=2) + "\n")
    return path


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path
