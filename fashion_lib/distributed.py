"""Scaling out: a hyperparameter search spread over processes or machines, and training on several devices.

The search runs on Keras Tuner's own distributed mode. One chief process holds the oracle (the Bayesian
optimiser and the trials) and answers over gRPC; workers ask it for trials, train them and report back.
Three environment variables wire them together: KERASTUNER_TUNER_ID ("chief", or a worker's own id),
KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT. Every process writes to the same tuner folder.

What Keras Tuner leaves open, and this module settles:

- A worker that dies in the middle of a trial leaves the trial RUNNING in the oracle, and Keras Tuner's
  chief then waits for it forever. The oracle gives a worker that asks again under the same id the trial
  it was holding, so `run_local_search` restarts a dead worker under its id (at most `max_restarts` times
  per worker) and the trial runs again from epoch 0. When no worker is left, it sends the chief
  `FINISH_SIGNAL` (SIGUSR1): the chief marks the trials that vanished workers still held FAILED and ends.
  Finished trials are on disk already (the oracle saves after every trial), so nothing finished is lost.
- Keras Tuner's chief looks every 20 s whether it may stop and has no clean way to be interrupted;
  `serve_chief` looks five times a second, and on SIGINT or SIGTERM saves the oracle and exits, leaving
  trials that were running as RUNNING, which a resumed search (`--resume`) runs again.
- `run_local_search` starts its processes in their own process groups, asks the kernel to stop them if it
  dies itself, and stops them all when it returns, fails or is interrupted.

The final training can run on several devices: `training_strategy` gives a MirroredStrategy when more than
one GPU is present (or when asked), and `global_batch_size` scales the batch to the number of replicas.
"""

from __future__ import annotations

import ast
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from fashion_lib import config, progress
from fashion_lib.storage import atomic_write_text

# fashion_lib.models' MODEL_NAMES and SPACES, repeated so that the supervisor of a local search, which
# trains nothing, does not spend seconds importing TensorFlow (a test keeps them equal).
MODELS = ("mlp", "cnn")
SPACES = ("seed", "extended")
CHIEF_ID = "chief"
LOOPBACK = "127.0.0.1"
# Sent by `run_local_search` (or by hand: `kill -USR1 <chief pid>`) when no worker is left: the chief marks
# the trials that vanished workers still held FAILED and ends the search.
FINISH_SIGNAL = signal.SIGUSR1
# Exit codes of a chief: the search ended (every trial it handed out ended), it ended before it had handed
# out all its trials (no worker was left), or it was interrupted (trials that were running stay RUNNING).
CHIEF_FINISHED = 0
CHIEF_INCOMPLETE = 3
INTERRUPTED = 130
# Seconds between the chief's checks for the end of the search, and between the supervisor's checks.
POLL_S = 0.2
# Seconds the supervisor waits, once no worker is left, for the chief to end by itself before asking it to.
FINISH_DELAY_S = 3.0
# Seconds a stopped process gets to exit after SIGTERM before it is killed.
STOP_GRACE_S = 15.0
TUNER_ENV_VARS = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
# How a local search starts its chief and workers: the same command a user runs on another machine.
TUNE_COMMAND = ["-m", "fashion_lib", "tune"]


