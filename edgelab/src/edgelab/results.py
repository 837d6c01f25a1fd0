"""Experiment results: one directory per run, tidy tables in it as CSV (JSON summaries:
`edgelab.jsonio.write_json`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def timestamped_dir(base: Path, name: str) -> Path:
    """`<base>/<name>-YYYYmmdd-HHMMSS` (not created)."""
    return Path(base) / f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path

