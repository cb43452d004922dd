"""Progress lines of long steps (search trials, final-training epochs) and their way to the user's terminal.

A notebook that the report runs executes in a Jupyter kernel, whose standard output goes into the notebook,
not into the terminal of `python -m fashion_lib report`. So the report names a file in the environment
variable FASHION_PROGRESS_FILE, which the kernels it starts inherit; `emit` appends each line to that file,
and `relay` copies new lines to the terminal while the notebook runs. Without the variable (a notebook
opened in Jupyter, a script, a test) `emit` prints, and the lines appear where the code runs.

This module imports neither TensorFlow nor Keras, so that the report process stays light;
fashion_lib.search.monitoring produces the trial lines from Keras Tuner, fashion_lib.training.callbacks the
epoch lines from Keras.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

PROGRESS_FILE_ENV = "FASHION_PROGRESS_FILE"
# Seconds between two looks of the relay at the progress file.
RELAY_POLL_S = 0.5


def emit(line: str) -> None:
    """Send one progress line: appended to $FASHION_PROGRESS_FILE when it is set, else printed."""
    path = os.environ.get(PROGRESS_FILE_ENV)
    text = line.rstrip("\n")
    if not path:
        print(text, flush=True)
        return
    # One write of a short line to a file opened for appending lands whole, even with several writers (the
    # chief of a distributed search and the notebook's kernel never write at once, but nothing relies on it).
    with open(path, "a", encoding="utf-8") as file:
        file.write(text + "\n")


class LineRelay(threading.Thread):
    """Copies the complete lines appended to a file to `out` until stopped, then copies what is left.

    `keep` (default: every line) chooses the lines that are copied.
    """

    def __init__(self, path: Path, out: IO[str], prefix: str, keep: Callable[[str], bool] | None = None) -> None:
        super().__init__(name="progress-relay", daemon=True)
        self.path = path
        self.out = out
        self.prefix = prefix
        self.keep = keep or (lambda line: True)
        self.stopped = threading.Event()
        self._offset = 0
        self._partial = ""

    def _copy_new_lines(self) -> None:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as file:
                file.seek(self._offset)
                text = file.read()
                self._offset = file.tell()
        except FileNotFoundError:
            return
        # A line still being written waits for its end of line.
        *lines, self._partial = (self._partial + text).split("\n")
        lines = [line for line in lines if self.keep(line)]
        for line in lines:
            self.out.write(f"{self.prefix}{line}\n")
        if lines:
            self.out.flush()

    def run(self) -> None:
        while not self.stopped.wait(RELAY_POLL_S):
            self._copy_new_lines()
        self._copy_new_lines()
        if self._partial and self.keep(self._partial):
            self.out.write(f"{self.prefix}{self._partial}\n")
            self.out.flush()


@contextlib.contextmanager
def relay(out: IO[str] | None = None, *, prefix: str = "    ") -> Iterator[Path]:
    """Inside: progress lines of this process and of the processes it starts (kernels inherit the environment)
    go to a temporary file, whose new lines a thread copies to `out` (default: standard output) as they come.

    Yields the file's path. On leaving, the last lines are copied, the file is removed and the environment
    variable gets its previous value back.
    """
    descriptor, name = tempfile.mkstemp(prefix="fashion-progress-", suffix=".log")
    os.close(descriptor)
    path = Path(name)
    previous = os.environ.get(PROGRESS_FILE_ENV)
    os.environ[PROGRESS_FILE_ENV] = str(path)
    thread = LineRelay(path, out or sys.stdout, prefix)
    thread.start()
    try:
        yield path
    finally:
        thread.stopped.set()
        thread.join()
        if previous is None:
            os.environ.pop(PROGRESS_FILE_ENV, None)
        else:
            os.environ[PROGRESS_FILE_ENV] = previous
        path.unlink(missing_ok=True)


def format_duration(seconds: float) -> str:
    """A duration for a progress line: "42 s", "3.5 min", "1 h 05 min"."""
    if seconds is None or math.isnan(seconds):
        return "?"
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def format_value(value: Any) -> str:
    """A hyperparameter value in short: floats to 3 significant digits, the rest as they are."""
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def format_hyperparameters(values: Mapping[str, Any]) -> str:
    """`name=value` pairs separated by spaces, in the order given."""
    return " ".join(f"{name}={format_value(value)}" for name, value in values.items())


def format_accuracy(value: float | None) -> str:
    """An accuracy as a percentage with two decimals, "?" when there is none."""
    if value is None or math.isnan(value):
        return "?"
    return f"{value:.2%}"


def search_time_left(
    *,
    mean_trial_s: float,
    trials_left: int,
    parallel: int = 1,
    budget_left_s: float | None = None,
    initial_trials_left: int = 0,
) -> float:
    """Seconds a search has left: its remaining trials at the mean trial's duration, `parallel` at a time.

    With a time budget the search starts no new trial once the budget is spent, except the initial trials it
    must run anyway, so the estimate is at most the budget left plus one round of trials (those running when
    it runs out end normally), and at least the time the initial trials still need.
    """
    if trials_left <= 0:
        return 0.0
    parallel = max(1, parallel)
    rounds = math.ceil(trials_left / parallel)
    estimate = rounds * mean_trial_s
    if budget_left_s is None:
        return estimate
    initial = math.ceil(max(0, initial_trials_left) / parallel) * mean_trial_s
    capped = max(0.0, budget_left_s) + mean_trial_s if budget_left_s > 0 else 0.0
    return max(initial, min(estimate, capped))


def trial_line(
    *,
    model: str,
    number: int,
    max_trials: int,
    status: str,
    score: float | None,
    best: float | None,
    duration_s: float,
    time_left_s: float,
    hyperparameters: Mapping[str, Any],
) -> str:
    """One line for a finished search trial, e.g.
    `mlp trial 3/10: val_accuracy 86.40% (best 87.10%), 41 s, search ~5.1 min left | num_layers=2 ...`."""
    outcome = f"val_accuracy {format_accuracy(score)}" if status == "COMPLETED" else status
    return (
        f"{model} trial {number}/{max_trials}: {outcome} (best {format_accuracy(best)}), "
        f"{format_duration(duration_s)}, search ~{format_duration(time_left_s)} left"
        f" | {format_hyperparameters(hyperparameters)}"
    )


def epoch_line(
    *, model: str, epoch: int, epochs: int, val_accuracy: float | None, best: float | None, time_left_s: float
) -> str:
    """One line for an epoch of a final training, e.g.
    `mlp training epoch 12/60: val_accuracy 88.10% (best 88.40%), at most ~2.1 min left`."""
    return (
        f"{model} training epoch {epoch}/{epochs}: val_accuracy {format_accuracy(val_accuracy)} "
        f"(best {format_accuracy(best)}), at most ~{format_duration(time_left_s)} left"
    )


def reporting_epochs(epochs: int, lines: int = 10) -> set[int]:
    """The 1-based epochs a training of `epochs` epochs reports: the first, the last, and every few between,
    about `lines` in all."""
    every = max(1, math.ceil(epochs / lines))
    return {1, epochs} | set(range(every, epochs + 1, every))
