"""The one JSON helper of edgelab: NaN/inf-safe conversion, text, files (written atomically).

`jsonable` turns what experiments, notebooks and the CLI hold (numpy/pandas values, paths,
dates, enums, dataclasses) into plain JSON values, NaN and ±inf becoming null, so every file
and every ``--json`` output is strict JSON that any parser reads.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

JSONValue = None | bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"]


def jsonable(value: Any) -> JSONValue:
    """``value`` made JSON-safe, recursively: numpy/pandas values (a DataFrame becomes a list of
    records), paths, dates, enums, dataclasses; NaN and ±inf become None."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    converted = _convert_scientific(value)  # first: pandas' NaT is a datetime too
    if converted is not _NOT_CONVERTED:
        return converted
    if isinstance(value, Decimal):
        return jsonable(float(value))
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [jsonable(v) for v in items]
    for attr in ("to_dict", "model_dump", "_asdict"):
        method = getattr(value, attr, None)
        if callable(method):
            return jsonable(method())
    return str(value)


_NOT_CONVERTED = object()


def _convert_scientific(value: Any) -> Any:
    """numpy and pandas values, without importing either unless the value comes from them."""
    module = type(value).__module__
    if module.startswith("numpy"):
        import numpy as np

        if isinstance(value, np.ndarray):
            return [jsonable(v) for v in value.tolist()]
        if isinstance(value, np.generic):
            return jsonable(value.item())
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            return [jsonable(row) for row in value.to_dict(orient="records")]
        if isinstance(value, pd.Series):
            return {str(k): jsonable(v) for k, v in value.to_dict().items()}
        if isinstance(value, pd.Timestamp):
            return None if pd.isna(value) else value.isoformat()
        if isinstance(value, pd.Timedelta):
            return None if pd.isna(value) else value.total_seconds()
        if value is pd.NaT or value is pd.NA:
            return None
    return _NOT_CONVERTED


def dumps(data: Any, *, indent: int | None = 2) -> str:
    """``data`` as strict JSON text (UTF-8 characters kept, no NaN)."""
    return json.dumps(jsonable(data), indent=indent, ensure_ascii=False, allow_nan=False)


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` to ``path`` atomically (a reader never sees half a file); returns it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dumps(data) + "\n", "utf-8")
    os.replace(tmp, path)
    return path


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when the file is missing, broken or not an object."""
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
