"""A distributed search on one machine: start its chief and workers, watch them, stop them; the `tune` command.

`run_local_search` runs the processes of fashion_lib.search.distributed (`python -m fashion_lib tune --role ...`)
on loopback and settles what Keras Tuner leaves to the user:

- A worker that dies in the middle of a trial leaves the trial RUNNING in the oracle. The oracle gives a
  worker that asks again under the same id the trial it was holding, so a dead worker is restarted under
  its id (at most `max_restarts` times) and the trial runs again from epoch 0. When no worker is left, the
  chief is sent `FINISH_SIGNAL`: it marks the trials that vanished workers still held FAILED and ends.
- Every process starts in its own process group, the kernel is asked to stop it if the supervisor dies,
  and all are stopped when `run_local_search` returns, fails or is interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from fashion_lib import progress, terminal
from fashion_lib.search.distributed import (
    CHIEF_FINISHED,
    CHIEF_ID,
    CHIEF_INCOMPLETE,
    FINISH_SIGNAL,
    POLL_S,
    TUNER_ENV_VARS,
    SearchSettings,
    default_directory,
    default_worker_id,
    parse_oracle_address,
    serve_chief,
    serve_worker,
)

LOOPBACK = "127.0.0.1"
# Seconds the supervisor waits, once no worker is left, for the chief to end by itself before asking it to.
FINISH_DELAY_S = 3.0
# Seconds a stopped process gets to exit after SIGTERM before it is killed.
STOP_GRACE_S = 15.0
# How a local search starts its chief and workers: the same command a user runs on another machine.
TUNE_COMMAND = ["-m", "fashion_lib", "tune"]


@dataclass
class _Process:
    """A process of a local search: its role ("chief" or a worker id), the process, its log and restarts."""

    role: str
    command: list[str]
    log: Path
    process: subprocess.Popen | None = None
    restarts: int = 0
    done: bool = False


def _die_with_parent() -> None:
    """In the child, before exec: have Linux send SIGTERM when the supervisor dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _child_environment(workers: int) -> dict[str, str]:
    """The supervisor's environment without stray KERASTUNER_* settings, sharing the cores between processes."""
    env = {key: value for key, value in os.environ.items() if key not in TUNER_ENV_VARS}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Each TensorFlow process would otherwise start one compute thread per core, and N workers would fight
    # over the same cores; splitting them keeps the machine's throughput.
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    env.setdefault("TF_NUM_INTRAOP_THREADS", threads)
    env.setdefault("OMP_NUM_THREADS", threads)
    return env


