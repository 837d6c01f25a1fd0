"""Notebook side of the lab checks: record values, declare checks, tear down safely.

A notebook creates one :class:`Results` for its ``results_dir``. Every ``record`` and ``check``
rewrites ``results.json`` at once (atomically), so a notebook that fails half-way still leaves
what it measured so far for ``edgelab check`` to read.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from edgelab.jsonio import JSONValue, read_json, write_json
from edgelab.jsonio import jsonable as to_jsonable

RESULTS_FILE = "results.json"
PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"

Predicate = Callable[[Mapping[str, Any]], Any]


class Results:
    """Values and checks of one notebook run, mirrored to ``<results_dir>/results.json``."""

    def __init__(
        self,
        results_dir: str | os.PathLike[str],
        *,
        notebook: str | None = None,
        cleanup: bool = True,
        quiet: bool = False,
    ) -> None:
        self.dir = Path(results_dir).expanduser().resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / RESULTS_FILE
        self.notebook = notebook
        self.cleanup = cleanup
        self.quiet = quiet
        self.values: dict[str, Any] = {}
        self.checks: dict[str, dict[str, JSONValue]] = {}
        self._teardowns: list[tuple[str, Callable[[], object]]] = []
        self._torn_down = False
        self._started = _now()
        self._atexit_registered = False
        self._write()

    # -- recording -------------------------------------------------------------------------
    def record(self, name: str, value: Any) -> Any:
        """Store ``value`` under ``name`` (JSON-safe copy in results.json); returns ``value``."""
        self.values[name] = value
        self._write()
        return value

    def record_many(self, values: Mapping[str, Any]) -> None:
        """Record several values at once."""
        self.values.update(values)
        self._write()

    def file(self, name: str) -> Path:
        """Path of an output file (plot, CSV) inside the results directory."""
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    # -- checks ----------------------------------------------------------------------------
    def check(
        self,
        name: str,
        condition: bool | Predicate | Any,
        *,
        success: str = "",
        hint: str = "",
        observed: Any = None,
    ) -> bool:
        """Evaluate a named check now and record it.

        ``condition`` is a bool, or a callable taking the recorded values (a dict) and returning
        something truthy. A callable that raises counts as failed, with the error kept.
        ``observed`` is what was actually seen, shown next to a failure.
        """
        error: str | None = None
        try:
            outcome = condition(dict(self.values)) if callable(condition) else condition
            passed = bool(outcome)
        except Exception as exc:
            passed = False
            error = f"{type(exc).__name__}: {exc}"
        entry: dict[str, JSONValue] = {
            "name": name,
            "status": PASSED if passed else FAILED,
            "success": success,
            "hint": hint,
            "observed": to_jsonable(observed),
            "error": error,
            "at": _now(),
        }
        self.checks[name] = entry
        self._write()
        if not self.quiet:
            print(_line(entry))
        return passed

    def skip(self, name: str, reason: str) -> None:
        """Declare that a check does not apply to this run (e.g. a cluster-only check)."""
        entry: dict[str, JSONValue] = {
            "name": name,
            "status": SKIPPED,
            "success": reason,
            "hint": "",
            "observed": None,
            "error": None,
            "at": _now(),
        }
        self.checks[name] = entry
        self._write()
        if not self.quiet:
            print(_line(entry))

    @property
    def all_passed(self) -> bool:
        return all(c["status"] != FAILED for c in self.checks.values())

    def summary(self) -> bool:
        """Print a ✔/✘ table of the checks so far; returns True when none failed."""
        _print_table(list(self.checks.values()))
        return self.all_passed

    # -- teardown --------------------------------------------------------------------------
    def on_teardown(self, callback: Callable[[], object], name: str | None = None) -> None:
        """Register ``callback`` to run in :meth:`teardown` (newest first).

        With ``cleanup=True`` the callbacks also run when the kernel exits, so a notebook
        stopped by an error still cleans up.
        """
        label = str(name or getattr(callback, "__qualname__", repr(callback)))
        self._teardowns.append((label, callback))
        self._torn_down = False
        if self.cleanup and not self._atexit_registered:
            atexit.register(self.teardown)
            self._atexit_registered = True

    def teardown(self) -> list[str]:
        """Run the registered callbacks once each (newest first); safe to call repeatedly.

        Errors are printed and collected, never raised, so every callback gets its turn.
        Returns the error messages.
        """
        if not self.cleanup:
            if self._teardowns and not self._torn_down:
                print("cleanup=False: leaving the lab running (run the teardown cell later).")
            return []
        errors: list[str] = []
        while self._teardowns:
            label, callback = self._teardowns.pop()
            try:
                callback()
            except Exception as exc:
                errors.append(f"{label}: {type(exc).__name__}: {exc}")
                traceback.print_exc(file=sys.stderr)
        self._torn_down = True
        self.values["teardown_errors"] = errors
        self._write()
        return errors

    # -- storage ---------------------------------------------------------------------------
    def as_dict(self) -> dict[str, JSONValue]:
        return {
            "notebook": self.notebook,
            "started_at": self._started,
            "updated_at": _now(),
            "values": to_jsonable(self.values),
            "checks": list(self.checks.values()),
        }

    def _write(self) -> None:
        write_json(self.path, self.as_dict())


def load_results(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Read a results.json (a file or a directory holding one); None when absent or broken."""
    p = Path(path)
    return read_json(p / RESULTS_FILE if p.is_dir() else p)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _mark(status: JSONValue) -> str:
    return {"passed": "✔", "failed": "✘", "skipped": "–"}.get(str(status), "?")


def _line(entry: Mapping[str, JSONValue]) -> str:
    mark = _mark(entry["status"])
    if entry["status"] == FAILED:
        text = f"{mark} {entry['name']}"
        if entry.get("observed") is not None:
            text += f" (observed: {entry['observed']})"
        if entry.get("error"):
            text += f" [{entry['error']}]"
        if entry.get("hint"):
            text += f"\n    hint: {entry['hint']}"
        return text
    return f"{mark} {entry['name']}" + (f": {entry['success']}" if entry.get("success") else "")


def _print_table(entries: list[dict[str, JSONValue]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency
        for entry in entries:
            print(_line(entry))
        return
    table = Table(title="Lab checks", show_lines=False)
    table.add_column("", width=1)
    table.add_column("check")
    table.add_column("result")
    for entry in entries:
        failed = entry["status"] == FAILED
        detail = str(entry.get("hint") or "") if failed else str(entry.get("success") or "")
        if failed and entry.get("observed") is not None:
            detail = f"observed {entry['observed']}. {detail}"
        if failed and entry.get("error"):
            detail = f"{entry['error']}. {detail}"
        style = "red" if failed else ("green" if entry["status"] == PASSED else "dim")
        table.add_row(_mark(entry["status"]), str(entry["name"]), detail, style=style)
    Console(width=110).print(table)
    passed = sum(1 for e in entries if e["status"] == PASSED)
    failed_n = sum(1 for e in entries if e["status"] == FAILED)
    print(f"{passed} passed, {failed_n} failed, {len(entries) - passed - failed_n} skipped")
