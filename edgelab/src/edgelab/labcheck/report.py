"""Report a lab-check run: the ✔/✘ table, JUnit XML and an HTML report."""

from __future__ import annotations

import html
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.table import Table

from edgelab.labcheck.outcome import NotebookRun
from edgelab.notebook.answers import fmt
from edgelab.notebook.results import FAILED, PASSED

MARKS = {"passed": "✔", "failed": "✘", "skipped": "–"}


def print_table(runs: list[NotebookRun], console: Console) -> None:
    table = Table(title="Lab checks", title_justify="left", expand=False)
    table.add_column("", width=1, no_wrap=True)
    table.add_column("notebook", no_wrap=True)
    table.add_column("check")
    table.add_column("result / hint")
    for run in runs:
        for c in run.checks:
            if c.status == FAILED:
                text = "; ".join(p for p in (c.detail, f"hint: {c.hint}" if c.hint else "") if p)
                style = "red"
            else:
                text = c.message
                style = "green" if c.status == PASSED else "dim"
            table.add_row(MARKS.get(c.status, "?"), run.stem, c.name, text, style=style)
    console.print(table)


def counts(runs: list[NotebookRun]) -> tuple[int, int, int]:
    checks = [c for r in runs for c in r.checks]
    passed = sum(c.status == PASSED for c in checks)
    failed = sum(c.status == FAILED for c in checks)
    return passed, failed, len(checks) - passed - failed


def write_junit(runs: list[NotebookRun], path: Path) -> None:
    """One testsuite per notebook, one testcase per check."""
    suites = ET.Element("testsuites", name="edgelab lab checks")
    for run in runs:
        failures = sum(c.status == FAILED for c in run.checks)
        skipped = sum(c.status not in (PASSED, FAILED) for c in run.checks)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=run.stem,
            tests=str(len(run.checks)),
            failures=str(failures),
            errors="0",
            skipped=str(skipped),
            time=f"{run.duration_s:.3f}",
        )
        for c in run.checks:
            case = ET.SubElement(suite, "testcase", classname=f"lab.{run.stem}", name=c.name)
            if c.status == FAILED:
                failure = ET.SubElement(case, "failure", message=c.hint or c.detail or "failed")
                failure.text = "\n".join(p for p in (c.detail, c.hint) if p)
            elif c.status != PASSED:
                ET.SubElement(case, "skipped", message=c.message)
            elif c.message:
                ET.SubElement(case, "system-out").text = c.message
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def export_html(run: NotebookRun) -> Path | None:
    """nbconvert HTML of the executed notebook next to it; None when it cannot be rendered."""
    if not run.executed.exists():
        return None
    try:
        import nbformat
        from nbconvert import HTMLExporter

        nb = nbformat.read(run.executed, as_version=4)
        body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    except Exception as exc:  # a broken notebook must not break the report
        run.error = run.error or f"could not render HTML: {exc}"
        return None
    out = run.executed.with_suffix(".html")
    out.write_text(body, "utf-8")
    return out


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.35rem .5rem;
text-align:left;vertical-align:top}tr.failed td{background:#fdecea}tr.passed td.m{color:#1a7f37}
tr.failed td.m{color:#c62828}.m{font-weight:bold;width:1.5rem}.hint{color:#555}
.plots{display:flex;flex-wrap:wrap;gap:1rem}.plots figure{margin:0;max-width:30rem}
.plots img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.85rem;color:#555}
.refl blockquote{margin:.3rem 0 1rem 1rem;padding:.3rem .6rem;border-left:3px solid #1565c0;
white-space:pre-wrap}.refl .q{white-space:pre-wrap;color:#333}table.pred{width:auto}
"""


def _answers_html(run: NotebookRun) -> str:
    """The student's predictions beside the recomputed values, then the reflection answers."""
    e = html.escape
    parts: list[str] = []
    if run.predictions:
        rows = "".join(f"<tr><td>{e(p.name)}</td><td>{e(fmt(p.predicted))}</td>"
                       f"<td>{e(fmt(p.measured))}</td></tr>" for p in run.predictions)
        parts.append("<h3>Predictions</h3><table class='pred'><tr><th>prediction</th>"
                     "<th>predicted</th><th>measured (recomputed from the raw data)</th></tr>"
                     f"{rows}</table>")
    if run.reflections:
        items = "".join(f"<li><div class='q'>{e(q)}</div><blockquote>{e(a)}</blockquote></li>"
                        for q, a in run.reflections)
        parts.append(f"<h3>Reflection answers</h3><ol class='refl'>{items}</ol>")
    return "".join(parts)


def write_index(runs: list[NotebookRun], run_dir: Path, title: str) -> Path:
    """``index.html``: summary, the check table, links to each notebook's HTML, plots, data."""
    passed, failed, skipped = counts(runs)
    e = html.escape
    rows = []
    for run in runs:
        for c in run.checks:
            if c.status == FAILED:
                hint = f'<div class="hint">hint: {e(c.hint)}</div>' if c.hint else ""
                text = e(c.detail) + hint
            else:
                text = e(c.message)
            rows.append(
                f'<tr class="{e(c.status)}"><td class="m">{MARKS.get(c.status, "?")}</td>'
                f"<td>{e(run.stem)}</td><td>{e(c.name)}</td><td>{text}</td></tr>"
            )
    sections = []
    for run in runs:
        rel = os.path.relpath(run.out_dir, run_dir)
        links = []
        if run.html is not None:
            links.append(f'<a href="{e(rel)}/{e(run.html.name)}">executed notebook (HTML)</a>')
        if run.executed.exists():
            links.append(f'<a href="{e(rel)}/{e(run.executed.name)}">.ipynb</a>')
        if (run.out_dir / "results.json").exists():
            links.append(f'<a href="{e(rel)}/results.json">results.json</a>')
        data = sorted(p for p in run.out_dir.rglob("*.csv"))
        links += [f'<a href="{e(os.path.relpath(p, run_dir))}">{e(p.name)}</a>' for p in data]
        figures = "".join(
            f'<figure><a href="{e(os.path.relpath(p, run_dir))}"><img src="'
            f'{e(os.path.relpath(p, run_dir))}" alt="{e(p.stem)}"></a>'
            f"<figcaption>{e(p.name)}</figcaption></figure>"
            for p in sorted(run.out_dir.rglob("*.png"))
        )
        status = "✘ failed" if run.failed else "✔ passed"
        sections.append(
            f"<h2>{e(run.stem)} <small>{status}, {run.duration_s:.0f} s</small></h2>"
            f"<p>{' · '.join(links)}</p>{_answers_html(run)}"
            f"<div class='plots'>{figures}</div>"
        )
    page = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{e(title)}</h1>"
        f"<p><b>{passed} passed, {failed} failed, {skipped} skipped</b> in "
        f"{sum(r.duration_s for r in runs):.0f} s of notebook time.</p>"
        "<table><tr><th></th><th>notebook</th><th>check</th><th>result / hint</th></tr>"
        + "".join(rows)
        + "</table>"
        + "".join(sections)
        + "</body></html>"
    )
    out = run_dir / "index.html"
    out.write_text(page, "utf-8")
    return out
