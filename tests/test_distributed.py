"""Distributed search: Keras Tuner's chief and workers on loopback, started and watched by the supervisor.

The searches run as real processes through `python -m fashion_lib tune`; every wait has a timeout, so a hung
chief fails the test instead of hanging it. Trials are tiny: 500 training images, two epochs each.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from fashion_lib.cli import main
from fashion_lib.report import profiles
from fashion_lib.search import distributed

# Seconds any one command of these tests may take before the test fails rather than hangs.
COMMAND_TIMEOUT_S = 240
MAX_TRIALS = 4


def _tune_command(directory: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "fashion_lib",
        "tune",
        "--model",
        "mlp",
        "--profile",
        "quick",
        "--set",
        "mlp.train_subset=500",
        "--set",
        f"mlp.max_trials={MAX_TRIALS}",
        "--directory",
        str(directory),
        *extra,
    ]


def _alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _read_json(path: Path) -> dict | None:
    """A JSON file that another process may be rewriting: None while it is missing or half-written."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("address", ["nonsense", "host:", ":8000", "host:port", "host:70000", "host:0", "10.0.0.1:-1"])
def test_bad_oracle_address_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        distributed.parse_oracle_address(address)


def test_oracle_address_parses_and_a_chief_may_ask_for_any_port() -> None:
    assert distributed.parse_oracle_address("10.0.0.5:8765") == ("10.0.0.5", 8765)
    assert distributed.parse_oracle_address("[::1]:8765") == ("::1", 8765)
    assert distributed.parse_oracle_address("0.0.0.0:0", allow_any_port=True) == ("0.0.0.0", 0)


@pytest.mark.parametrize("worker_id", ["", "my chief", "chief-2", "has space"])
def test_worker_ids_keras_tuner_would_misread_are_refused(worker_id: str) -> None:
    with pytest.raises(ValueError, match="--worker-id"):
        distributed.check_worker_id(worker_id)


def test_keras_tuner_still_has_the_internals_the_chief_is_built_from() -> None:
    # serve_chief uses three unexported pieces of keras-tuner, whose version pyproject.toml bounds. When a
    # release moves them, this test fails with the message a user of the chief would see.
    try:
        internals = distributed.chief_internals()
    except RuntimeError as error:
        pytest.fail(str(error))
    assert callable(internals.OracleServicer) and callable(internals.exit_chief)


