"""What the terminal shows of the processes a command starts: their own lines, not their start-up notices.

TensorFlow prints two lines at every import on CPUs where it turns oneDNN on (AVX-512 and AMX Intel CPUs, or
anywhere with TF_ENABLE_ONEDNN_OPTS=1), whatever TF_CPP_MIN_LOG_LEVEL says, and a Jupyter kernel warns that
it talks over TCP on loopback. Neither tells a user anything, so the report's notebook kernels write their
stderr to a file, and a relay copies every other line (real warnings and errors) to the terminal as it comes.

`--verbose` on `report` and `tune`, or FASHION_VERBOSE=1, shows everything as the processes print it.
Inside `termination_as_interrupt`, SIGTERM and SIGHUP stop a command as Ctrl-C does, so that what it started stops too.
This module imports neither TensorFlow nor Jupyter at import time: the command that uses it stays light.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from fashion_lib.progress import LineRelay

VERBOSE_ENV = "FASHION_VERBOSE"

# TensorFlow's C++ start-up notices: absl's line about its own logging, then log lines such as
# `I0000 00:00:1796289701.749961   13700 port.cc:153] oneDNN custom operations are on …`.
TENSORFLOW_NOTICE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+\.cc:\d+\] .*)$"
)
# A Jupyter kernel's notice that it listens on loopback TCP (the report's kernels never leave the machine).
KERNEL_TRANSPORT_NOTICE = re.compile(r"^\[IPKernelApp\] WARNING \| Kernel is running over TCP without encryption")


def is_startup_notice(line: str) -> bool:
    """Whether a line of a child's stderr is one of the start-up notices the terminal leaves out."""
    line = line.rstrip("\n")
    return bool(TENSORFLOW_NOTICE.match(line) or KERNEL_TRANSPORT_NOTICE.match(line))


def verbose() -> bool:
    """Whether the user asked to see everything (FASHION_VERBOSE set to anything but empty or 0)."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def kernel_manager_writing_stderr_to(stream: IO[Any]) -> type:
    """A kernel manager class for papermill's `kernel_manager_class`: its kernels write their stderr to `stream`."""
    from jupyter_client.manager import AsyncKernelManager

    class KernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            await super()._async_launch_kernel(kernel_cmd, **(kw | {"stderr": stream}))

    return KernelManager


@contextlib.contextmanager
def filtered_stderr(out: IO[str] | None = None) -> Iterator[IO[Any]]:
    """Inside: a file for a child's stderr, whose lines, start-up notices left out, a thread copies to `out`.

    `out` defaults to this process's stderr. On leaving, the last lines are copied and the file is removed.
    """
    descriptor, name = tempfile.mkstemp(prefix="fashion-stderr-", suffix=".log")
    path = Path(name)
    relay = LineRelay(path, out or sys.stderr, prefix="", keep=lambda line: not is_startup_notice(line))
    relay.start()
    try:
        with os.fdopen(descriptor, "w") as stream:
            yield stream
    finally:
        relay.stopped.set()
        relay.join()
        path.unlink(missing_ok=True)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def termination_as_interrupt() -> Iterator[None]:
    """Inside: SIGTERM and SIGHUP raise KeyboardInterrupt as Ctrl-C does, so that the command's clean-up runs.

    On SIGTERM's default a process would die at once and leave behind what it started: papermill's kernel,
    or the chief and workers of a local search, still computing.
    """
    previous = {signum: signal.signal(signum, _raise_interrupt) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow in this process with its start-up notices left out of stderr (kept when verbose).

    The notices come from TensorFlow's C++ libraries as they load, straight to file descriptor 2, so Python's
    sys.stderr cannot catch them: the descriptor points at a temporary file during the import, and the lines
    that are not notices (a real warning or error) are written to stderr afterwards. Commands call this once
    their arguments are checked, just before the work that needs TensorFlow.
    """
    if "tensorflow" in sys.modules or verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not is_startup_notice(line)))
            sys.stderr.flush()
