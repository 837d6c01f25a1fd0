"""Build the lab notebooks (English and 简体中文, student and reference) from their sources.

A source is a jupytext percent-format script, ``notebooks/src/<stem>.py``. Cell metadata:

- ``id="…"``: the cell's stable id (required, it becomes the notebook cell id). Cells that share
  an id are variants of one cell:
- ``lang="zh-CN"``: the 简体中文 variant (markdown; code cells translate their strings with
  ``_("English", zh="中文")`` instead, so there is one copy of the code);
- ``solution=true``: the reference solution of an answer cell (used by ``make lab`` and the
  grader, never written into the student notebooks);
- ``answer="prediction" | "exercise" | "reflection"``: a cell the student writes;
- ``build="skip"``: only in the source (e.g. the import of ``_`` that keeps ruff happy).

The student notebooks are ``notebooks/<stem>.ipynb`` and ``notebooks/<stem>.zh-CN.ipynb``;
``python -m edgelab.labcheck.sources`` (or ``notebooks/build.py``) rewrites them.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

LANGS = ("en", "zh-CN")
BUILT = LANGS  # languages whose notebooks are stored
ANSWER_KINDS = ("prediction", "exercise", "reflection")
KERNEL = {"name": "edgelab", "display_name": "EdgeLab (Python 3)", "language": "python"}
TRANSLATE = "_"


class SourceError(ValueError):
    """A notebook source is malformed (missing id, duplicate variant, untranslated string)."""


@dataclass(frozen=True)
class Variant:
    cell: Any  # nbformat NotebookNode of one source cell
    lang: str | None
    solution: bool


def repo_root() -> Path:
    """The repository holding ``notebooks/src`` (this checkout, else the working directory)."""
    here = Path(__file__).resolve().parents[4]
    for base in (here, Path.cwd()):
        if (base / "notebooks" / "src").is_dir():
            return base
    return here


def notebooks_dir() -> Path:
    return repo_root() / "notebooks"


def sources() -> list[Path]:
    return sorted((notebooks_dir() / "src").glob("[0-9]*.py"))


def source_for(stem: str) -> Path | None:
    path = notebooks_dir() / "src" / f"{stem}.py"
    return path if path.is_file() else None


def notebook_path(stem: str, lang: str = "en") -> Path:
    suffix = "" if lang == "en" else f".{lang}"
    return notebooks_dir() / f"{stem}{suffix}.ipynb"


def stem_and_lang(path: Path) -> tuple[str, str]:
    """``03-disconnection.zh-CN.ipynb`` → (``03-disconnection``, ``zh-CN``)."""
    name = path.name.removesuffix(".ipynb")
    for lang in LANGS[1:]:
        if name.endswith(f".{lang}"):
            return name.removesuffix(f".{lang}"), lang
    return name, "en"


def _variants(source: Path) -> dict[str, list[Variant]]:
    import jupytext

    nb = jupytext.read(source, fmt="py:percent")
    groups: dict[str, list[Variant]] = {}
    for cell in nb.cells:
        meta = cell.metadata
        if meta.get("build") == "skip":
            continue
        cid = meta.get("id")
        if not cid:
            raise SourceError(f"{source.name}: a cell has no id: {cell.source[:60]!r}")
        lang = meta.get("lang")
        if lang is not None and lang not in LANGS:
            raise SourceError(f"{source.name}: cell {cid}: unknown lang {lang!r}")
        variant = Variant(cell, lang, bool(meta.get("solution")))
        same = [v for v in groups.get(cid, []) if (v.lang, v.solution) == (lang, variant.solution)]
        if same:
            raise SourceError(f"{source.name}: cell {cid} has two {lang or 'en'} variants")
        groups.setdefault(cid, []).append(variant)
    return groups


def _pick(cid: str, variants: list[Variant], lang: str, reference: bool) -> Variant | None:
    def find(want_lang: str | None, solution: bool) -> Variant | None:
        return next((v for v in variants if v.lang == want_lang and v.solution == solution), None)

    code_lang = None if lang == "en" else lang
    order: list[tuple[str | None, bool]] = []
    if reference:
        order += [(code_lang, True), (None, True)]
    order += [(code_lang, False), (None, False)]
    for want_lang, solution in order:
        found = find(want_lang, solution)
        if found is not None:
            return found
    if all(v.solution for v in variants) and not reference:
        return None  # a solution-only cell (e.g. an extra check of the reference run)
    raise SourceError(f"cell {cid}: no variant for {lang}")


def translate(code: str, lang: str, where: str = "") -> str:
    """Replace every ``_("en", zh="…")`` call by the literal of ``lang`` (English: the first
    argument). A missing translation is an error for a language other than English."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise SourceError(f"{where}: {exc}") from exc
    lines = code.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode("utf-8")))
    raw = code.encode("utf-8")
    edits: list[tuple[int, int, bytes]] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if node.func.id != TRANSLATE:
            continue
        if len(node.args) != 1:
            raise SourceError(f"{where}: _() takes one English string and zh=…")
        chosen: ast.expr = node.args[0]
        if lang != "en":
            key = "zh" if lang == "zh-CN" else lang.replace("-", "_")
            given = next((k.value for k in node.keywords if k.arg == key), None)
            if given is None:
                text = ast.get_source_segment(code, node.args[0]) or ""
                raise SourceError(f"{where}: no {lang} translation for {text[:70]}")
            chosen = given
        segment = _segment(raw, offsets, chosen)
        start = offsets[node.lineno - 1] + node.col_offset
        end = offsets[(node.end_lineno or node.lineno) - 1] + (node.end_col_offset or 0)
        edits.append((start, end, segment))
    for start, end, segment in sorted(edits, reverse=True):
        raw = raw[:start] + segment + raw[end:]
    return raw.decode("utf-8")


