"""Progress lines: where they go (printed, or through a file a relay copies to the terminal) and how they read."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from fashion_lib import progress


def test_without_the_environment_variable_lines_are_printed(monkeypatch, capsys) -> None:
    monkeypatch.delenv(progress.PROGRESS_FILE_ENV, raising=False)
    progress.emit("mlp trial 1/2: val_accuracy 80.00%")
    assert capsys.readouterr().out == "mlp trial 1/2: val_accuracy 80.00%\n"


def test_with_the_environment_variable_lines_are_appended_to_its_file(monkeypatch, capsys, tmp_path) -> None:
    path = tmp_path / "progress.log"
    monkeypatch.setenv(progress.PROGRESS_FILE_ENV, str(path))
    progress.emit("first")
    progress.emit("second\n")
    assert path.read_text() == "first\nsecond\n"
    assert capsys.readouterr().out == ""


def test_the_relay_copies_the_lines_of_a_child_process_and_cleans_up(monkeypatch) -> None:
    monkeypatch.delenv(progress.PROGRESS_FILE_ENV, raising=False)
    out = io.StringIO()
    # A child inherits the variable as a notebook kernel that papermill starts does.
    child = "from fashion_lib import progress\nfor k in range(3): progress.emit(f'trial {k}')"
    with progress.relay(out, prefix="> ") as path:
        assert os.environ[progress.PROGRESS_FILE_ENV] == str(path)
        subprocess.run([sys.executable, "-c", child], check=True, env=os.environ | {"PYTHONPATH": os.getcwd()})
    assert out.getvalue() == "> trial 0\n> trial 1\n> trial 2\n"
    assert not path.exists()
    assert progress.PROGRESS_FILE_ENV not in os.environ


def test_the_relay_restores_an_outer_progress_file(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(progress.PROGRESS_FILE_ENV, str(tmp_path / "outer.log"))
    with progress.relay(io.StringIO()):
        pass
    assert os.environ[progress.PROGRESS_FILE_ENV] == str(tmp_path / "outer.log")


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.4, "0 s"), (42.2, "42 s"), (210, "3.5 min"), (3900, "1 h 05 min"), (float("nan"), "?")]
)
def test_durations_read_in_seconds_minutes_or_hours(seconds: float, text: str) -> None:
    assert progress.format_duration(seconds) == text


def test_time_left_counts_the_remaining_trials_at_the_mean_duration() -> None:
    assert progress.search_time_left(mean_trial_s=30, trials_left=4) == 120
    # Two workers run two trials at a time: three rounds for five trials.
    assert progress.search_time_left(mean_trial_s=30, trials_left=5, parallel=2) == 90
    assert progress.search_time_left(mean_trial_s=30, trials_left=0) == 0


def test_time_left_under_a_budget() -> None:
    # At most the budget left plus the trial that may start just before it runs out ...
    assert progress.search_time_left(mean_trial_s=30, trials_left=10, budget_left_s=45) == 75
    # ... none once it is spent, unless initial trials must still run.
    assert progress.search_time_left(mean_trial_s=30, trials_left=10, budget_left_s=-5) == 0
    assert progress.search_time_left(mean_trial_s=30, trials_left=10, budget_left_s=-5, initial_trials_left=2) == 60


def test_a_trial_line_names_the_model_trial_score_best_duration_time_left_and_hyperparameters() -> None:
    line = progress.trial_line(
        model="cnn",
        number=3,
        max_trials=10,
        status="COMPLETED",
        score=0.8642,
        best=0.871,
        duration_s=41,
        time_left_s=306,
        hyperparameters={"conv_blocks": 2, "dropout": 0.123456, "optimizer": "adam"},
    )
    assert line == (
        "cnn trial 3/10: val_accuracy 86.42% (best 87.10%), 41 s, search ~5.1 min left"
        " | conv_blocks=2 dropout=0.123 optimizer=adam"
    )


def test_a_failed_trial_line_says_so() -> None:
    line = progress.trial_line(
        model="mlp",
        number=1,
        max_trials=2,
        status="FAILED",
        score=None,
        best=None,
        duration_s=3,
        time_left_s=3,
        hyperparameters={},
    )
    assert line.startswith("mlp trial 1/2: FAILED (best ?)")


@pytest.mark.parametrize(
    ("epochs", "expected"),
    [(1, {1}), (4, {1, 2, 3, 4}), (30, {1, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30}), (95, {1, 10, 20, 90, 95})],
)
def test_a_training_reports_the_first_and_last_epoch_and_about_ten_between(epochs: int, expected: set[int]) -> None:
    reported = progress.reporting_epochs(epochs)
    assert expected <= reported and len(reported) <= 12
