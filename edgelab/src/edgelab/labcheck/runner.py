"""``edgelab check``: execute lab notebooks with papermill and evaluate their checks."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console

from edgelab.jsonio import write_json
from edgelab.labcheck import engine, grading, report, sources
from edgelab.labcheck.outcome import NotebookRun, evaluate
from edgelab.labcheck.params import (
    NotebookParams,
    ParameterError,
    inspect_params,
    load_params_file,
    params_for,
    parse_value,
)
from edgelab.labcheck.prepare import Prepared, prepare
from edgelab.labcheck.prepare import default_notebooks as lab_notebooks
from edgelab.notebook.answers import GRADING_ENV  # set for the kernel while grading answers
from edgelab.notebook.preflight import ClusterUnavailable, check_cluster, resolve_kubeconfig
from edgelab.process import reap, tokened_environment, wait_for_exit

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEFAULT_TIMEOUT_S = 300.0
PREFERRED_KERNEL = "edgelab"
FALLBACK_KERNEL = "python3"
RESERVED = ("results_dir",)
SEALED = ".sealed"
INTERRUPTED = "interrupted (Ctrl-C)"


def _quiet() -> None:
    """After Ctrl-C the kernel client is torn down mid-request: its loggers have nothing
    useful to say."""
    import logging

    for name in ("traitlets", "papermill", "nbclient", "asyncio", "zmq", "tornado"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``edgelab check`` (also used by ``python -m edgelab.labcheck``)."""
    parser.add_argument(
        "notebooks",
        nargs="*",
        metavar="NOTEBOOK",
        help="notebooks to execute (default: every notebooks/*.ipynb, in order)",
    )
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a notebook parameter; VALUE is parsed like papermill -p (numbers, "
        "True/False/None) and YAML lists such as [8,16,32]",
    )
    parser.add_argument(
        "-f",
        "--parameters-file",
        action="append",
        default=[],
        metavar="PARAMS.yaml",
        help="YAML file of parameters (e.g. notebooks/params/local-quick.yaml); a key named "
        "after a notebook (03-disconnection: {...}) holds parameters for that notebook only",
    )
    parser.add_argument(
        "--target",
        choices=("local", "cluster"),
        default=argparse.SUPPRESS,  # keeps a global `edgelab --target cluster check` intact
        help="set the target parameter of every notebook",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("EDGELAB_CHECK_TIMEOUT", DEFAULT_TIMEOUT_S)),
        metavar="S",
        help="execution timeout per cell in seconds (default %(default)s; a hung or dead "
        "kernel is reported as a failure)",
    )
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds to wait for the kernel to start (default %(default)s)",
    )
    parser.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    parser.add_argument(
        "--run-dir",
        metavar="DIR",
        help="where to write executed notebooks, results and the report "
        "(default build/lab/<run-id>)",
    )
    parser.add_argument(
        "--kernel",
        metavar="NAME",
        help=f"Jupyter kernel (default {PREFERRED_KERNEL!r}, else {FALLBACK_KERNEL!r})",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no per-cell progress bar (e.g. in CI logs)"
    )
    parser.add_argument(
        "--lang",
        choices=sources.LANGS,
        default=None,
        help="language of the notebooks (default: the given notebook's; en for the "
        "repository's notebooks): zh-CN runs notebooks/*.zh-CN.ipynb",
    )
    parser.add_argument(
        "--solutions",
        action="store_true",
        help="grade the reference solutions instead of the given notebooks' answers "
        "(make lab: checks the lab itself)",
    )
    parser.add_argument(
        "--sources",
        metavar="DIR",
        help="reference notebook sources (default notebooks/src of this repository)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgelab check",
        description="Execute lab notebooks headless (papermill), evaluate their checks, "
        "print a ✔/✘ table, write an HTML report and JUnit XML; exit 1 on any failed check.",
    )
    add_arguments(parser)
    return parser