def _segment(raw: bytes, offsets: list[int], node: ast.expr) -> bytes:
    start = offsets[node.lineno - 1] + node.col_offset
    end = offsets[(node.end_lineno or node.lineno) - 1] + (node.end_col_offset or 0)
    text = raw[start:end]
    if b"\n" in text and not text.lstrip().startswith((b"(", b"[", b"{")):
        text = b"(" + text + b")"  # implicit concatenation over several lines
    return text


def build(source: Path, lang: str = "en", *, reference: bool = False) -> nbformat.NotebookNode:
    """The notebook of ``source`` in ``lang``; ``reference`` puts the solutions in."""
    if lang not in LANGS:
        raise SourceError(f"unknown language {lang!r} (known: {', '.join(LANGS)})")
    stem = source.stem
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNEL)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["edgelab"] = {"notebook": stem, "lang": lang}
    for cid, variants in _variants(source).items():
        chosen = _pick(cid, variants, lang, reference)
        if chosen is None:
            continue
        src = chosen.cell
        text = src.source
        if src.cell_type == "code":
            text = translate(text, lang, where=f"{source.name} cell {cid}")
            cell = nbformat.v4.new_code_cell(text)
        else:
            cell = nbformat.v4.new_markdown_cell(text)
        cell.id = cid
        if src.metadata.get("tags"):
            cell.metadata["tags"] = list(src.metadata["tags"])
        answer = src.metadata.get("answer") or next(
            (v.cell.metadata.get("answer") for v in variants if v.cell.metadata.get("answer")),
            None,
        )
        if answer:
            if answer not in ANSWER_KINDS:
                raise SourceError(f"{source.name} cell {cid}: answer must be one of "
                                  f"{', '.join(ANSWER_KINDS)}")
            cell.metadata["edgelab"] = {"answer": answer}
        nb.cells.append(cell)
    return nb


def render(source: Path, lang: str = "en") -> str:
    """The stored (student) notebook's text."""
    return nbformat.writes(build(source, lang)) + "\n"


def write_all(check: bool = False) -> list[Path]:
    """Write every student notebook; with ``check`` only list the ones that differ."""
    stale: list[Path] = []
    for source in sources():
        for lang in BUILT:
            path = notebook_path(source.stem, lang)
            text = render(source, lang)
            current = path.read_text("utf-8") if path.exists() else None
            if current != text:
                stale.append(path)
                if not check:
                    path.write_text(text, "utf-8")
    return stale


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    try:
        stale = write_all(check=check)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in stale:
        print(f"{'differs' if check else 'wrote'}: {path.relative_to(repo_root())}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
