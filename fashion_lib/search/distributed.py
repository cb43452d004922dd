"""The processes of a distributed hyperparameter search: the chief that holds the oracle, and the workers.

The search runs on Keras Tuner's own distributed mode. One chief process holds the oracle (the Bayesian
optimiser and the trials) and answers over gRPC; workers ask it for trials, train them and report back.
Three environment variables wire them together: KERASTUNER_TUNER_ID ("chief", or a worker's own id),
KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT. Every process writes to the same tuner folder.
`fashion_lib.search.supervisor` starts and watches these processes on one machine.

What Keras Tuner's own chief leaves open, and `serve_chief` settles:

- It looks every 20 s whether it may stop and has no clean way to be interrupted; `serve_chief` looks five
  times a second, and on SIGINT or SIGTERM saves the oracle and exits, leaving trials that were running as
  RUNNING, which a resumed search (`--resume`) runs again.
- A worker that dies in the middle of a trial leaves the trial RUNNING, and the chief would wait for it
  forever. On `FINISH_SIGNAL` (SIGUSR1) the chief marks the trials that vanished workers still held FAILED
  and ends. Finished trials are on disk already (the oracle saves after every trial), so nothing is lost.

Serving the oracle needs three pieces Keras Tuner does not export (its gRPC service, the servicer and the
check that every worker was told to stop); `chief_internals` imports them, and `keras-tuner`'s version is
bounded in pyproject.toml so that a release that moves them is not installed unnoticed.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

from fashion_lib import config
from fashion_lib.storage import atomic_write_text

CHIEF_ID = "chief"
# Sent by the supervisor of a local search (or by hand: `kill -USR1 <chief pid>`) when no worker is left: the
# chief marks the trials that vanished workers still held FAILED and ends the search.
FINISH_SIGNAL = signal.SIGUSR1
# Exit codes of a chief: the search ended (every trial it handed out ended), it ended before it had handed
# out all its trials (no worker was left), or it was interrupted (trials that were running stay RUNNING).
CHIEF_FINISHED = 0
CHIEF_INCOMPLETE = 3
INTERRUPTED = 130
# Seconds between the chief's checks for the end of the search.
POLL_S = 0.2
TUNER_ENV_VARS = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


def chief_internals() -> SimpleNamespace:
    """Keras Tuner's unexported chief pieces: `protos`, `OracleServicer` and `exit_chief`.

    Raises:
        RuntimeError: the installed keras-tuner no longer has them where version 1.4 keeps them.
    """
    try:
        from keras_tuner.src import protos
        from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief

        protos.get_service_grpc().add_OracleServicer_to_server  # noqa: B018 -- the one piece used from protos
    except (ImportError, AttributeError) as error:
        import keras_tuner

        raise RuntimeError(
            f"keras-tuner {keras_tuner.__version__} has moved the internals its chief is built from ({error}); "
            "the distributed search was written for keras-tuner 1.4. Install the version pyproject.toml names "
            "(pip install 'keras-tuner>=1.4.7,<1.5'), or port fashion_lib.search.distributed.serve_chief."
        ) from error
    return SimpleNamespace(protos=protos, OracleServicer=OracleServicer, exit_chief=exit_chief)


@dataclass(frozen=True)
class SearchSettings:
    """The parameters of one model's search, as a profile (and its overrides) gives them to the notebook.

    `fashion_lib.report.profiles.search_settings` reads them from a profile.
    """

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
        if self.model not in config.MODEL_NAMES:
            raise ValueError(f"Unknown model {self.model!r}; use one of {', '.join(config.MODEL_NAMES)}.")
        if self.space not in config.SEARCH_SPACES:
            raise ValueError(f"Unknown search_space {self.space!r}; use one of {', '.join(config.SEARCH_SPACES)}.")
        for name in ("max_trials", "epochs_per_trial", "num_initial_points", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{self.model}.{name} must be at least 1, got {getattr(self, name)}.")
        if self.seed == 0:
            raise ValueError("seed must not be 0: Keras Tuner's oracle reads 0 as 'no seed'.")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must lie strictly between 0 and 1, got {self.validation_fraction}.")


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
    import keras_tuner

    # The search is ending: a run of failures must not make Keras Tuner raise before it has saved them.
    oracle.max_consecutive_failed_trials = None
    failed = []
    for tuner_id, trial in list(oracle.ongoing_trials.items()):
        trial.status = keras_tuner.engine.trial.TrialStatus.FAILED
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
    from sklearn.exceptions import ConvergenceWarning

    from fashion_lib import seeding
    from fashion_lib.search import tuning

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
    internals = chief_internals()
    servicer = internals.OracleServicer(oracle)
    # One server thread, as Keras Tuner's own chief has: the oracle handles one request at a time anyway.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    internals.protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
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
                if servicer.stop_triggered and internals.exit_chief(oracle):
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
    from fashion_lib.data import prepare_splits, stratified_subset
    from fashion_lib.search import tuning

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
