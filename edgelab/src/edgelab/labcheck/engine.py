"""A papermill engine that still runs the ``teardown`` cells after a cell failed or timed out.

Papermill stops at the first failing cell. Lab notebooks start real processes, so after a
failure (or a cell interrupted by the execution timeout) this engine executes the cells tagged
``teardown`` that come after the failing one, in the same kernel, before the kernel is shut down.
A kernel that died or does not answer the interrupt cannot run them; the runner then stops the
leftover processes itself (see :func:`edgelab.process.reap`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines

ENGINE_NAME = "edgelab"
TEARDOWN_TAG = "teardown"
RAW_DATA_TAG = "raw-data"
TIMEOUT_ENAME = "CellTimeout"


class LabNotebookClient(PapermillNotebookClient):
    """Papermill's client plus teardown cells after a failure, and sealed raw data.

    ``seal_dirs`` = (results_dir, sealed_dir): after each cell tagged ``raw-data`` ran, the
    raw data files in results_dir are copied to sealed_dir before the next cell runs (the
    grader recomputes its checks from those copies, see :mod:`edgelab.labcheck.grading`).
    """

    seal_dirs: tuple[Path, Path] | None = None

    def _seal_after(self, cell: Any) -> None:
        if self.seal_dirs is not None and RAW_DATA_TAG in cell.metadata.get("tags", []):
            from edgelab.labcheck.grading import seal

            seal(*self.seal_dirs)

    def papermill_execute_cells(self) -> None:
        failed_at: int | None = None
        kernel_usable = True
        for index, cell in enumerate(self.nb.cells):
            try:
                self.nb_man.cell_start(cell, index)
                self.execute_cell(cell, index)
                self._seal_after(cell)
            except CellExecutionError as ex:
                if getattr(ex, "ename", "") == TIMEOUT_ENAME:
                    # the interrupt shows as KeyboardInterrupt; say first that it was the timeout
                    _add_error_output(self.nb.cells[index], ex.ename, ex.evalue, first=True)
                self.nb_man.cell_exception(self.nb.cells[index], cell_index=index, exception=ex)
                failed_at = index
                break
            except (CellTimeoutError, DeadKernelError) as ex:
                _add_error_output(self.nb.cells[index], type(ex).__name__, str(ex).strip())
                self.nb_man.cell_exception(self.nb.cells[index], cell_index=index, exception=ex)
                failed_at = index
                kernel_usable = False
                break
            finally:
                self.nb_man.cell_complete(self.nb.cells[index], cell_index=index)
        if failed_at is not None and kernel_usable:
            self._run_teardown_cells(after=failed_at)

    def _run_teardown_cells(self, after: int) -> None:
        for index in range(after + 1, len(self.nb.cells)):
            cell = self.nb.cells[index]
            if cell.cell_type != "code" or TEARDOWN_TAG not in cell.metadata.get("tags", []):
                continue
            self.log.warning("a cell failed: running teardown cell %d anyway", index + 1)
            try:
                self.nb_man.cell_start(cell, index)
                self.execute_cell(cell, index)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as ex:
                self.log.error("teardown cell %d failed: %s", index + 1, ex)
                if not isinstance(ex, CellExecutionError):
                    _add_error_output(cell, type(ex).__name__, str(ex).strip())
                    break
            finally:
                # keep the failed status of the original cell as the notebook's failure
                cell.metadata.papermill["exception"] = False
                self.nb_man.cell_complete(cell, cell_index=index)


def _add_error_output(cell: Any, ename: str, evalue: str, first: bool = False) -> None:
    output = nbformat.v4.new_output(
        "error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]
    )
    outputs = cell.setdefault("outputs", [])
    outputs.insert(0 if first else len(outputs), output)


class LabEngine(NBClientEngine):
    """NBClientEngine using :class:`LabNotebookClient`."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        kwargs.pop("input_path", None)
        kwargs.pop("timeout", None)
        kwargs.pop("startup_timeout", None)
        seal_dirs = kwargs.pop("seal_dirs", None)
        kernel_log: Path | None = kwargs.pop("kernel_log", None)
        from papermill.engines import logger

        client = LabNotebookClient(
            nb_man,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
            **kwargs,
        )
        client.seal_dirs = seal_dirs
        if kernel_log is None:
            return client.execute()
        # the kernel process's own stderr (ipykernel's logs, its complaints when it is torn
        # down after Ctrl-C) goes to a file; cell output still comes over the kernel protocol
        kernel_log.parent.mkdir(parents=True, exist_ok=True)
        with kernel_log.open("ab") as log_file:
            return client.execute(stderr=log_file)


def register() -> str:
    """Register the engine with papermill (idempotent); returns its name."""
    papermill_engines.register(ENGINE_NAME, LabEngine)
    return ENGINE_NAME
