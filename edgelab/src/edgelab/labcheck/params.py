"""Parameters for notebook runs: parse ``-p``/``-f`` like papermill, validate names first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class ParameterError(ValueError):
    """Bad parameters (unknown names, unreadable files): reported before anything runs."""


def parse_value(text: str) -> Any:
    """A ``-p`` value: True/False/None, int, float as papermill does; lists/maps via YAML."""
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(loaded, list | dict | bool | int | float):
        return loaded
    return text


def load_params_file(path: str | Path) -> dict[str, Any]:
    """A YAML mapping of parameters; values that are maps keyed by a notebook name apply only
    to that notebook (see :func:`params_for`)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text("utf-8"))
    except OSError as exc:
        raise ParameterError(f"cannot read parameter file {p}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ParameterError(f"parameter file {p} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"parameter file {p} must hold a mapping of name: value")
    return {str(k): v for k, v in data.items()}


@dataclass(frozen=True)
class NotebookParams:
    """The parameters a notebook declares in its ``parameters`` cell."""

    stem: str
    names: frozenset[str]
    defaults: Mapping[str, Any]
    path: Path | None = None


def inspect_params(path: Path) -> NotebookParams:
    """Parameter names and defaults from the notebook's tagged ``parameters`` cell."""
    import papermill

    try:
        info = papermill.inspect_notebook(str(path))
    except Exception as exc:
        raise ParameterError(f"cannot read the parameters of {path}: {exc}") from exc
    defaults = {name: spec.get("default") for name, spec in info.items()}
    return NotebookParams(stem=path.stem, names=frozenset(info), defaults=defaults, path=path)


def _is_notebook_section(key: str, value: Any, stems: Iterable[str]) -> bool:
    return isinstance(value, dict) and key in set(stems)


def _other_notebook(key: str, value: Any, notebooks: list[NotebookParams]) -> bool:
    """A section for a notebook that is not part of this run (it exists beside the others)."""
    return isinstance(value, dict) and any(
        nb.path is not None and (nb.path.parent / f"{key}.ipynb").is_file() for nb in notebooks
    )


def params_for(
    notebooks: list[NotebookParams], given: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Split ``given`` into per-notebook parameters and reject names no notebook declares.

    A flat name goes to every notebook that declares it; it is an error only when none does.
    A key equal to a notebook's stem with a mapping value holds parameters for that notebook
    alone, and every name in it must be declared by that notebook. A section for a notebook
    that exists beside the selected ones but is not run now is ignored.
    """
    stems = [nb.stem for nb in notebooks]
    per: dict[str, dict[str, Any]] = {nb.stem: {} for nb in notebooks}
    unknown: list[str] = []
    for key, value in given.items():
        if _is_notebook_section(key, value, stems) or _other_notebook(key, value, notebooks):
            continue
        holders = [nb for nb in notebooks if key in nb.names]
        if not holders:
            unknown.append(key)
        for nb in holders:
            per[nb.stem][key] = value
    for nb in notebooks:
        section = given.get(nb.stem)
        if isinstance(section, dict):
            for key, value in section.items():
                if key not in nb.names:
                    unknown.append(f"{nb.stem}.{key}")
                else:
                    per[nb.stem][str(key)] = value
    if unknown:
        known = sorted(set().union(*(nb.names for nb in notebooks)))
        raise ParameterError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
            f"The notebook{'s declare' if len(notebooks) > 1 else ' declares'}: "
            f"{', '.join(known) or '(nothing)'}"
        )
    return per
