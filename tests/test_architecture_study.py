"""The CNN architecture study: the seed space's architectures, the ranking at several epochs, one tiny real run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fashion_lib import results
from fashion_lib.analysis import architecture_study
from fashion_lib.data import Splits
from fashion_lib.report.parameters import parse_epoch_list


def _histories(curves: dict[str, list[float]]) -> pd.DataFrame:
    """Long-format histories: one row per architecture and epoch, in the order given."""
    return pd.DataFrame(
        [
            {"architecture": name, "epoch": epoch, "val_accuracy": value}
            for name, values in curves.items()
            for epoch, value in enumerate(values, start=1)
        ]
    )


def test_the_study_covers_the_seed_spaces_six_architectures_in_order() -> None:
    labels = [architecture.label for architecture in architecture_study.architectures()]
    assert labels == [
        "1 block, 8 filters",
        "1 block, 16 filters",
        "2 blocks, 8/16 filters",
        "2 blocks, 16/32 filters",
        "3 blocks, 8/16/32 filters",
        "3 blocks, 16/32/64 filters",
    ]
    reference = architecture_study.reference_values()
    assert reference["learning_rate"] == 0.01 and reference["dropout"] == 0.0


def test_a_short_search_picks_the_fast_starter_and_a_long_one_the_model_that_keeps_learning() -> None:
    fast = [0.85, 0.87, 0.88, 0.885, 0.886] + [0.887] * 25
    slow = [0.80, 0.83, 0.85, 0.86, 0.87] + list(np.linspace(0.88, 0.915, 25))
    ranking = architecture_study.rank_architectures(_histories({"fast": fast, "slow": slow}), (5, 10, 30))
    assert ranking.loc["fast", "rank_5"] == 1 and ranking.loc["slow", "rank_5"] == 2
    assert ranking.loc["slow", "rank_30"] == 1
    assert architecture_study.picks(ranking, (5, 10, 30)) == {5: "fast", 10: "fast", 30: "slow"}


def test_the_score_at_an_epoch_is_the_best_so_far_not_the_last() -> None:
    ranking = architecture_study.rank_architectures(_histories({"a": [0.9, 0.5, 0.5], "b": [0.6, 0.7, 0.8]}), (3,))
    assert ranking.loc["a", "score_3"] == 0.9
    assert architecture_study.picks(ranking, (3,)) == {3: "a"}


def test_tied_architectures_share_a_rank_and_the_first_in_order_is_picked() -> None:
    curves = {"cheap": [0.8, 0.9], "dear": [0.85, 0.9], "worse": [0.7, 0.8]}
    ranking = architecture_study.rank_architectures(_histories(curves), (1, 2))
    assert ranking["rank_2"].tolist() == [1, 1, 3]
    assert architecture_study.picks(ranking, (1, 2)) == {1: "dear", 2: "cheap"}


@pytest.mark.parametrize(
    ("requested", "epochs_run", "expected"),
    [
        ((5, 10, 30), 30, (5, 10, 30)),
        ((5, 10, 30), 12, (5, 10, 12)),
        ((5, 10, 30), 3, (3,)),
        ((1, 2, 5, 10, 30), 3, (1, 2, 3)),
    ],
)
def test_ranking_epochs_beyond_the_study_become_its_last_epoch(requested, epochs_run, expected) -> None:
    assert architecture_study.ranking_epochs(requested, epochs_run) == expected


def test_ranking_at_an_epoch_an_architecture_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match="trained only 2 epochs"):
        architecture_study.rank_architectures(_histories({"a": [0.8, 0.9, 0.9], "b": [0.8, 0.9]}), (3,))
    with pytest.raises(ValueError, match="nothing to rank"):
        architecture_study.ranking_epochs((5,), 0)


@pytest.mark.parametrize("text", ["", "5,,10", "10,5", "0,5", "5,5", "five", "5.5"])
def test_ranking_epochs_must_be_increasing_whole_numbers(text: str) -> None:
    with pytest.raises(ValueError, match="increasing"):
        parse_epoch_list(text)
    assert parse_epoch_list("5, 10,30") == (5, 10, 30)


def _summary(pick_5: str, pick_30: str, *, requested: list[int], epochs: int = 30) -> dict:
    rows = [
        {"architecture": "1 block, 16 filters", "test_accuracy": 0.8977},
        {"architecture": "3 blocks, 16/32/64 filters", "test_accuracy": 0.9150},
    ]
    accuracy = {row["architecture"]: row["test_accuracy"] for row in rows}
    ranked = architecture_study.ranking_epochs(requested, epochs)
    chosen = dict(zip(ranked, [pick_5] * (len(ranked) - 1) + [pick_30], strict=True))
    return {
        "epochs": epochs,
        "requested_ranking_epochs": requested,
        "ranking_epochs": list(ranked),
        "train_images": 54000,
        "seed": 1,
        "batch_size": 128,
        "reference": {"dropout": 0.0, "learning_rate": 0.01},
        "constant_epochs": 10,
        "decay_rate": 0.1,
        "architectures": rows,
        "picks": {str(k): {"architecture": label, "test_accuracy": accuracy[label]} for k, label in chosen.items()},
        "seconds": 1320.0,
    }


def test_the_study_says_which_architecture_each_trial_length_picks_and_what_it_costs() -> None:
    summary = _summary("1 block, 16 filters", "3 blocks, 16/32/64 filters", requested=[5, 10, 30])
    text = architecture_study.describe_study(summary, search_epochs=30, search_pick="1 block, 16 filters")
    assert "5-epoch trials would pick **1 block, 16 filters**, whose test accuracy is 89.77%" in text
    assert "30-epoch trials would pick **3 blocks, 16/32/64 filters**" in text
    assert "+1.73 points" in text and "shorter than" not in text
    short = _summary("1 block, 16 filters", "1 block, 16 filters", requested=[1, 2, 5, 10, 30], epochs=3)
    text = architecture_study.describe_study(short, search_epochs=2, search_pick="1 block, 16 filters")
    assert "smoke-size" in text and "(1, 2, 3)" in text and "the same at epoch 1 and at epoch 3" in text


def test_the_gap_to_the_seeds_figure_is_stated_in_points() -> None:
    summary = _summary("1 block, 16 filters", "3 blocks, 16/32/64 filters", requested=[5, 10, 30])
    text = architecture_study.describe_gap(summary, run_accuracies=[0.8952, 0.8977, 0.8985])
    assert architecture_study.seed_cnn_accuracy() == pytest.approx(0.926)
    assert "92.6%" in text and "89.71% (mean of 3 training seeds; 89.52%–89.85%)" in text
    assert "-2.89 points" in text and "91.50%" in text and "-1.10 points" in text


def test_a_tiny_real_study_writes_its_histories_and_records_its_summary(small_split, tmp_path) -> None:
    splits = Splits(**{name: array[:300] if name.startswith("train") else array for name, array in small_split.items()})
    study = architecture_study.run_study(splits, run_dir=tmp_path, epochs=2, ranking_at=(1, 5), seed=3, batch_size=64)
    assert len(study.histories) == 6 * 2
    assert np.allclose(study.histories["learning_rate"], 0.01)
    written = pd.read_csv(tmp_path / architecture_study.STUDY_FILE)
    pd.testing.assert_frame_equal(written, study.histories, check_dtype=False)
    recorded = results.read_results(tmp_path)[architecture_study.SECTION]
    assert recorded == json.loads(json.dumps(study.summary))
    assert recorded["ranking_epochs"] == [1, 2] and recorded["train_images"] == 300
    assert set(recorded["picks"]) == {"1", "2"}
    for row in recorded["architectures"]:
        assert 0.0 <= row["test_accuracy"] <= 1.0 and row["best_epoch"] in (1, 2)
    figure = architecture_study.plot_study(study.histories, study.summary)
    assert len(figure.axes[0].get_lines()) == 6 + 2
    table = architecture_study.study_table(study.summary)
    assert list(table.index) == [a.label for a in architecture_study.architectures()]