@dataclass(frozen=True)
class SearchSettings:
    """The parameters of one model's search, as a profile (and its overrides) gives them to the notebook."""

    model: str
    space: str
    max_trials: int
    epochs_per_trial: int
    num_initial_points: int
    batch_size: int
    seed: int
    train_subset: int
    validation_fraction: float
    search_subset: int = 0
    search_minutes: float = 0.0

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"Unknown model {self.model!r}; use one of {', '.join(MODELS)}.")
        if self.space not in SPACES:
            raise ValueError(f"Unknown search_space {self.space!r}; use one of {', '.join(SPACES)}.")
        for name in ("max_trials", "epochs_per_trial", "num_initial_points", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{self.model}.{name} must be at least 1, got {getattr(self, name)}.")
        if self.seed == 0:
            raise ValueError("seed must not be 0: Keras Tuner's oracle reads 0 as 'no seed'.")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must lie strictly between 0 and 1, got {self.validation_fraction}.")


def notebook_defaults(notebook: str) -> dict[str, Any]:
    """The default values of a notebook's `parameters` cell, as Python values."""
    import papermill

    inspected = papermill.inspect_notebook(str(config.NOTEBOOKS_DIR / f"{notebook}.ipynb"))
    return {name: ast.literal_eval(info["default"]) for name, info in inspected.items()}


def search_settings(model: str, profile_name: str, overrides: Sequence[str] = ()) -> SearchSettings:
    """The search parameters of `model` ("mlp" or "cnn") in a profile, with `key=value` overrides applied.

    The values are those the model's notebook would run with: its own defaults, then the profile's common
    `parameters:` and the model's section, then the overrides; they are checked as the report checks them.
    """
    from fashion_lib import pipeline

    notebooks = {section: notebook for section, notebook, _ in pipeline.NOTEBOOKS}
    if model not in MODELS:
        raise ValueError(f"Unknown model {model!r}; use one of {', '.join(MODELS)}.")
    profile = pipeline.apply_overrides(pipeline.load_profile(profile_name), list(overrides))
    parameters = pipeline.notebook_parameters(profile, profile_name=profile_name, run_dir=config.run_dir(profile_name))[
        notebooks[model]
    ]
    values = notebook_defaults(notebooks[model]) | parameters
    return SearchSettings(
        model=model,
        space=values["search_space"],
        max_trials=int(values["max_trials"]),
        epochs_per_trial=int(values["epochs_per_trial"]),
        num_initial_points=int(values["num_initial_points"]),
        batch_size=int(values["batch_size"]),
        seed=int(values["seed"]),
        train_subset=int(values["train_subset"]),
        validation_fraction=float(values["validation_fraction"]),
        search_subset=int(values["search_subset"]),
        # Notebooks from before the time budget have no search_minutes: no limit.
        search_minutes=float(values.get("search_minutes", 0.0)),
    )


def parse_oracle_address(address: str, *, allow_any_port: bool = False) -> tuple[str, int]:
    """HOST:PORT as (host, port); port 0 (any free port) only with `allow_any_port` (a chief's)."""
    host, separator, port_text = str(address).rpartition(":")
    host = host.strip("[]")
    lowest = 0 if allow_any_port else 1
    if not separator or not host or not port_text.isdigit() or not lowest <= int(port_text) <= 65535:
        raise ValueError(
            f"--oracle {address!r} is not HOST:PORT with a port in {lowest}-65535 "
            "(e.g. 10.0.0.5:8765; a chief may listen on 0.0.0.0:8765)."
        )
    return host, int(port_text)


def tuner_environment(tuner_id: str, host: str, port: int) -> dict[str, str]:
    """The three environment variables through which Keras Tuner's distributed mode finds its chief."""
    return {"KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": str(port)}


def check_worker_id(worker_id: str) -> str:
    """A worker id Keras Tuner accepts: non-empty, without whitespace, and without "chief" in it."""
    if not worker_id or any(c.isspace() for c in worker_id) or CHIEF_ID in worker_id:
        raise ValueError(
            f"Worker id {worker_id!r} is not usable: it must be non-empty, without spaces, and must not contain "
            f"{CHIEF_ID!r} (Keras Tuner would take the worker for the chief). Pass another with --worker-id."
        )
    return worker_id


def default_worker_id() -> str:
    """This machine's name and this process's id: unique across the machines of a search."""
    return check_worker_id(f"{socket.gethostname()}-{os.getpid()}")


def default_directory(profile_name: str) -> Path:
    """The tuner folder a profile's notebooks use: runs/<profile>/tuner."""
    return config.run_dir(profile_name) / "tuner"


class _Signals:
    """Record SIGINT/SIGTERM (stop) and FINISH_SIGNAL (finish) for a loop to act on; restore on exit."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.event = threading.Event()
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        # A stop outranks a finish request that came before it.
        self.reason = "finish" if signum == FINISH_SIGNAL and self.reason is None else "interrupt"
        self.event.set()

    def __enter__(self) -> _Signals:
        for signum in (signal.SIGINT, signal.SIGTERM, FINISH_SIGNAL):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        # A finish request that arrives while the chief is already ending must not kill it (SIGUSR1's
        # default action), so it stays ignored for the rest of the process.
        signal.signal(FINISH_SIGNAL, signal.SIG_IGN)


def _fail_orphaned_trials(oracle: Any) -> list[str]:
    """Mark FAILED the trials still held by workers that are gone, and forget those workers; returns their ids."""
    from keras_tuner.src.engine import trial as trial_module

    # The search is ending: a run of failures must not make Keras Tuner raise before it has saved them.
    oracle.max_consecutive_failed_trials = None
    failed = []
    for tuner_id, trial in list(oracle.ongoing_trials.items()):
        trial.status = trial_module.TrialStatus.FAILED
        trial.message = f"Its worker {tuner_id} exited before finishing it."
        oracle.end_trial(trial)
        failed.append(trial.trial_id)
    oracle.tuner_ids.clear()
    return failed


def serve_chief(
    settings: SearchSettings,
    *,
    directory: str | Path,
    host: str,
    port: int,
    overwrite: bool = True,
    ready_file: str | Path | None = None,
    out: IO[str] | None = None,
) -> int:
    """Hold the search's oracle and answer its workers until the search ends; returns the chief's exit code.

    Listens on host:port (port 0: a free port, written to `ready_file` once listening). With overwrite=False
    an earlier search in `directory`/`settings.model` resumes. Ends with CHIEF_FINISHED when every trial has
    ended, CHIEF_INCOMPLETE when asked to finish (FINISH_SIGNAL) before all trials were handed out, and
    INTERRUPTED on SIGINT/SIGTERM. The oracle is saved in every case.
    """
    out = out or sys.stdout
    os.environ.update(tuner_environment(CHIEF_ID, host, port))
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief
    from sklearn.exceptions import ConvergenceWarning

    from fashion_lib import seeding, tuning

    # The Gaussian process of the Bayesian oracle, fitted here, warns about length scales at their bounds in
    # small searches; that says nothing about the search and would bury the chief's log.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    seeding.set_global_seed(settings.seed)
    tuner = tuning.open_search(
        settings.model,
        settings.space,
        directory=directory,
        max_trials=settings.max_trials,
        num_initial_points=settings.num_initial_points,
        seed=settings.seed,
        overwrite=overwrite,
    )
    oracle = tuner.oracle
    # The budget's clock starts now; the chief reports each trial its workers finish (fashion_lib.progress).
    oracle.start_search(search_minutes=settings.search_minutes, report_progress=True)
    tuner.save()
    servicer = OracleServicer(oracle)
    # One server thread, as Keras Tuner's own chief has: the oracle handles one request at a time anyway.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound_port = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound_port = 0
    if not bound_port:
        raise ValueError(f"The chief cannot listen on {host}:{port}: the port is taken or the address is not local.")
    with _Signals() as signals:
        server.start()
        print(f"Oracle of the {settings.model} search listening on {host}:{bound_port}", file=out, flush=True)
        if ready_file:
            atomic_write_text(ready_file, str(bound_port))
        try:
            while True:
                if servicer.stop_triggered and exit_chief(oracle):
                    break
                if signals.reason is not None:
                    break
                signals.event.wait(POLL_S)
        finally:
            # A short grace lets a worker's last report of a finished trial complete.
            server.stop(grace=2).wait()
    reason = signals.reason
    if reason == "finish":
        failed = _fail_orphaned_trials(oracle)
        if failed:
            print(f"Trials {', '.join(failed)} FAILED: their workers exited before finishing them.", file=out)
    tuner.save()
    if reason == "interrupt":
        print("Interrupted: trials that were running stay RUNNING and run again on --resume.", file=out, flush=True)
        return INTERRUPTED
    print("Search ended." if servicer.stop_triggered else "Search ended early: no worker left.", file=out, flush=True)
    return CHIEF_FINISHED if servicer.stop_triggered else CHIEF_INCOMPLETE


def serve_worker(settings: SearchSettings, *, directory: str | Path, host: str, port: int, worker_id: str) -> int:
    """Load the profile's data split and run trials for the chief at host:port until it has none left."""
    os.environ.update(tuner_environment(check_worker_id(worker_id), host, port))
    from fashion_lib import tuning
    from fashion_lib.data import prepare_splits, stratified_subset

    # Every process of the search draws the same validation split and training subsets from the same seed,
    # as the model's notebook does.
    splits = prepare_splits(
        seed=settings.seed, validation_fraction=settings.validation_fraction, train_subset=settings.train_subset
    )
    search_x, search_y = stratified_subset(
        splits.train_x, splits.train_y, settings.search_subset or None, seed=settings.seed
    )
    tuning.run_worker(
        settings.model,
        search_x,
        search_y,
        splits.val_x,
        splits.val_y,
        directory=directory,
        space=settings.space,
        epochs_per_trial=settings.epochs_per_trial,
        batch_size=settings.batch_size,
        seed=settings.seed,
        # One line per epoch: progress bars would fill the log file with carriage returns.
        verbose=2,
    )
    return 0


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
    """The last non-empty line of a log, for error messages."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
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


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_local_search(
    model: str,
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
    settings = search_settings(model, profile_name, overrides)
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
    previous = {signum: signal.signal(signum, _raise_interrupt) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        _start(chief, env)
        port = _wait_ready(chief, ready_file, startup_timeout_s)
        assert chief.process is not None
        print(f"chief (pid {chief.process.pid}) serving the {model} search on {LOOPBACK}:{port}", file=out, flush=True)
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
            for signum, handler in {**previous, **masked}.items():
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
    from fashion_lib import tuning

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
    *,
    model: str,
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
    """The `tune` command: a local search with `workers` workers, or one process (`role`) of a wider search."""
    if role is None:
        if oracle or worker_id:
            raise ValueError("--oracle and --worker-id join a search spread over machines: pass --role too.")
        # The chief, which inherits the relay's environment variable, reports trials to this terminal.
        with progress.relay(prefix="  "):
            return run_local_search(
                model,
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
    settings = search_settings(model, profile, overrides)
    directory = Path(directory) if directory else default_directory(profile)
    if role == CHIEF_ID:
        return serve_chief(
            settings, directory=directory, host=host, port=port, overwrite=not resume, ready_file=ready_file
        )
    return serve_worker(settings, directory=directory, host=host, port=port, worker_id=worker_id or default_worker_id())


def training_strategy(force_mirrored: bool = False) -> Any:
    """MirroredStrategy over every GPU when there are several (or over every device when asked), else the default.

    Without GPUs, `force_mirrored` mirrors over the CPU devices TensorFlow sees (one, unless logical devices
    were configured). Build and compile the model inside `strategy.scope()`.
    """
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1 or force_mirrored:
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[device.name for device in devices])
    return tf.distribute.get_strategy()


def global_batch_size(per_replica_batch_size: int, strategy: Any) -> int:
    """The batch size to give Keras: each replica's batch times the number of replicas in sync."""
    if per_replica_batch_size < 1:
        raise ValueError(f"The batch size per replica must be at least 1, got {per_replica_batch_size}.")
    return int(per_replica_batch_size) * int(strategy.num_replicas_in_sync)