def default_notebooks(lang: str = "en") -> list[Path]:
    return lab_notebooks(lang)


def choose_kernel(requested: str | None) -> tuple[str, str | None]:
    """Kernel name to use and an optional note for the user."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if requested:
        if requested not in specs:
            raise ParameterError(
                f"no Jupyter kernel named {requested!r} (installed: {', '.join(sorted(specs))})"
            )
        return requested, None
    if PREFERRED_KERNEL in specs:
        return PREFERRED_KERNEL, None
    return FALLBACK_KERNEL, (
        f"kernel {PREFERRED_KERNEL!r} is not registered (make setup registers it); "
        f"using {FALLBACK_KERNEL!r} ({sys.executable})"
    )


def collect_parameters(args: argparse.Namespace) -> dict[str, Any]:
    given: dict[str, Any] = {}
    for file in args.parameters_file:
        given.update(load_params_file(file))
    for name, value in args.parameter:
        given[name] = parse_value(value)
    target = getattr(args, "target", None)
    if target:
        given["target"] = target
    for name in RESERVED:
        if name in given:
            raise ParameterError(f"{name} is set by edgelab check for each notebook; use --run-dir")
    return given


def new_run_dir() -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path.cwd() / "build" / "lab" / f"{stamp}-{secrets.token_hex(2)}"


def preflight_cluster(per: dict[str, dict[str, Any]], nbs: list[NotebookParams]) -> str | None:
    """Check the cluster once when any notebook runs with target=cluster."""
    for nb in nbs:
        params = {**nb.defaults, **per[nb.stem]}
        if _unquote(params.get("target")) == "cluster":
            kubeconfig = _unquote(params.get("kubeconfig")) or None
            if kubeconfig and nb.path is not None:
                # the notebook runs in its own directory: resolve relative paths from there
                kubeconfig = str(nb.path.resolve().parent / Path(str(kubeconfig)).expanduser())
            version = check_cluster(resolve_kubeconfig(kubeconfig))
            return f"cluster reachable, Kubernetes {version}"
    return None


def _unquote(value: Any) -> Any:
    """Defaults from inspect_notebook are source text ("'local'"); parameters are values."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    if value == "None":
        return None
    return value


def execute_one(
    source: Path,
    run: NotebookRun,
    parameters: dict[str, Any],
    *,
    kernel: str,
    timeout: float,
    start_timeout: float,
    progress: bool,
    cwd: Path | None = None,
    seal_to: Path | None = None,
    grading_run: bool = False,
) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    run.out_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(8)
    started = time.monotonic()
    if grading_run:
        os.environ[GRADING_ENV] = "1"
    with tokened_environment(token):
        try:
            papermill.execute_notebook(
                str(source),
                str(run.executed),
                parameters=parameters,
                engine_name=engine.register(),
                kernel_name=kernel,
                execution_timeout=timeout,
                start_timeout=start_timeout,
                progress_bar=progress,
                cwd=str(cwd or source.parent),
                seal_dirs=(run.out_dir, seal_to) if seal_to else None,
                kernel_log=run.out_dir / "kernel.log",
                interrupt_on_timeout=True,
                # ipykernel's start-up warnings (e.g. "running over TCP without encryption" on
                # loopback) are noise in a lab run; errors still reach stderr
                extra_arguments=(
                    ["--IPKernelApp.log_level=ERROR"]
                    if kernel in (PREFERRED_KERNEL, FALLBACK_KERNEL)
                    else []
                ),
                error_on_timeout={
                    "ename": engine.TIMEOUT_ENAME,
                    "evalue": f"a cell did not finish within {timeout:g} s (--timeout)",
                    "traceback": [],
                },
            )
        except PapermillExecutionError as exc:
            cell = f"cell {exc.exec_count}" if exc.exec_count else f"cell #{exc.cell_index + 1}"
            run.error = f"{exc.ename}: {exc.evalue} (in {cell})".replace("\n", " ")
        except Exception as exc:
            run.error = f"{type(exc).__name__}: {exc}".strip().replace("\n", " ")
        except KeyboardInterrupt:
            run.error = INTERRUPTED
            run.duration_s = time.monotonic() - started
            _quiet()
            run.leftovers = [f"pid {p.pid}: {p.cmdline}" for p in
                             reap(wait_for_exit(token, grace_s=1.0), grace_s=3.0)]
            raise
        finally:
            os.environ.pop(GRADING_ENV, None)
    run.duration_s = time.monotonic() - started
    left = wait_for_exit(token, grace_s=5.0)
    cleanup = _unquote(parameters.get("cleanup", True))
    if left:
        run.leftovers_expected = cleanup is False
        if run.leftovers_expected:
            run.leftovers = [f"pid {p.pid}" for p in left]
        else:
            run.leftovers = [f"pid {p.pid}: {p.cmdline}" for p in reap(left)]


