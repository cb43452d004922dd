"""One notebook of a report executed through papermill: its kernel, what the terminal shows of it, how it stops."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fashion_lib import config, progress, storage, terminal


class NotebookFailed(RuntimeError):
    """A notebook raised an error while the report was running."""


def _kernel_name() -> str:
    """The project's kernel when registered (`make setup`), else the current interpreter's."""
    from jupyter_client.kernelspec import KernelSpecManager

    return config.KERNEL_NAME if config.KERNEL_NAME in KernelSpecManager().find_kernel_specs() else "python3"


def execute_notebook(notebook: str, output: Path, parameters: dict[str, Any]) -> None:
    """Run one notebook with papermill; a failing cell raises NotebookFailed naming the notebook and cell.

    The library's progress lines (search trials, training epochs) come to this terminal as the kernel
    sends them, in place of papermill's bar of executed cells; of the kernel's stderr, every line but the
    start-up notices of TensorFlow and Jupyter (all of it with FASHION_VERBOSE=1, `report --verbose`).
    """
    import papermill

    # TensorFlow's C++ info and warning logs stay out of the notebooks; the few notices it prints before its
    # logging starts ignore this setting: the terminal and the rendered pages leave them out.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with progress.relay(), contextlib.ExitStack() as stack:
            kernel_options = {}
            if not terminal.verbose():
                stderr = stack.enter_context(terminal.filtered_stderr())
                kernel_options["kernel_manager_class"] = terminal.kernel_manager_writing_stderr_to(stderr)
            papermill.execute_notebook(
                str(config.NOTEBOOKS_DIR / f"{notebook}.ipynb"),
                str(output),
                parameters=parameters,
                kernel_name=_kernel_name(),
                progress_bar=False,
                cwd=str(config.NOTEBOOKS_DIR),
                **kernel_options,
            )
    except papermill.PapermillExecutionError as error:
        raise NotebookFailed(
            f"{notebook}.ipynb failed in cell {error.exec_count} with {error.ename}: {error.evalue}. "
            f"Its executed copy, error included, is kept at {output}; earlier results are untouched."
        ) from None


def run_notebook(notebook: str, output: Path, parameters: dict[str, Any]) -> None:
    """Execute a notebook as the report does: Ctrl-C ends its kernel at once, a failed write leaves no cut-off copy.

    Raises:
        NotebookFailed: a cell raised an error. OSError: a write failed (a full disk names the executed copy).
    """
    try:
        with _kernels_end_at_once():
            execute_notebook(notebook, output, parameters)
    except BaseException as error:
        _remove_invalid_notebook(output)
        if isinstance(error, OSError) and error.filename is None and error.errno in storage.NO_SPACE:
            # This process writes only the executed copy (the kernel writes the rest): name it.
            error.filename = str(output)
        raise


def peak_memory_mib() -> float:
    """The largest resident set of any finished child process of this command: the notebook kernels."""
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def _remove_invalid_notebook(path: Path) -> None:
    """Delete an executed notebook that a failed write (a full disk) left cut off, so that no invalid JSON stays."""
    try:
        json.loads(path.read_bytes())
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        path.unlink(missing_ok=True)


def _end_child_sessions() -> None:
    """Kill the process groups that this process's children lead in sessions of their own: the notebook kernels."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # After the command name (which may hold spaces): state, parent id, process group, session.
            _, parent, _, session = stat.read_text().rsplit(")", 1)[1].split()[:4]
        except (OSError, ValueError):
            continue
        pid = int(stat.parent.name)
        if int(parent) == os.getpid() and int(session) == pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


@contextlib.contextmanager
def _kernels_end_at_once() -> Iterator[None]:
    """Inside: Ctrl-C (and SIGTERM, SIGHUP) ends the notebook kernel at once, then stops the run as Ctrl-C does.

    Left to papermill, the kernel would be asked to shut down while its cell still runs, and it prints a ZMQError
    traceback when the cell's reply finds its sockets closed; the interrupted run resumes from the files on disk,
    so nothing is lost by ending the kernel outright.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        _end_child_sessions()
        raise KeyboardInterrupt

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, stop) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
