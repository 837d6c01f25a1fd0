"""Parameters for notebook runs: parse ``-p``/``-f`` like papermill, validate everything first.

Every value is checked before a notebook starts (`validate`): its name (a notebook must declare
it), its type, its range and its choices (`SPECS`; a name without a spec must have the type of
its default). All problems are reported at once, in one message; `edgelab check` then exits 2
and runs nothing. A single number given for a list parameter (``-p ttl_s 300`` for notebook 04)
becomes a one-element list.
"""

from __future__ import annotations

import ast
import difflib
import math
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
    return isinstance(value, dict) and key in {k for s in stems for k in (s, base_stem(s))}


def _other_notebook(key: str, value: Any, notebooks: list[NotebookParams]) -> bool:
    """A section for a notebook that is not part of this run (it exists beside the others)."""
    return isinstance(value, dict) and any(
        nb.path is not None and (nb.path.parent / f"{key}.ipynb").is_file() for nb in notebooks
    )


@dataclass(frozen=True)
class Spec:
    """What a parameter may hold. `kind`: int, number, bool, str, list-int, list-number."""

    kind: str
    low: float | None = None  # inclusive
    high: float | None = None  # inclusive
    above: float | None = None  # exclusive lower bound
    choices: tuple[str, ...] = ()
    nullable: bool = False
    meaning: str = ""


_SECONDS_POS = Spec("number", above=0, meaning="seconds")
_SECONDS = Spec("number", low=0, meaning="seconds")
_FRACTION = Spec("number", low=0, high=1, meaning="a fraction between 0 and 1")
_BOOL = Spec("bool")
_PATH = Spec("str", meaning="a path")

SPECS: dict[str, Spec] = {
    "target": Spec("str", choices=("local", "cluster")),
    "kubeconfig": Spec("str", nullable=True, meaning="a path"),
    "inventory": _PATH,
    "lab_dir": _PATH,
    "results_dir": _PATH,
    "edges": Spec("int", low=1, high=20, meaning="how many edge caches"),
    "seed": Spec("int", low=0, high=2**32 - 1),
    "cleanup": _BOOL,
    "probes": Spec("int", low=1, high=10_000),
    "edge": Spec("str", meaning="an edge name such as shop-1"),
    "repeat": Spec("int", low=1, high=10_000),
    "deploy": _BOOL,
    "outage_s": _SECONDS_POS,
    "warmup_s": _SECONDS,
    "after_s": _SECONDS,
    "mode": Spec("str", choices=("refuse", "blackhole")),
    "concurrency": Spec("int", low=1, high=256),
    "write_share": _FRACTION,
    "baseline": _BOOL,
    "max_offline_stale_s": _SECONDS,
    "outbox_max_entries": Spec("int", low=1),
    "min_read_success": _FRACTION,
    "drain_timeout_s": Spec("number", above=0, nullable=True,
                            meaning="seconds (None: derived from the queue and replay rate)"),
    "clerk_rate_per_s": Spec("number", above=0, nullable=True, meaning="requests per second"),
    "restart_phase": _BOOL,
    "lose_outbox": _BOOL,
    "ttl_s": _SECONDS,
    "wan_latency_ms": Spec("number", low=0, high=60_000, meaning="milliseconds"),
    "wan_jitter_ms": Spec("number", low=0, high=60_000, meaning="milliseconds"),
    "wan_loss": Spec("number", low=0, high=0.99, meaning="a packet-loss fraction 0..0.99"),
    "cache_sizes": Spec("list-int", low=1),
    "zipf_s": Spec("list-number", low=0, high=10),
    "requests_per_point": Spec("int", low=1, high=1_000_000),
    "warmup_requests": Spec("int", low=0, high=1_000_000),
    "tolerance": _FRACTION,
    "compare_nginx": _BOOL,
}
# the same name with another shape in one notebook
NOTEBOOK_SPECS: dict[tuple[str, str], Spec] = {
    ("04-cache-performance", "ttl_s"): Spec("list-number", low=0, meaning="seconds"),
    ("04-cache-performance", "wan_latency_ms"): Spec("list-number", low=0, high=60_000,
                                                     meaning="milliseconds"),
}


def _literal(text: Any) -> Any:
    """A default as papermill reports it (source text) → its value (None if not a literal)."""
    if not isinstance(text, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None


def _inferred(default: Any) -> Spec | None:
    value = _literal(default)
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int):
        return Spec("int")
    if isinstance(value, float):
        return Spec("number")
    if isinstance(value, str):
        return Spec("str")
    if isinstance(value, list) and value and all(isinstance(v, int | float) for v in value):
        return Spec("list-number")
    return None


def base_stem(stem: str) -> str:
    """A translation's stem without its language (``04-cache-performance.zh-CN`` →
    ``04-cache-performance``): it takes the same parameters."""
    return stem.split(".", 1)[0]


