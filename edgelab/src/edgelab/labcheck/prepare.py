"""What ``edgelab check`` executes for each notebook it is given.

A lab notebook (one with a source in ``notebooks/src``) is never executed as given: the runner
builds its reference from the source (student build, or with ``--solutions`` the reference
solutions) and restores every non-answer cell from it by cell id
(:mod:`edgelab.labcheck.restore`). The checks therefore come from the reference too. Any other
notebook (e.g. an instructor's own) runs as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from edgelab.labcheck import sources
from edgelab.labcheck.restore import Answer, restore


@dataclass
class Prepared:
    given: Path  # what the user passed
    stem: str
    lang: str
    input: Path  # the notebook papermill executes
    cwd: Path
    lab: bool  # built from a reference source
    answers: dict[str, Answer] = field(default_factory=dict)
    restored: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    questions: dict[str, str] = field(default_factory=dict)  # reflection id → question text


def default_notebooks(lang: str = "en") -> list[Path]:
    """The repository's student notebooks of ``lang``, in order."""
    base = sources.notebooks_dir()
    found = sorted(base.glob("[0-9]*.ipynb"))
    return [p for p in found if sources.stem_and_lang(p)[1] == lang]


def prepare(given: Path, work: Path, *, lang: str | None = None,
            solutions: bool = False, source_dir: Path | None = None) -> Prepared:
    """Write the notebook to execute for ``given`` under ``work``."""
    stem, file_lang = sources.stem_and_lang(given)
    student = nbformat.read(given, as_version=4)
    meta = student.metadata.get("edgelab", {})
    if isinstance(meta, dict) and meta.get("notebook"):
        stem = str(meta["notebook"])
        file_lang = str(meta.get("lang") or file_lang)
    want = lang or file_lang
    source = (source_dir / f"{stem}.py") if source_dir else sources.source_for(stem)
    if source is None or not source.is_file():
        return Prepared(given, given.stem, want, given, given.parent, lab=False)
    base = sources.build(source, want, reference=solutions)
    done = restore(base, base if solutions else student)
    work.mkdir(parents=True, exist_ok=True)
    target = work / stem / f"{stem}.ipynb"  # inspect_params names a notebook by its file
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(done.notebook, target)
    questions: dict[str, str] = {}
    previous = ""
    for cell in base.cells:
        if done.answers.get(str(cell.get("id"))) and cell.cell_type == "markdown":
            questions[str(cell.id)] = previous
        if cell.cell_type == "markdown":
            previous = cell.source
    return Prepared(given, stem, want, target, source.parent.parent, lab=True,
                    answers=done.answers, restored=[] if solutions else done.restored,
                    extra=[] if solutions else done.extra, questions=questions)
