"""Turn the values a notebook records (numpy, pandas, paths, dataclasses …) into plain JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any

JSONValue = None | bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"]


def to_jsonable(value: Any) -> JSONValue:
    """Convert ``value`` recursively to something ``json.dumps`` accepts (NaN/inf become None)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return to_jsonable(float(value))
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    converted = _convert_scientific(value)
    if converted is not _NOT_CONVERTED:
        return converted
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [to_jsonable(v) for v in items]
    for attr in ("to_dict", "model_dump", "_asdict"):
        method = getattr(value, attr, None)
        if callable(method):
            return to_jsonable(method())
    return str(value)


_NOT_CONVERTED = object()


def _convert_scientific(value: Any) -> Any:
    """numpy and pandas values, without importing either unless the value comes from them."""
    module = type(value).__module__
    if module.startswith("numpy"):
        import numpy as np

        if isinstance(value, np.ndarray):
            return [to_jsonable(v) for v in value.tolist()]
        if isinstance(value, np.generic):
            return to_jsonable(value.item())
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            return [to_jsonable(row) for row in value.to_dict(orient="records")]
        if isinstance(value, pd.Series):
            return {str(k): to_jsonable(v) for k, v in value.to_dict().items()}
        if isinstance(value, pd.Timestamp):
            return None if pd.isna(value) else value.isoformat()
        if isinstance(value, pd.Timedelta):
            return None if pd.isna(value) else value.total_seconds()
        if value is pd.NaT or value is pd.NA:
            return None
    return _NOT_CONVERTED
