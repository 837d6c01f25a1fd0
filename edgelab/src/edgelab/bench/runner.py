"""`edgelab bench`: options and the entry point the CLI calls (`run_all(args) -> exit code`)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edgelab.bench import edge_vs_nginx, pages
from edgelab.bench.report import Report, render_table

API_LATENCY_SCRIPT = Path("inventory-app") / "bench" / "api_latency.py"
# the last inventory-app with three write transactions per sale: issue 14's reference,
# measured in the same run (alternating with the current app on the same database)
API_REFERENCE_COMMIT = "75ec093"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `edgelab bench`."""
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short runs (seconds) to check the harness; numbers are not meaningful",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--only",
        choices=["edge-cache", "api", "pages"],
        default=None,
        help="run one part: edge-cache vs nginx, the inventory-app API latency, or web page "
        "render time (cloud vs a warm edge, online and offline)",
    )
    parser.add_argument(
        "--servers",
        default=",".join(edge_vs_nginx.SERVERS),
        help="comma-separated caches to measure: edge-cache,nginx (default: both)",
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=None,
        help="edge-cache/nginx A/B pairs for the cache-hit measurement, run alternately "
        "(default 5; --quick 2); the table shows the median with its min–max",
    )
    parser.add_argument(
        "--measure",
        default=",".join(edge_vs_nginx.MEASUREMENTS),
        help="comma-separated parts of the edge-cache vs nginx run: hits,offline,memory "
        "(default: all)",
    )
    parser.add_argument(
        "--fill-entries",
        type=int,
        default=None,
        help="cached entries for the RSS/restart measurement (default 100000; --quick 500)",
    )
    parser.add_argument(
        "--drain-writes",
        type=int,
        default=None,
        help="queued writes for the drain measurement (default 10000; --quick 200)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where processes keep data and logs (default: a temporary directory, removed)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (logs, nginx.conf)"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a target is missed (default: report only)",
    )


def find_repo_file(relative: Path) -> Path | None:
    """`relative` under the current directory or any parent of it or of this package."""
    starts = [Path.cwd(), Path(__file__).resolve()]
    for start in starts:
        for base in [start, *start.parents]:
            candidate = base / relative
            if candidate.is_file():
                return candidate
    return None


def run_api_latency(quick: bool, as_json: bool) -> dict[str, Any]:
    """Run inventory-app's API latency benchmark if it exists; returns what it printed."""
    script = find_repo_file(API_LATENCY_SCRIPT)
    if script is None:
        return {"skipped": f"{API_LATENCY_SCRIPT} not found (no inventory-app benchmark yet)"}
    argv = [sys.executable, str(script)]
    if quick:
        argv.append("--quick")
    if _has_commit(script.parent, API_REFERENCE_COMMIT):
        argv += ["--reference-commit", API_REFERENCE_COMMIT]
    if as_json:
        argv.append("--json")
    started = time.monotonic()
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=600, cwd=script.parent.parent.parent
        )
    except subprocess.TimeoutExpired:
        return {"script": str(script), "error": "did not finish within 600 s"}
    result: dict[str, Any] = {
        "script": str(script),
        "exit_code": done.returncode,
        "seconds": round(time.monotonic() - started, 1),
    }
    if as_json:
        try:
            result["output"] = json.loads(done.stdout)
        except ValueError:
            result["output"] = done.stdout
    else:
        result["output"] = done.stdout
    if done.returncode != 0:
        result["error"] = done.stderr.strip()[-800:]
    return result


def _has_commit(where: Path, commit: str) -> bool:
    """Whether `where` is in a git checkout that holds `commit` (else: no reference run)."""
    try:
        done = subprocess.run(["git", "-C", str(where), "cat-file", "-e", f"{commit}^{{commit}}"],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def run_pages(quick: bool, workdir: Path | None, keep: bool) -> dict[str, Any]:
    """The page render benchmark in its own (temporary) directory; errors are reported."""
    base = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="edgelab-pages-"))
    try:
        return pages.run(base, quick=quick,
                         progress=lambda m: print(m, file=sys.stderr, flush=True))
    except Exception as exc:  # a benchmark that cannot run is reported, not raised
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        if workdir is None and not keep:
            shutil.rmtree(base, ignore_errors=True)


def run_all(args: argparse.Namespace) -> int:
    """Run the benchmarks selected by `args`; print a table (or JSON); return the exit code."""
    quick = bool(getattr(args, "quick", False))
    as_json = bool(getattr(args, "json", False))
    only = getattr(args, "only", None)
    keep = bool(getattr(args, "keep", False))
    strict = bool(getattr(args, "strict", False))

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    output: dict[str, Any] = {}
    report: Report | None = None
    exit_code = 0
    if only in (None, "edge-cache"):
        workdir = getattr(args, "workdir", None)
        temporary = workdir is None
        if workdir is None:
            workdir = tempfile.mkdtemp(prefix="edgelab-bench-")
        base = Path(workdir)
        base.mkdir(parents=True, exist_ok=True)
        progress(f"edge-cache vs nginx: work directory {base}")
        try:
            servers = tuple(
                name.strip()
                for name in str(getattr(args, "servers", "edge-cache,nginx")).split(",")
                if name.strip()
            )
            report = edge_vs_nginx.run(
                base,
                quick=quick,
                progress=progress,
                servers=servers,
                fill_entries=getattr(args, "fill_entries", None),
                drain_writes=getattr(args, "drain_writes", None),
                pairs=getattr(args, "pairs", None),
                measurements=tuple(
                    part.strip()
                    for part in str(
                        getattr(args, "measure", ",".join(edge_vs_nginx.MEASUREMENTS))
                    ).split(",")
                    if part.strip()
                ),
            )
        finally:
            if temporary and not keep:
                shutil.rmtree(base, ignore_errors=True)
        output["edge_cache_vs_nginx"] = report.to_dict()
        if strict and report.targets_missed:
            exit_code = 1
    if only in (None, "api"):
        progress("inventory-app API latency")
        output["api_latency"] = run_api_latency(quick, as_json)
        if output["api_latency"].get("error"):
            exit_code = 1
    if only in (None, "pages"):
        progress("web page render time: cloud vs a warm edge, online and offline")
        output["page_render"] = run_pages(quick, getattr(args, "workdir", None), keep)
        if output["page_render"].get("error"):
            exit_code = 1
    if as_json:
        print(json.dumps(output, indent=2, default=str))
        return exit_code
    if report is not None:
        print(render_table(report))
        print()
    if "page_render" in output:
        print(pages.render(output["page_render"]))
        print()
    api = output.get("api_latency")
    if api is not None:
        print("inventory-app API latency")
        if "skipped" in api:
            print(f"  skipped: {api['skipped']}")
        else:
            print(str(api.get("output", "")).rstrip())
            if api.get("error"):
                print(f"  failed (exit {api.get('exit_code')}): {api['error']}")
    return exit_code


def main(argv: list[str] | None = None) -> int:
    """`python -m edgelab.bench.runner` (the same as `edgelab bench`)."""
    parser = argparse.ArgumentParser(prog="edgelab bench", description=__doc__)
    add_arguments(parser)
    return run_all(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
