"""Watching searches: trial lines, the search's time budget and why it stopped, TensorBoard's logs."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from fashion_lib import progress
from fashion_lib.search import monitoring
from fashion_lib.search.tuning import SearchResult, load_search

FIXED_COLUMNS = ["trial_id", "status", "score", "best_epoch", "duration_s"]
TRIAL_LINE = re.compile(r"^mlp trial (\d+)/(\d+): val_accuracy ([\d.]+)% \(best ([\d.]+)%\), .* left \| (.*)$")


@pytest.fixture(scope="module")
def watched_search(tmp_path_factory: pytest.TempPathFactory, tiny_search: Callable[..., SearchResult]) -> dict:
    """A two-trial MLP search with progress lines (through the relay, as in a report) and TensorBoard logs."""
    root = tmp_path_factory.mktemp("watched")
    out = io.StringIO()
    with progress.relay(out, prefix=""):
        result = tiny_search(root / "tuner", tensorboard_dir=root / "tensorboard")
    return {"result": result, "lines": out.getvalue().splitlines(), "tensorboard": root / "tensorboard", "root": root}


def _hyperparameters(row: pd.Series) -> dict:
    return {name: value for name, value in row.items() if name not in FIXED_COLUMNS and not pd.isna(value)}


@pytest.mark.slow
def test_one_line_per_trial_with_its_score_and_the_best_so_far(watched_search: dict) -> None:
    trials = watched_search["result"].trials
    *trial_lines, last = watched_search["lines"]
    matches = [TRIAL_LINE.match(line) for line in trial_lines]
    assert all(matches), watched_search["lines"]
    assert re.match(r"mlp search stopped after 2 of 2 trials in .*: it had run all the trials", last)
    assert [(int(m[1]), int(m[2])) for m in matches] == [(1, 2), (2, 2)]
    assert [float(m[3]) for m in matches] == pytest.approx(list(100 * trials["score"]), abs=0.006)
    assert [float(m[4]) for m in matches] == pytest.approx(list(100 * trials["score"].cummax()), abs=0.006)
    # The hyperparameters in short: every active one, by name.
    for match, (_, row) in zip(matches, trials.iterrows(), strict=True):
        assert [pair.split("=")[0] for pair in match[5].split()] == list(_hyperparameters(row))


@pytest.mark.slow
def test_a_search_without_a_budget_stops_at_max_trials(watched_search: dict) -> None:
    result = watched_search["result"]
    assert result.stop_reason == "max_trials"
    assert result.search_seconds > 0
    assert "max_trials" in result.stop_description


def _read(folder: Path) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return events


@pytest.mark.slow
def test_tensorboard_holds_each_trials_hyperparameters_and_score(watched_search: dict) -> None:
    trials = watched_search["result"].trials
    for _, row in trials.iterrows():
        session = _read(watched_search["tensorboard"] / row["trial_id"] / "execution0")
        content = session.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
        # Named after the model as well as the trial, so that two searches' trials never merge into one group.
        assert start.group_name == f"mlp/{row['trial_id']}"
        logged = {name: value.number_value for name, value in start.hparams.items()}
        assert logged == pytest.approx({name: float(value) for name, value in _hyperparameters(row).items()})
        (score,) = session.Tensors("score")
        assert float(tf.make_ndarray(score.tensor_proto)) == pytest.approx(row["score"], abs=1e-6)
        # The curves of the trial's epochs are there too.
        validation = _read(watched_search["tensorboard"] / row["trial_id"] / "execution0" / "validation")
        assert len(validation.Tensors("epoch_accuracy")) == 1


@pytest.mark.slow
def test_progress_and_tensorboard_change_no_trial(
    watched_search: dict, tmp_path: Path, tiny_search: Callable[..., SearchResult]
) -> None:
    plain = tiny_search(tmp_path, progress=False)
    pd.testing.assert_frame_equal(
        plain.trials.drop(columns="duration_s"), watched_search["result"].trials.drop(columns="duration_s")
    )


@pytest.mark.slow
def test_a_spent_budget_stops_the_search_after_its_initial_trials(
    tmp_path: Path, capsys: pytest.CaptureFixture, tiny_search: Callable[..., SearchResult]
) -> None:
    # A budget shorter than one trial: the two initial trials run, then no new one starts.
    result = tiny_search(tmp_path, max_trials=6, search_minutes=0.001)
    assert len(result.trials) == 2 and (result.trials["status"] == "COMPLETED").all()
    assert result.stop_reason == "time_budget"
    assert result.stop_description == "its time budget of 0.001 minutes (search_minutes) was spent"
    # The reason is kept with the search, for a notebook that reads it back.
    assert load_search(tmp_path, "mlp").stop_reason == "time_budget"
    output = capsys.readouterr().out
    assert output.count("mlp trial ") == 2
    assert "mlp search stopped after 2 of 6 trials" in output and "budget of 0.001 minutes" in output


def test_a_negative_budget_is_refused_before_anything_is_written(
    tmp_path: Path, tiny_search: Callable[..., SearchResult]
) -> None:
    with pytest.raises(ValueError, match="search_minutes"):
        tiny_search(tmp_path, search_minutes=-1)
    assert not (tmp_path / "mlp").exists()


def test_an_unknown_stop_reason_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown stop reason"):
        monitoring.describe_stop("bored")