def test_search_settings_come_from_the_profile_the_overrides_and_the_notebook() -> None:
    settings = profiles.search_settings("cnn", "quick", ["seed=7", "cnn.max_trials=5", "mlp.max_trials=9"])
    # max_trials from the cnn override, seed from the common one, train_subset from the profile's cnn
    # section, and batch_size, which the profile leaves out, from 03_cnn's own default.
    assert settings == distributed.SearchSettings(
        model="cnn",
        space="seed",
        max_trials=5,
        epochs_per_trial=2,
        num_initial_points=1,
        batch_size=128,
        seed=7,
        train_subset=5000,
        validation_fraction=0.1,
        search_subset=2000,
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--model", "rnn"], "Unknown model 'rnn'"),
        (["--model", "mlp", "--workers", "0"], "--workers must be an integer of at least 1"),
        (["--model", "mlp", "--role", "worker", "--oracle", "nowhere"], "is not HOST:PORT"),
        (["--model", "mlp", "--role", "chief"], "needs --oracle HOST:PORT"),
        (["--model", "mlp", "--role", "boss", "--oracle", "h:1"], "Unknown --role 'boss'"),
        (["--model", "mlp", "--role", "worker", "--oracle", "h:1", "--workers", "2"], "--workers starts"),
        (["--model", "mlp", "--set", "mlp.max_trials=0"], "mlp.max_trials = 0 is not allowed"),
        (["--model", "cnn", "--set", "cnn.search_subset=-1"], "cnn.search_subset = -1 is not allowed"),
    ],
)
def test_bad_tune_arguments_give_one_line_errors(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["tune", "--profile", "quick", "--directory", str(tmp_path), *arguments]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and message in error
    assert error.count("\n") == 1
    assert not any(tmp_path.iterdir()), "nothing may start before the arguments are checked"


def test_a_chief_asked_to_finish_fails_the_trials_of_vanished_workers(tmp_path: Path) -> None:
    from fashion_lib.search import tuning

    tuner = tuning.open_search(
        "mlp", "seed", directory=tmp_path, max_trials=3, num_initial_points=1, seed=1, overwrite=True
    )
    oracle = tuner.oracle
    finished = oracle.create_trial("tuner0")
    oracle.update_trial(finished.trial_id, {"val_accuracy": 0.5}, step=0)
    finished.status = "COMPLETED"
    oracle.end_trial(finished)
    orphan = oracle.create_trial("tuner1")
    assert set(oracle.ongoing_trials) == {"tuner1"}

    assert distributed._fail_orphaned_trials(oracle) == [orphan.trial_id]
    assert oracle.ongoing_trials == {} and oracle.tuner_ids == set()
    table = tuning.load_search(tmp_path, "mlp").trials.set_index("trial_id")
    assert table.loc[finished.trial_id, "status"] == "COMPLETED"
    assert table.loc[finished.trial_id, "score"] == 0.5
    assert table.loc[orphan.trial_id, "status"] == "FAILED"


@pytest.mark.slow
def test_local_search_survives_a_killed_worker_and_the_notebook_reuses_it(tmp_path: Path) -> None:
    """Two workers, one killed mid-trial: it restarts, the trial reruns, every trial completes exactly once."""
    from fashion_lib.report import execution
    from fashion_lib.results import read_results
    from fashion_lib.search import trials as search_results
    from fashion_lib.search import tuning

    directory = tmp_path / "tuner"
    process = subprocess.Popen(
        _tune_command(directory, "--workers", "2"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        pids: dict[str, int] = {}
        for line in process.stdout:
            output.append(line)
            if match := re.search(r"(chief|worker \S+) \(pid (\d+)\)", line):
                pids[match[1]] = int(match[2])
            if len(pids) == 3:
                break
        assert len(pids) == 3, "".join(output)
        oracle_file = directory / "mlp" / "oracle.json"
        log = directory / "logs" / "mlp-tuner0.log"
        # Kill tuner0 once it is training a trial: the oracle has handed it one and Keras printed an epoch.
        _wait_for(
            lambda: (
                "Epoch 1/" in log.read_text()
                and "tuner0" in ((_read_json(oracle_file) or {}).get("ongoing_trials") or {})
            ),
            COMMAND_TIMEOUT_S,
            "tuner0 to train a trial",
        )
        before = _read_json(oracle_file)
        assert before is not None
        killed_trial = before["ongoing_trials"]["tuner0"]
        finished_before = {
            trial_id: _read_json(directory / "mlp" / f"trial_{trial_id}" / "trial.json")
            for trial_id in before["end_order"]
        }
        os.kill(pids["worker tuner0"], signal.SIGKILL)
        remaining, _ = process.communicate(timeout=COMMAND_TIMEOUT_S)
        output.append(remaining)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = "".join(output)
    assert process.returncode == 0, text
    assert "worker tuner0 was killed by SIGKILL before the search ended; restarted" in text
    assert f"Search finished: {MAX_TRIALS} trials ({MAX_TRIALS} completed)" in text
    # The chief reported each trial once, as it ended, to the command's terminal, and said why the search stopped.
    assert len(re.findall(r"^  mlp trial \d+/\d+: val_accuracy ", text, re.MULTILINE)) == MAX_TRIALS
    assert "It stopped because it had run all the trials it was given (max_trials)." in text
    # No process of the search outlives the command, the restarted worker included.
    assert not any(_alive(pid) for pid in pids.values())
    for pid in re.findall(r"restarted \(pid (\d+)", text):
        assert not _alive(int(pid))

    result = tuning.load_search(directory, "mlp")
    trials = result.trials
    assert len(trials) == MAX_TRIALS and trials["trial_id"].is_unique
    assert (trials["status"] == "COMPLETED").all()
    state = json.loads((directory / "mlp" / "oracle.json").read_text())
    # Each trial ended once, and each epoch's score was reported once: the killed run reported nothing.
    assert state["run_times"] == {trial_id: 1 for trial_id in trials["trial_id"]}
    assert state["ongoing_trials"] == {}
    for trial_id in trials["trial_id"]:
        trial = json.loads((directory / "mlp" / f"trial_{trial_id}" / "trial.json").read_text())
        observations = trial["metrics"]["metrics"]["val_accuracy"]["observations"]
        # Keras Tuner reports a trial once, at its end, with its best epoch; a second run would add a value.
        assert [len(observation["value"]) for observation in observations] == [1]
    assert killed_trial in set(trials["trial_id"])
    # What had finished before the kill is unchanged.
    for trial_id, trial in finished_before.items():
        assert json.loads((directory / "mlp" / f"trial_{trial_id}" / "trial.json").read_text()) == trial
    # The best hyperparameters are those of the table's best row.
    best_row = trials.set_index("trial_id").loc[result.best_trial_id]
    assert best_row["score"] == trials["score"].max()
    hyperparameters = best_row.drop(search_results.TRIAL_COLUMNS[1:])
    assert result.best_hyperparameters == pytest.approx(hyperparameters[hyperparameters.notna()].to_dict())
    assert f"Best: trial {result.best_trial_id}," in text

    # The MLP notebook reuses the search instead of running one, and trains its best configuration.
    run_dir = tmp_path / "run"
    execution.execute_notebook(
        "02_mlp",
        tmp_path / "02_mlp.ipynb",
        {
            "profile": "distributed-test",
            "run_dir": str(run_dir),
            "train_subset": 500,
            "final_epochs": 1,
            "tuner_dir": str(directory),
        },
    )
    recorded = read_results(run_dir)["models"]["mlp"]
    assert recorded["best_hyperparameters"] == pytest.approx(result.best_hyperparameters)
    assert recorded["trials"] == MAX_TRIALS
    pd.testing.assert_frame_equal(tuning.load_search(run_dir / "tuner", "mlp").trials, trials)
    executed = (tmp_path / "02_mlp.ipynb").read_text()
    assert "This run did not search" in executed


@pytest.mark.slow
def test_interrupting_the_command_stops_every_process_it_started(tmp_path: Path) -> None:
    # A search far too long to finish before the signal, however fast the machine (a later --set wins).
    long_search = ("--set", "mlp.max_trials=100", "--set", "mlp.epochs_per_trial=50")
    process = subprocess.Popen(
        _tune_command(tmp_path / "tuner", "--workers", "2", *long_search),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A test run started in the background (`make test &`) inherits an ignored SIGINT; Ctrl-C is what
        # this test sends, so the command gets SIGINT's default disposition, as in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    pids: list[int] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            pids += [int(pid) for pid in re.findall(r"\(pid (\d+)\)", line)]
            if len(pids) == 3:
                break
        assert len(pids) == 3
        process.send_signal(signal.SIGINT)
        remaining, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, remaining
    assert "interrupted" in remaining
    assert not any(_alive(pid) for pid in pids)