def run(args: argparse.Namespace) -> int:
    """Execute the notebooks, print the table, write the report; 0 = every check passed."""
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 120)
    lang = args.lang
    given_paths = [Path(n) for n in args.notebooks] or default_notebooks(lang or "en")
    if not given_paths:
        err.print("[red]error:[/] no notebooks given and none found in notebooks/")
        return EXIT_USAGE
    missing = [str(s) for s in given_paths if not s.is_file()]
    if missing:
        err.print(f"[red]error:[/] no such notebook: {', '.join(missing)}")
        return EXIT_USAGE
    if args.timeout <= 0:
        err.print("[red]error:[/] --timeout must be positive")
        return EXIT_USAGE
    with tempfile.TemporaryDirectory(prefix="edgelab-check-") as work:
        try:
            source_dir = Path(args.sources).resolve() if args.sources else None
            prepared = [
                prepare(p, Path(work) / f"{i:02d}", lang=lang, solutions=args.solutions,
                        source_dir=source_dir)
                for i, p in enumerate(given_paths)
            ]
            given = collect_parameters(args)
            # named after the notebook it stands for, in the directory it runs in
            nbs = [dataclasses.replace(inspect_params(p.input), path=p.cwd / p.given.name)
                   for p in prepared]
            per = params_for(nbs, given)
            kernel, note = choose_kernel(args.kernel)
            cluster_note = preflight_cluster(per, nbs)
        except (ParameterError, ClusterUnavailable, sources.SourceError, ValueError,
                OSError) as exc:
            err.print(f"[red]error:[/] {exc}")
            err.print("nothing was executed.")
            return EXIT_USAGE
        if note:
            err.print(f"[yellow]note:[/] {note}")
        if cluster_note:
            console.print(cluster_note)
        run_dir = Path(args.run_dir) if args.run_dir else new_run_dir()
        run_dir = run_dir.resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
        runs: list[NotebookRun] = []
        started: list[NotebookRun] = []
        wall = time.monotonic()
        try:
            for i, (prep, nb) in enumerate(zip(prepared, nbs, strict=True), start=1):
                runs.append(_run_one(i, len(prepared), prep, nb, per, run_dir, args, kernel,
                                     console, started))
        except KeyboardInterrupt:
            _quiet()
            if started and started[-1] not in runs:  # the notebook that was running
                current = started[-1]
                current.error = current.error or INTERRUPTED
                current.checks = evaluate(current)
                runs.append(current)
            report.write_junit(runs, run_dir / "junit.xml")
            report.write_index(runs, run_dir, "EdgeLab lab checks (interrupted)")
            _write_summary(runs, run_dir, time.monotonic() - wall, interrupted=True)
            err.print(f"edgelab check: interrupted — partial summary in "
                      f"{run_dir / 'summary.json'}")
            return EXIT_INTERRUPTED

        report.print_table(runs, console)
        passed, failed, skipped = report.counts(runs)
        report.write_junit(runs, run_dir / "junit.xml")
        if args.junit:
            report.write_junit(runs, Path(args.junit))
        index = report.write_index(runs, run_dir, "EdgeLab lab checks")
        _write_summary(runs, run_dir, time.monotonic() - wall)
        _link_latest(run_dir)
        colour = "red" if failed else "green"
        console.print(
            f"[{colour}]{passed} passed, {failed} failed, {skipped} skipped[/] "
            f"({time.monotonic() - wall:.0f} s)"
        )
        console.print(f"report: {index}")
        junit = Path(args.junit).resolve() if args.junit else run_dir / "junit.xml"
        console.print(f"junit:  {junit}")
        return EXIT_FAILED if failed else EXIT_OK


