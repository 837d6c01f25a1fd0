"""Turn a notebook run (its results.json, its error, leftover processes) into check outcomes."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgelab.labcheck.grading import Graded, Prediction
from edgelab.notebook.results import FAILED, PASSED, SKIPPED, load_results

EXECUTED = "notebook ran to the end"
CLEAN = "no processes left behind"
RESTORED = "cells restored from the reference"


@dataclass(frozen=True)
class DeclaredCheck:
    name: str
    hint: str = ""
    success: str = ""


@dataclass
class CheckOutcome:
    notebook: str
    name: str
    status: str
    message: str = ""
    hint: str = ""
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAILED


@dataclass
class NotebookRun:
    """Everything the report needs about one executed notebook."""

    stem: str
    source: Path
    out_dir: Path
    executed: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0
    leftovers: list[str] = field(default_factory=list)
    leftovers_expected: bool = False
    html: Path | None = None
    checks: list[CheckOutcome] = field(default_factory=list)
    checks_from: Path | None = None  # the reference notebook the checks are declared in
    lang: str = "en"
    predictions: list[Prediction] = field(default_factory=list)
    reflections: list[tuple[str, str]] = field(default_factory=list)  # (question, answer)
    restored: list[str] = field(default_factory=list)  # cells the student's copy changed
    extra: list[str] = field(default_factory=list)  # cells only in the student's copy
    dropped: dict[str, list[str]] = field(default_factory=dict)  # answer statements not run

    @property
    def failed(self) -> bool:
        return any(c.failed for c in self.checks)


def declared_checks(notebook: Path) -> list[DeclaredCheck]:
    """Checks a notebook declares: every ``….check("name", …)`` / ``….skip("name", …)`` call
    with a literal name in its code cells, in order (hints taken when they are literals)."""
    try:
        nb = json.loads(notebook.read_text("utf-8"))
    except (OSError, ValueError):
        return []
    found: dict[str, DeclaredCheck] = {}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if fname not in ("check", "skip") or not isinstance(first, ast.Constant):
                continue
            if not isinstance(first.value, str) or first.value in found:
                continue
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            found[first.value] = DeclaredCheck(
                first.value, hint=_literal(kw.get("hint")), success=_literal(kw.get("success"))
            )
    return list(found.values())


def _literal(node: ast.expr | None) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return ""


def evaluate(run: NotebookRun, graded: list[Graded] | None = None) -> list[CheckOutcome]:
    """Check outcomes for ``run``: declared checks (from the reference notebook when there is
    one), recorded ones, the grader's recomputed and hidden checks, execution, leftovers."""
    results = load_results(run.out_dir) or {}
    recorded = {str(c.get("name")): c for c in results.get("checks", []) if isinstance(c, dict)}
    declared = declared_checks(run.checks_from or run.source)
    declared_names = {d.name for d in declared}
    names = [d.name for d in declared] + [n for n in recorded if n not in declared_names]
    hints = {d.name: d for d in declared}
    outcomes: list[CheckOutcome] = [
        CheckOutcome(
            run.stem,
            EXECUTED,
            FAILED if run.error else PASSED,
            message="" if run.error else f"executed in {run.duration_s:.0f} s",
            hint="Open the executed notebook in the report: the first error is marked in red."
            if run.error
            else "",
            detail=run.error or "",
        )
    ]
    for name in names:
        entry = recorded.get(name)
        decl = hints.get(name, DeclaredCheck(name))
        if entry is None:
            why = (
                f"not reached: {run.error}"
                if run.error
                else "never evaluated: the notebook finished without running this check"
            )
            outcomes.append(CheckOutcome(run.stem, name, FAILED, hint=decl.hint, detail=why))
            continue
        status = str(entry.get("status"))
        if status not in (PASSED, FAILED, SKIPPED):
            status = FAILED
        detail_parts = []
        if entry.get("observed") is not None:
            detail_parts.append(f"observed: {entry['observed']}")
        if entry.get("error"):
            detail_parts.append(str(entry["error"]))
        outcomes.append(
            CheckOutcome(
                run.stem,
                name,
                status,
                message=str(entry.get("success") or ""),
                hint=str(entry.get("hint") or decl.hint),
                detail="; ".join(detail_parts),
            )
        )
    outcomes = _apply_graded(run, outcomes, graded or [])
    if run.restored or run.extra or run.dropped:
        parts = []
        if run.restored:
            parts.append(f"{len(run.restored)} cells differed from the reference and were "
                         f"restored ({', '.join(run.restored[:8])})")
        if run.extra:
            parts.append(f"{len(run.extra)} cells not in the reference were ignored")
        if run.dropped:
            parts.append("answer statements not executed: " + "; ".join(
                f"{k}: {', '.join(v[:3])}" for k, v in run.dropped.items()))
        outcomes.append(CheckOutcome(run.stem, RESTORED, SKIPPED, message=". ".join(parts)))
    if run.leftovers and not run.leftovers_expected:
        outcomes.append(
            CheckOutcome(
                run.stem,
                CLEAN,
                FAILED,
                hint="Teardown did not stop everything; the runner stopped these processes.",
                detail="; ".join(run.leftovers),
            )
        )
    else:
        note = "cleanup=False: processes left running on purpose" if run.leftovers else ""
        outcomes.append(CheckOutcome(run.stem, CLEAN, PASSED, message=note or "teardown ran"))
    return outcomes


def _apply_graded(run: NotebookRun, outcomes: list[CheckOutcome],
                  graded: list[Graded]) -> list[CheckOutcome]:
    """The grader's recomputation replaces the notebook's own verdict; hidden and exercise
    checks are added."""
    by_name = {c.name: c for c in outcomes}
    for g in graded:
        where = f" (recomputed from {g.source})" if g.source else ""
        current = by_name.get(g.name)
        if current is not None:
            if current.status == SKIPPED and g.status != SKIPPED:
                current.message = ""  # e.g. "graded by edgelab check": the grader's verdict now
            if current.status != g.status or g.status == FAILED:
                note = f"{g.detail}{where}" if g.detail else where.strip()
                if current.status != g.status:
                    note = f"notebook said {current.status}, grader: {note}"
                current.detail = "; ".join(p for p in (current.detail, note) if p)
            current.status = g.status
            if g.status == PASSED:
                current.message = current.message or g.message
            continue
        name = f"hidden: {g.name}" if g.hidden else g.name
        outcomes.append(CheckOutcome(
            run.stem, name, g.status, message=(g.message + where) if g.status == PASSED else "",
            hint="" if g.hidden and g.status == FAILED and not g.hint else g.hint,
            detail="" if g.status == PASSED else g.detail))
    return outcomes