def _start(entry: _Process, env: dict[str, str]) -> None:
    """Start (or restart) a process in its own process group, appending to its log."""
    entry.log.parent.mkdir(parents=True, exist_ok=True)
    with entry.log.open("a") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(entry.command)}\n")
        log.flush()
        entry.process = subprocess.Popen(
            entry.command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def _signal_group(entry: _Process, signum: int) -> None:
    """Send `signum` to the process group of a running process (the process and anything it started)."""
    if entry.process is not None and entry.process.poll() is None:
        try:
            os.killpg(entry.process.pid, signum)
        except ProcessLookupError:
            pass


def _stop_all(entries: Sequence[_Process], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every running process group, wait up to `grace_s`, then SIGKILL what is left and reap all."""
    for entry in entries:
        _signal_group(entry, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for entry in entries:
        if entry.process is None:
            continue
        try:
            entry.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(entry, signal.SIGKILL)
            entry.process.wait()


def _last_line(log: Path) -> str:
    """The last non-empty line of a log that is not a start-up notice, for error messages."""
    try:
        lines = [
            line.strip()
            for line in log.read_text(errors="replace").splitlines()
            if line.strip() and not terminal.is_startup_notice(line)
        ]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def _wait_ready(chief: _Process, ready_file: Path, timeout_s: float) -> int:
    """The port the chief listens on, once it says so; ValueError if it exits or takes longer than `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready_file.is_file():
            return int(ready_file.read_text())
        assert chief.process is not None
        if chief.process.poll() is not None:
            raise ValueError(
                f"The chief exited with code {chief.process.returncode} before listening: "
                f"{_last_line(chief.log)} (log: {chief.log})"
            )
        time.sleep(POLL_S)
    raise ValueError(f"The chief did not start listening within {timeout_s:.0f} s (log: {chief.log}).")


def _how_it_ended(returncode: int) -> str:
    """'exited with code N' or 'was killed by SIGNAME', from a Popen return code."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def run_local_search(
    settings: SearchSettings,
    profile_name: str,
    overrides: Sequence[str] = (),
    *,
    directory: str | Path | None = None,
    workers: int = 2,
    resume: bool = False,
    max_restarts: int = 1,
    startup_timeout_s: float = 600.0,
    out: IO[str] | None = None,
) -> int:
    """Run a chief and `workers` workers on this machine (loopback, a free port) until the search ends.

    `settings` are those of the search the profile and its overrides give (fashion_lib.report.profiles reads them).
    Each process is `python -m fashion_lib tune --role ...` with the same profile and overrides, in its own
    process group, logging to `directory`/logs/<model>-<role>.log. A worker that dies before the search ends
    is restarted under its id (at most `max_restarts` times each) and reruns the trial it held; when no worker
    is left the chief is asked to finish. Every process is stopped when this returns or is interrupted.

    Returns:
        0 when the search ended (its trials table is printed), 1 when it ended early or a process failed.
    """
    out = out or sys.stdout
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"--workers must be an integer of at least 1, got {workers!r}.")
    if max_restarts < 0:
        raise ValueError(f"--max-restarts must be 0 or more, got {max_restarts}.")
    model = settings.model
    directory = Path(directory) if directory else default_directory(profile_name)
    logs = directory / "logs"
    ready_file = logs / f"{model}-chief.port"
    ready_file.unlink(missing_ok=True)
    base = [sys.executable, *TUNE_COMMAND, "--model", model, "--profile", profile_name]
    for override in overrides:
        base += ["--set", override]
    base += ["--directory", str(directory)]
    env = _child_environment(workers)
    chief = _Process(
        CHIEF_ID,
        base
        + ["--role", "chief", "--oracle", f"{LOOPBACK}:0", "--ready-file", str(ready_file)]
        + (["--resume"] if resume else []),
        logs / f"{model}-chief.log",
    )
    entries = [chief]
    # SIGTERM and SIGHUP stop the search as Ctrl-C does, so that the clean-up below runs.
    with terminal.termination_as_interrupt():
        try:
            _start(chief, env)
            port = _wait_ready(chief, ready_file, startup_timeout_s)
            assert chief.process is not None
            print(
                f"chief (pid {chief.process.pid}) serving the {model} search on {LOOPBACK}:{port}", file=out, flush=True
            )
            print(f"tuner folder: {directory / model}; logs: {logs}", file=out, flush=True)
            pool = []
            for index in range(workers):
                worker_id = f"tuner{index}"
                command = base + ["--role", "worker", "--oracle", f"{LOOPBACK}:{port}", "--worker-id", worker_id]
                pool.append(_Process(worker_id, command, logs / f"{model}-{worker_id}.log"))
            entries += pool
            for entry in pool:
                _start(entry, env)
                assert entry.process is not None
                print(f"worker {entry.role} (pid {entry.process.pid}) started", file=out, flush=True)
            chief_code = _supervise(chief, pool, env, max_restarts, out)
            # The chief ends only once every worker has been told to stop; give them time to exit on their own.
            deadline = time.monotonic() + STOP_GRACE_S
            for entry in pool:
                if entry.process is not None and entry.process.poll() is None:
                    try:
                        entry.process.wait(timeout=max(0.0, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        pass
        finally:
            # No second Ctrl-C may cut the clean-up short: children must not outlive this command.
            masked = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGTERM)}
            try:
                _stop_all(entries)
            finally:
                for signum, handler in masked.items():
                    signal.signal(signum, handler)
    return _report(settings, directory, chief_code, chief, out)


def _supervise(
    chief: _Process, pool: list[_Process], env: dict[str, str], max_restarts: int, out: IO[str]
) -> int | None:
    """Watch the processes until the chief exits: restart dead workers, ask the chief to finish when none is left."""
    assert chief.process is not None
    finish_sent_at: float | None = None
    all_done_at: float | None = None
    while chief.process.poll() is None:
        for entry in pool:
            assert entry.process is not None
            if entry.done or entry.process.poll() is None:
                continue
            code = entry.process.returncode
            if code == 0:
                # A worker exits 0 only when the chief told it that no trial is left.
                entry.done = True
                continue
            if entry.restarts < max_restarts:
                entry.restarts += 1
                _start(entry, env)
                print(
                    f"worker {entry.role} {_how_it_ended(code)} before the search ended; restarted "
                    f"(pid {entry.process.pid}, restart {entry.restarts} of {max_restarts}): "
                    "the trial it held runs again",
                    file=out,
                    flush=True,
                )
            else:
                entry.done = True
                # A worker that failed by itself said why last in its log; one that was killed did not.
                why = f": {_last_line(entry.log)}" if code > 0 else ""
                print(
                    f"worker {entry.role} {_how_it_ended(code)} and has no restart left{why} (log: {entry.log})",
                    file=out,
                    flush=True,
                )
        if all(entry.done for entry in pool):
            all_done_at = all_done_at or time.monotonic()
            # Usually the chief ends on its own within a moment; if a vanished worker still holds a trial, or
            # was never told to stop, it never would.
            if finish_sent_at is None and time.monotonic() - all_done_at > FINISH_DELAY_S:
                _signal_group(chief, FINISH_SIGNAL)
                finish_sent_at = time.monotonic()
            elif finish_sent_at is not None and time.monotonic() - finish_sent_at > 60:
                print("the chief did not end within 60 s of being asked to; stopping it", file=out, flush=True)
                return None
        time.sleep(POLL_S)
    return chief.process.returncode


def _report(settings: SearchSettings, directory: Path, chief_code: int | None, chief: _Process, out: IO[str]) -> int:
    """Print how the search ended and its trials; the command's exit code."""
    if chief_code is None:
        print(f"error: the chief did not end when asked to finish (log: {chief.log})", file=sys.stderr)
        return 1
    if chief_code not in (CHIEF_FINISHED, CHIEF_INCOMPLETE):
        print(
            f"error: the chief exited with code {chief_code}: {_last_line(chief.log)} (log: {chief.log})",
            file=sys.stderr,
        )
        return 1
    terminal.import_tensorflow_quietly()
    from fashion_lib.search import tuning

    try:
        result = tuning.load_search(directory, settings.model, settings.space)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    trials = result.trials
    counts = ", ".join(f"{count} {status.lower()}" for status, count in trials["status"].value_counts().items())
    if chief_code == CHIEF_INCOMPLETE:
        print(
            f"error: the search ended early, no worker being left: {len(trials)} of {settings.max_trials} trials "
            f"({counts}). Run the command again with --resume to finish it.",
            file=sys.stderr,
        )
        return 1
    print(f"Search finished: {len(trials)} trials ({counts}) in {directory / settings.model}", file=out)
    print(f"It stopped because {result.stop_description}.", file=out)
    print(trials.to_string(index=False), file=out)
    print(f"Best: trial {result.best_trial_id}, {result.best_hyperparameters}", file=out, flush=True)
    return 0


def tune(
    settings: SearchSettings,
    *,
    profile: str,
    overrides: Sequence[str] = (),
    directory: str | Path | None = None,
    workers: int | None = None,
    role: str | None = None,
    oracle: str | None = None,
    worker_id: str | None = None,
    resume: bool = False,
    max_restarts: int = 1,
    ready_file: str | Path | None = None,
) -> int:
    """The `tune` command: a local search with `workers` workers, or one process (`role`) of a wider search.

    `settings` are those of the search that `profile` and `overrides` give; the local search's processes are
    started with the same profile and overrides.
    """
    if role is None:
        if oracle or worker_id:
            raise ValueError("--oracle and --worker-id join a search spread over machines: pass --role too.")
        # The chief, which inherits the relay's environment variable, reports trials to this terminal.
        with progress.relay(prefix="  "):
            return run_local_search(
                settings,
                profile,
                overrides,
                directory=directory,
                workers=2 if workers is None else workers,
                resume=resume,
                max_restarts=max_restarts,
            )
    if role not in (CHIEF_ID, "worker"):
        raise ValueError(f"Unknown --role {role!r}; use chief or worker.")
    if workers is not None:
        raise ValueError("--workers starts a whole search on this machine; with --role this process is one part.")
    if not oracle:
        raise ValueError(f"--role {role} needs --oracle HOST:PORT (the chief's address).")
    host, port = parse_oracle_address(oracle, allow_any_port=role == CHIEF_ID)
    directory = Path(directory) if directory else default_directory(profile)
    terminal.import_tensorflow_quietly()
    if role == CHIEF_ID:
        return serve_chief(
            settings, directory=directory, host=host, port=port, overwrite=not resume, ready_file=ready_file
        )
    return serve_worker(settings, directory=directory, host=host, port=port, worker_id=worker_id or default_worker_id())