def _run_one(i: int, total: int, prep: Prepared, nb: NotebookParams,
             per: dict[str, dict[str, Any]], run_dir: Path, args: argparse.Namespace,
             kernel: str, console: Console, started: list[NotebookRun]) -> NotebookRun:
    out_dir = run_dir / nb.stem
    params = {**per[nb.stem], "results_dir": str(out_dir)}
    shown = ", ".join(f"{k}={v!r}" for k, v in per[nb.stem].items()) or "defaults"
    what = " (reference solutions)" if prep.lab and args.solutions else ""
    console.print(f"[bold][{i}/{total}] {nb.stem}[/]{what} ({shown})")
    one = NotebookRun(
        stem=nb.stem,
        source=prep.given.resolve(),
        out_dir=out_dir,
        executed=out_dir / prep.given.name,
        parameters=params,
        checks_from=prep.input,
        lang=prep.lang,
    )
    started.append(one)
    sealed = run_dir / SEALED / nb.stem if prep.lab else None
    if sealed is not None and sealed.exists():
        shutil.rmtree(sealed)
    execute_one(
        prep.input,
        one,
        params,
        kernel=kernel,
        timeout=args.timeout,
        start_timeout=args.start_timeout,
        progress=not args.no_progress,
        cwd=prep.cwd,
        seal_to=sealed,
        grading_run=prep.lab and not args.solutions,
    )
    graded: list[grading.Graded] = []
    if prep.lab and sealed is not None:
        raw = grading.RawData(sealed, grading.parameter_values(nb.defaults, per[nb.stem]))
        graded = grading.grade(nb.stem, raw, prep.answers)
        one.predictions = grading.predictions(nb.stem, raw, prep.answers)
        one.reflections = [
            (prep.questions.get(a.cell_id, ""), a.source)
            for a in prep.answers.values() if a.kind == "reflection"
        ]
        one.restored, one.extra = prep.restored, prep.extra
        one.dropped = {a.cell_id: a.dropped for a in prep.answers.values() if a.dropped}
    one.checks = evaluate(one, graded)
    one.html = report.export_html(one)
    mark = "[red]✘[/]" if one.failed else "[green]✔[/]"
    console.print(f"    {mark} {nb.stem} in {one.duration_s:.1f} s")
    return one


def _write_summary(runs: list[NotebookRun], run_dir: Path, wall_s: float,
                   interrupted: bool = False) -> None:
    data = {
        "wall_s": round(wall_s, 2),
        "interrupted": interrupted,
        "notebooks": [
            {
                "notebook": r.stem,
                "error": r.error,
                "duration_s": round(r.duration_s, 2),
                "executed": str(r.executed),
                "html": str(r.html) if r.html else None,
                "leftovers": r.leftovers,
                "checks": [asdict(c) for c in r.checks],
                "predictions": [asdict(p) for p in r.predictions],
                "reflections": [{"question": q, "answer": a} for q, a in r.reflections],
                "restored_cells": r.restored,
            }
            for r in runs
        ],
    }
    write_json(run_dir / "summary.json", data)


def _link_latest(run_dir: Path) -> None:
    """``build/lab/latest`` → this run, when the run lives under build/lab."""
    latest = run_dir.parent / "latest"
    if run_dir.parent.name != "lab":
        return
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(run_dir.name)
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