def spec_for(stem: str, name: str, default: Any = None) -> Spec | None:
    """The spec of `name` in notebook `stem` (explicit, else inferred from the default)."""
    return (NOTEBOOK_SPECS.get((base_stem(stem), name)) or SPECS.get(name)
            or _inferred(default))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(float(value)) else None


def _bounds(name: str, x: float, spec: Spec) -> str | None:
    if spec.above is not None and not x > spec.above:
        return f"{name}: {x:g} must be > {spec.above:g}"
    if spec.low is not None and x < spec.low:
        return f"{name}: {x:g} must be >= {spec.low:g}"
    if spec.high is not None and x > spec.high:
        return f"{name}: {x:g} must be <= {spec.high:g}"
    return None


def check_value(name: str, value: Any, spec: Spec) -> tuple[Any, str | None]:
    """(the value to use, a problem or None)."""
    what = f" ({spec.meaning})" if spec.meaning else ""
    if value is None:
        return value, None if spec.nullable else f"{name}: a value is required{what}"
    if spec.kind == "bool":
        if isinstance(value, bool):
            return value, None
        return value, f"{name}: {value!r} is not True or False"
    if spec.kind == "str":
        if not isinstance(value, str):
            return value, f"{name}: {value!r} is not text{what}"
        if spec.choices and value not in spec.choices:
            close = difflib.get_close_matches(value, spec.choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return value, (f"{name}: {value!r} is not one of "
                           f"{', '.join(spec.choices)}{hint}")
        return value, None
    if spec.kind in ("int", "number"):
        x = _number(value)
        if x is None:
            return value, f"{name}: {value!r} is not a number{what}"
        if spec.kind == "int" and not x.is_integer():
            return value, f"{name}: {value!r} is not a whole number{what}"
        out: Any = int(x) if spec.kind == "int" else value
        return out, _bounds(name, x, spec)
    # lists: a single number is a one-element list
    items = value if isinstance(value, list) else [value]
    if not items:
        return value, f"{name}: the list is empty{what}"
    single = Spec("int" if spec.kind == "list-int" else "number", low=spec.low,
                  high=spec.high, above=spec.above, meaning=spec.meaning)
    cleaned = []
    for item in items:
        one, problem = check_value(name, item, single)
        if problem:
            return value, problem.replace(f"{name}:", f"{name} (list):", 1)
        cleaned.append(one)
    return cleaned, None


def _edge_problem(params: Mapping[str, Any], defaults: Mapping[str, Any]) -> str | None:
    """`edge` must be one of the `edges` shops the notebook starts (local target)."""
    edge = params.get("edge", _literal(defaults.get("edge")))
    edges = params.get("edges", _literal(defaults.get("edges")))
    target = params.get("target", _literal(defaults.get("target")))
    if not isinstance(edge, str) or not isinstance(edges, int) or edges < 1 or target != "local":
        return None
    names = [f"shop-{i}" for i in range(1, edges + 1)]
    if edge not in names:
        return f"edge: {edge!r} is not one of the lab's edges ({', '.join(names)})"
    return None


def validate(nb: NotebookParams, given: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(the values to pass, the problems) for one notebook's parameters."""
    out: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in given.items():
        spec = spec_for(nb.stem, name, nb.defaults.get(name))
        if spec is None:
            out[name] = value
            continue
        cleaned, problem = check_value(name, value, spec)
        out[name] = cleaned
        if problem:
            problems.append(problem)
    if "edge" in nb.names:
        problem = _edge_problem(out, nb.defaults)
        if problem:
            problems.append(problem)
    return out, problems


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
        # a translation (04-cache-performance.zh-CN) takes its original's section too
        section = given.get(nb.stem, given.get(base_stem(nb.stem)))
        if isinstance(section, dict):
            for key, value in section.items():
                if key not in nb.names:
                    unknown.append(f"{nb.stem}.{key}")
                else:
                    per[nb.stem][str(key)] = value
    problems: list[str] = []
    if unknown:
        known = sorted(set().union(*(nb.names for nb in notebooks)))
        close = {u: difflib.get_close_matches(u.rsplit(".", 1)[-1], known, n=1) for u in unknown}
        named = [f"{u} (did you mean {c[0]!r}?)" if c else u for u, c in close.items()]
        problems.append(
            f"unknown parameter{'s' if len(unknown) > 1 else ''}: {', '.join(named)}. "
            f"The notebook{'s declare' if len(notebooks) > 1 else ' declares'}: "
            f"{', '.join(known) or '(nothing)'}"
        )
    seen: set[str] = set()
    for nb in notebooks:
        per[nb.stem], found = validate(nb, per[nb.stem])
        for problem in found:
            if problem not in seen:  # a flat name shared by notebooks: say it once
                seen.add(problem)
                problems.append(problem)
    if problems:
        raise ParameterError(
            ("bad parameter: " if len(problems) == 1 else "bad parameters:\n  ")
            + "\n  ".join(problems)
        )
    return per
