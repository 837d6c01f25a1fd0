"""Rebuild what the grader executes from the reference notebook and the student's answers.

The grader never executes the student's notebook as it is. It takes the reference notebook
(built from ``notebooks/src``) and, cell by cell (by cell id):

- every cell that is not an answer comes from the reference: a deleted, edited or added
  check cell changes nothing;
- a **prediction** cell keeps only plain ``name = <literal>`` assignments of the names the
  reference cell assigns (numbers, strings, None, lists …): no code of the student's runs;
- an **exercise** cell keeps only top-level ``import``s of a few analysis modules and ``def``
  statements without decorators or computed defaults, so defining the student's functions runs
  none of their code; the grader calls them itself, outside the kernel
  (:mod:`edgelab.labcheck.grading`);
- a **reflection** cell (markdown) keeps the student's text, collected into the report.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nbformat

ALLOWED_IMPORTS = frozenset(
    {"math", "statistics", "collections", "itertools", "functools", "typing", "numpy", "pandas",
     "scipy", "dataclasses", "__future__"}
)


@dataclass
class Answer:
    cell_id: str
    kind: str
    source: str  # what the student wrote (or the stub, when the cell is missing)
    executed: str  # what the grader let run in the kernel
    missing: bool = False
    dropped: list[str] = field(default_factory=list)  # statements that were not executed


@dataclass
class Restored:
    notebook: nbformat.NotebookNode
    answers: dict[str, Answer]
    restored: list[str]  # ids of non-answer cells the student's copy changed or deleted
    extra: list[str]  # ids of cells only in the student's copy (dropped)


def answer_kind(cell: Any) -> str | None:
    meta = cell.get("metadata", {}).get("edgelab", {})
    kind = meta.get("answer") if isinstance(meta, dict) else None
    return str(kind) if kind else None


def _assigned_names(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
            if isinstance(t, ast.Name)]


def _filter(source: str, keep: Callable[[ast.stmt, str], str | None],
            sep: str) -> tuple[str, list[str]]:
    """The top-level statements ``keep`` returns code for, joined by ``sep``, and the first
    line of each statement it refused (a cell that does not parse keeps nothing)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return "", [f"syntax error: {exc.msg} (line {exc.lineno})"]
    kept: list[str] = []
    dropped: list[str] = []
    for node in tree.body:
        text = ast.get_source_segment(source, node) or ""
        code = keep(node, text)
        if code is None:
            dropped.append(text.splitlines()[0][:80] if text else type(node).__name__)
        else:
            kept.append(code)
    return sep.join(kept), dropped


def filter_prediction(source: str, allowed: list[str]) -> tuple[str, list[str]]:
    """Only ``name = literal`` for ``allowed`` names; returns (code, dropped statements)."""
    def literal_assignment(node: ast.stmt, _text: str) -> str | None:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            return None
        target = node.targets[0]
        if not (isinstance(target, ast.Name) and target.id in allowed):
            return None
        try:
            value = ast.literal_eval(node.value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
        return f"{target.id} = {value!r}"

    return _filter(source, literal_assignment, "\n")


def filter_exercise(source: str) -> tuple[str, list[str]]:
    """Only imports of :data:`ALLOWED_IMPORTS` and plain ``def``s; returns (code, dropped)."""
    return _filter(source, lambda node, text: text if _safe_statement(node) else None, "\n\n")


def _safe_statement(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import):
        return all(a.name.split(".")[0] in ALLOWED_IMPORTS for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] in ALLOWED_IMPORTS and node.level == 0
    if isinstance(node, ast.FunctionDef):
        args = node.args
        defaults = [*args.defaults, *[d for d in args.kw_defaults if d is not None]]
        annotations = [a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)
                       if a.annotation is not None]
        return (
            not node.decorator_list
            and all(_is_literal(d) for d in defaults)
            # annotations are evaluated at def time too (no `from __future__` in a cell)
            and all(_is_plain_annotation(a) for a in [*annotations, node.returns])
        )
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)  # a docstring


def _is_literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return False
    return True


def _is_plain_annotation(node: ast.expr | None) -> bool:
    if node is None:
        return True
    return all(isinstance(n, ast.Name | ast.Attribute | ast.Subscript | ast.Constant | ast.Load
                          | ast.BinOp | ast.BitOr | ast.Tuple)
               for n in ast.walk(node))


def restore(reference: nbformat.NotebookNode,
            student: nbformat.NotebookNode | None) -> Restored:
    """The notebook to execute: ``reference`` with the student's (filtered) answers."""
    theirs = {c.get("id"): c for c in (student.cells if student is not None else [])}
    out = nbformat.v4.new_notebook()
    out.metadata = nbformat.from_dict(dict(reference.metadata))
    answers: dict[str, Answer] = {}
    restored: list[str] = []
    for ref in reference.cells:
        cid = str(ref.get("id"))
        cell = nbformat.from_dict(dict(ref))
        if hasattr(cell, "outputs"):
            cell.outputs = []
            cell.execution_count = None
        kind = answer_kind(ref)
        mine = theirs.get(cid)
        if kind is None:
            if student is not None and (mine is None or mine.get("source") != ref.source):
                restored.append(cid)
            out.cells.append(cell)
            continue
        given = str(mine.get("source", "")) if mine is not None else ref.source
        if kind == "prediction":
            executed, dropped = filter_prediction(given, _assigned_names(ref.source))
            # names the student did not give keep the reference's (stub: None) values first
            cell.source = ref.source + ("\n# your prediction:\n" + executed if executed else "")
        elif kind == "exercise":
            executed, dropped = filter_exercise(given)
            cell.source = executed or ref.source
        else:  # reflection: markdown, never executed
            executed, dropped = given, []
            cell.source = given
        answers[cid] = Answer(cid, kind, given, executed, missing=mine is None, dropped=dropped)
        out.cells.append(cell)
    ids = {str(c.get("id")) for c in reference.cells}
    extra = [str(k) for k in theirs if str(k) not in ids]
    return Restored(out, answers, restored, extra)
