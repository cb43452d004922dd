"""The replication table: the verdict rule, each claim's extraction, several training seeds, the landing page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fashion_lib.analysis import replication
from fashion_lib.analysis.replication import claims, evidence
from fashion_lib.config import CLASS_NAMES, NUM_CLASSES

PER_CLASS = 100


def _claim(key: str) -> replication.Claim:
    return replication.CLAIMS_BY_KEY[key]


def _predictions(class_accuracy: dict[str, float], *, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """True labels (PER_CLASS per class) and one-hot probabilities right on exactly the given share of each class."""
    y_true = np.repeat(np.arange(NUM_CLASSES), PER_CLASS)
    y_pred = y_true.copy()
    for index, name in enumerate(CLASS_NAMES):
        wrong = PER_CLASS - round(class_accuracy[name] * PER_CLASS)
        rows = np.flatnonzero(y_true == index)[:wrong]
        y_pred[rows] = (index + rng.integers(1, NUM_CLASSES, size=wrong)) % NUM_CLASSES
    probabilities = np.full((len(y_true), NUM_CLASSES), 0.01)
    probabilities[np.arange(len(y_true)), y_pred] = 0.91
    return y_true, probabilities


MLP_ACCURACY = dict(zip(CLASS_NAMES, [0.78, 0.98, 0.80, 0.86, 0.81, 0.95, 0.70, 0.94, 0.96, 0.95], strict=True))
CNN_ACCURACY = dict(zip(CLASS_NAMES, [0.87, 0.99, 0.88, 0.91, 0.86, 0.98, 0.76, 0.97, 1.00, 0.97], strict=True))


@pytest.mark.parametrize(
    ("seed_range", "lower", "upper", "expected"),
    [
        ((0.8805, 0.8815), 0.875, 0.890, "consistent"),
        ((0.8805, 0.8815), 0.8815, 0.890, "consistent"),  # touching counts as overlapping
        ((0.8805, 0.8815), 0.882, 0.890, "higher"),
        ((0.8805, 0.8815), 0.860, 0.880, "lower"),
        ((6000, 6000), 6000, 6000, "consistent"),
    ],
)
def test_a_number_is_judged_by_whether_the_ranges_overlap(seed_range, lower, upper, expected) -> None:
    claim = replication.Claim("x", "x", "x", "mlp", seed_range=seed_range)
    found = replication.finding((lower + upper) / 2, "", lower=lower, upper=upper)
    assert replication.judge(claim, found) == expected


@pytest.mark.parametrize(("ours", "expected"), [("Shirt", "consistent"), ("Pullover", "different")])
def test_a_statement_is_consistent_or_different(ours: str, expected: str) -> None:
    assert replication.judge(_claim("mlp_worst_class"), replication.finding(ours, ours)) == expected


def test_a_missing_finding_is_not_comparable() -> None:
    for key in ("mlp_test_accuracy", "mlp_worst_class"):
        assert replication.judge(_claim(key), replication.not_comparable("no data")) == "not comparable"


@pytest.mark.parametrize(
    ("figure", "percent", "expected"),
    [("88.1", True, (0.8805, 0.8815)), ("70", True, (0.695, 0.705)), ("0.89", False, (0.885, 0.895))],
)
def test_a_seed_figure_covers_its_rounding(figure: str, percent: bool, expected: tuple[float, float]) -> None:
    assert claims._rounded_range(figure, percent=percent) == pytest.approx(expected)


def test_the_catalogue_holds_every_claim_of_the_issue_once() -> None:
    keys = [claim.key for claim in replication.CLAIMS]
    assert len(keys) == len(set(keys)) == 28
    for claim in replication.CLAIMS:
        assert (claim.seed_range is None) != (claim.seed_statement is None), claim.key
        assert claim.subject in {"mlp", "cnn", "both", "data"}
    assert _claim("mlp_test_accuracy").seed_range == pytest.approx((0.8805, 0.8815))
    assert _claim("cnn_best_class").seed_statement == "Bag"


def test_prediction_findings_name_the_best_and_worst_classes_and_their_shares() -> None:
    rng = np.random.default_rng(0)
    y_true, mlp = _predictions(MLP_ACCURACY, rng=rng)
    _, cnn = _predictions(CNN_ACCURACY, rng=rng)
    found = replication.prediction_findings(y_true, mlp, cnn, resamples=200, seed=1)
    assert set(found) <= set(replication.CLAIMS_BY_KEY)
    assert found["mlp_worst_class"]["value"] == "Shirt" and found["cnn_worst_class"]["value"] == "Shirt"
    assert found["mlp_best_class"]["value"] == "Trouser" and found["cnn_best_class"]["value"] == "Bag"
    assert found["mlp_shirt_accuracy"]["value"] == pytest.approx(0.70)
    assert found["mlp_shirt_accuracy"]["lower"] < 0.70 < found["mlp_shirt_accuracy"]["upper"]
    assert found["cnn_tshirt_accuracy"]["value"] == pytest.approx(0.87)
    assert found["mlp_test_accuracy"]["value"] == pytest.approx(np.mean(list(MLP_ACCURACY.values())))
    assert found["cnn_better_on_every_class"]["value"] is True
    assert -1 <= found["kendall_tau"]["lower"] <= found["kendall_tau"]["value"] <= found["kendall_tau"]["upper"]
    for key in ("mlp_worst_class", "mlp_shirt_accuracy", "cnn_best_class", "cnn_better_on_every_class"):
        assert replication.judge(_claim(key), found[key]) == "consistent", key


def test_the_class_comparison_names_the_classes_where_the_cnn_is_not_ahead() -> None:
    mlp = pd.Series(MLP_ACCURACY)
    cnn = pd.Series(CNN_ACCURACY)
    cnn["Trouser"], cnn["Coat"] = 0.97, MLP_ACCURACY["Coat"]  # behind on one class, level on another
    found = replication.class_comparison(mlp, cnn)["cnn_better_on_every_class"]
    assert found["value"] is False
    assert found["classes_not_better"] == ["Trouser", "Coat"]
    assert "8 of 10" in found["text"] and "Trouser (-1.0 points)" in found["text"]


def test_votes_between_the_models_are_recognised() -> None:
    assert evidence._between(0.90, 0.88, 0.92) and evidence._between(0.90, 0.92, 0.88)
    assert not evidence._between(0.93, 0.88, 0.92) and not evidence._between(0.92, 0.88, 0.92)


def _history(train: list[float], validation: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"epoch": np.arange(1, len(train) + 1), "accuracy": train, "val_accuracy": validation})


def _rising_cnn() -> pd.DataFrame:
    epochs = np.arange(1, 56)
    cnn_validation = 0.9 + 0.02 * np.exp(-(((epochs - 40) / 10.0) ** 2))  # peaks at epoch 40
    cnn_train = 0.85 + 0.002 * epochs  # keeps rising
    return _history(cnn_train.tolist(), cnn_validation.tolist())


def test_curve_findings_read_the_mlp_and_cnn_claims_from_the_histories() -> None:
    train = [0.80, 0.85, 0.88, 0.90, 0.92] + [0.93] * 10
    validation = [0.84, 0.86, 0.875, 0.88, 0.885] + [0.875, 0.88, 0.885, 0.89, 0.87] * 2
    found = replication.curve_findings(_history(train, validation), _rising_cnn())
    early = found["mlp_validation_above_training_early"]
    assert (early["holds"], early["epochs"]) == (2, 5) and early["text"].startswith("above in 2 of epochs 1–5")
    later = found["mlp_validation_range_later"]
    assert (later["inside"], later["epochs"]) == (10, 10)
    assert (later["lower"], later["upper"]) == pytest.approx((0.87, 0.89))
    assert found["cnn_best_epoch"]["value"] == 40
    assert found["cnn_overfits_after_best"]["value"] is True
    for key in ("mlp_validation_range_later", "cnn_best_epoch"):
        assert replication.judge(_claim(key), found[key]) == "consistent", key
    # Above training in only 2 of the first 5 epochs: not "in the first epochs".
    assert replication.judge(_claim("mlp_validation_above_training_early"), early) == "different"


def _mlp_with_above(above_epochs: set[int], epochs: int = 20) -> pd.DataFrame:
    """A history whose validation accuracy is above training in exactly the given (1-based) epochs."""
    train = [0.88] * epochs
    validation = [0.885 if epoch in above_epochs else 0.875 for epoch in range(1, epochs + 1)]
    return _history(train, validation)


@pytest.mark.parametrize(
    ("above", "verdict"),
    [
        ({1, 2, 3}, "consistent"),  # 3 of the first 5: more than half
        ({1, 3, 5, 6, 7}, "consistent"),  # the standard run's pattern, which a leading run reads as "epoch 1 only"
        ({1, 2}, "different"),  # 2 of 5: not more than half
        ({1, 2, 6, 7, 8, 9}, "different"),  # epochs after the first five do not count
        (set(), "different"),
    ],
)
def test_a_claim_about_the_first_epochs_holds_in_more_than_half_of_them(above, verdict) -> None:
    found = replication.curve_findings(_mlp_with_above(above), _rising_cnn())["mlp_validation_above_training_early"]
    assert found["holds"] == len({epoch for epoch in above if epoch <= replication.PERIOD_EPOCHS})
    assert replication.judge(_claim("mlp_validation_above_training_early"), found) == verdict


def test_the_first_epochs_claim_names_every_epoch_with_validation_above_training() -> None:
    found = replication.curve_findings(_mlp_with_above({1, 3, 5, 6, 7}, epochs=49), _rising_cnn())
    text = found["mlp_validation_above_training_early"]["text"]
    assert text == "above in 3 of epochs 1–5; in all above in epochs 1, 3 and 5–7 of 49"


def _mlp_later(values: list[float]) -> pd.DataFrame:
    """Five early epochs, then `values` as the later validation accuracies (training above throughout)."""
    validation = [0.85] * replication.PERIOD_EPOCHS + values
    return _history([0.95] * len(validation), validation)


@pytest.mark.parametrize(
    ("later", "verdict", "outside"),
    [
        ([0.88] * 9 + [0.90], "consistent", ", 1 above"),  # 9 of 10 inside: exactly the 90% the rule asks
        ([0.865] * 18 + [0.86, 0.90], "consistent", ", 1 above and 1 below"),  # 18 of 20; the band's edge is inside
        ([0.88] * 8 + [0.90, 0.85], "different", ", 1 above and 1 below"),  # 8 of 10
        ([0.82] * 5 + [0.88] * 5, "different", ", 5 below"),  # overlapping ranges, half the epochs outside
    ],
)
def test_a_band_claim_asks_for_nine_in_ten_later_epochs_inside_the_band(later, verdict, outside) -> None:
    found = replication.curve_findings(_mlp_later(later), _rising_cnn())["mlp_validation_range_later"]
    assert replication.judge(_claim("mlp_validation_range_later"), found) == verdict
    first = replication.PERIOD_EPOCHS + 1
    assert f"epochs ({first}–{first + len(later) - 1}) inside 0.865–0.895{outside};" in found["text"]


def test_curve_findings_say_when_a_history_cannot_show_the_claim() -> None:
    four_epochs = _history([0.70, 0.75, 0.78, 0.79], [0.80, 0.81, 0.82, 0.83])
    peaks_last = _history([0.6, 0.7, 0.8], [0.65, 0.72, 0.79])
    found = replication.curve_findings(four_epochs, peaks_last)
    assert found["mlp_validation_above_training_early"]["value"] is None
    assert "4 epochs, fewer than the 5" in found["mlp_validation_above_training_early"]["text"]
    assert found["mlp_validation_range_later"]["value"] is None
    assert found["cnn_best_epoch"]["value"] is None and "epoch 3" in found["cnn_best_epoch"]["text"]
    assert found["cnn_overfits_after_best"]["value"] is None
    five = replication.curve_findings(_mlp_later([]), peaks_last)
    assert five["mlp_validation_above_training_early"]["value"] == 0.0
    assert "none after epoch 5" in five["mlp_validation_range_later"]["text"]


def test_curve_findings_refuse_a_history_without_accuracies() -> None:
    with pytest.raises(ValueError, match="val_accuracy"):
        replication.curve_findings(pd.DataFrame({"accuracy": [0.5]}), _history([0.5], [0.5]))


def _trials(learning_rates: list[float], units: list[int], scores: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trial_id": [f"{i:02d}" for i in range(len(scores))],
            "score": scores,
            "learning_rate": learning_rates,
            "units_0": pd.array(units, dtype="Int64"),
        }
    )


def test_the_learning_rate_claim_compares_mean_trial_scores() -> None:
    trials = _trials([0.01, 0.001, 0.01, 0.001, 0.01], [256] * 5, [0.86, 0.80, 0.84, 0.82, float("nan")])
    found = replication.learning_rate_finding(trials, "seed")
    assert found["value"] is True and found["means"] == pytest.approx({"0.01": 0.85, "0.001": 0.81})
    assert "over 2 trials" in found["text"]
    reversed_scores = trials.assign(score=[0.80, 0.86, 0.80, 0.86, 0.9])
    assert replication.learning_rate_finding(reversed_scores, "seed")["value"] is False


@pytest.mark.parametrize(
    ("trials", "space", "reason"),
    [
        (_trials([0.01, 0.01], [256, 512], [0.8, 0.9]), "seed", "no completed trial at learning rate 0.001"),
        (_trials([0.01, 0.001], [256, 512], [0.8, 0.9]), "extended", "extended space"),
        (None, "seed", "not available"),
    ],
)
def test_the_search_claims_are_not_comparable_without_seed_space_trials(trials, space, reason) -> None:
    found = replication.learning_rate_finding(trials, space)
    assert found["value"] is None and reason in found["text"]


def test_the_units_claim_compares_the_widest_and_narrowest_first_layers() -> None:
    trials = _trials([0.01] * 4, [256, 1024, 512, 1024], [0.85, 0.87, 0.86, 0.86])
    found = replication.units_finding(trials, "seed")
    assert found["value"] is True and found["gap"] == pytest.approx(0.015)
    assert replication.units_finding(trials.assign(units_0=pd.array([512] * 4, dtype="Int64")), "seed")["value"] is None
    assert replication.units_finding(trials, "extended")["value"] is None


def test_data_findings_on_the_real_labels(fashion) -> None:
    found = replication.data_findings(fashion.train_labels, fashion.test_labels)
    assert found["data_train_per_class"]["value"] == 6000 and found["data_test_per_class"]["value"] == 1000
    assert found["data_balanced"]["value"] is True
    assert replication.judge(_claim("data_train_per_class"), found["data_train_per_class"]) == "consistent"
    # The text's "6000 images for training and 1000 for the final evaluation" are the per-class counts.
    for key in ("data_training_images_text", "data_evaluation_images_text"):
        assert replication.judge(_claim(key), found[key]) == "seed's misstatement", key
    assert found["data_evaluation_images_text"]["value"] == 10_000


@pytest.mark.parametrize(
    ("total", "verdict"), [(60_000, "seed's misstatement"), (6_000, "consistent"), (50_000, "higher"), (600, "lower")]
)
def test_a_misstatement_is_labelled_only_when_ours_is_what_the_seeds_own_figures_imply(total, verdict) -> None:
    found = replication.finding(total, f"{total:,}")
    assert replication.judge(_claim("data_training_images_text"), found) == verdict


def test_unbalanced_labels_are_reported_as_such() -> None:
    labels = np.concatenate([np.arange(NUM_CLASSES), [0]])
    found = replication.data_findings(labels, np.arange(NUM_CLASSES))
    assert found["data_balanced"]["value"] is False and found["data_balanced"]["text"].startswith("no")
    assert (found["data_train_per_class"]["lower"], found["data_train_per_class"]["upper"]) == (1, 2)


def test_seed_verdicts_say_whether_a_verdict_holds_for_every_training_seed() -> None:
    rng = np.random.default_rng(1)
    y_true, mlp_good = _predictions(MLP_ACCURACY, rng=rng)
    _, cnn = _predictions(CNN_ACCURACY, rng=rng)
    _, mlp_poor = _predictions({name: 0.5 for name in CLASS_NAMES}, rng=rng)
    across = replication.seed_verdicts(
        y_true,
        [1, 2, 3],
        np.stack([mlp_good, mlp_good, mlp_poor]),
        [3, 2, 1],
        np.stack([cnn, cnn, cnn]),
        resamples=100,
    )
    assert across["mlp_shirt_accuracy"]["seeds"] == [1, 2, 3]
    assert across["mlp_shirt_accuracy"]["verdicts"] == ["consistent", "consistent", "lower"]
    assert across["mlp_shirt_accuracy"]["summary"] == "consistent 2, lower 1 of 3 seeds (50.00–70.00%)"
    assert across["cnn_test_accuracy"]["summary"] == "consistent for all 3 training seeds (91.90% each)"
    assert across["mlp_shirt_accuracy"]["figures"][2].startswith("50.00%")
    assert across["cnn_best_class"]["summary"] == "consistent for all 3 training seeds"
    with pytest.raises(ValueError, match="share none"):
        replication.seed_verdicts(y_true, [1], mlp_good[None], [2], cnn[None])


def test_summarise_verdicts() -> None:
    assert replication.summarise_verdicts(["higher"]) == "higher (one training seed)"
    assert replication.summarise_verdicts(["higher"] * 3) == "higher for all 3 training seeds"


@pytest.mark.parametrize(
    ("values", "ratio", "spread"),
    [([0.8952, 0.8985, 0.8977], False, " (89.52–89.85%)"), ([0.9, 0.91], True, " (0.900–0.910)"), ([0.9], False, "")],
)
def test_a_number_claims_spread_over_training_seeds(values, ratio, spread) -> None:
    assert replication.seed_spread(values, ratio=ratio) == spread
    assert replication.seed_spread(["Shirt", "Shirt"]) == ""


CNN_METRICS = {
    "trials": 10,
    "epochs_per_trial": 30,
    "search_images": 54000,
    "seed_runs": [{"epochs_trained": 60}, {"epochs_trained": 47}, {"epochs_trained": 52}],
}


def test_the_budget_names_the_search_trials_their_length_and_the_final_trainings() -> None:
    assert replication.budget("cnn", CNN_METRICS) == (
        "CNN budget: 10 search trials of 30 epochs on 54,000 images; 3 final trainings of 47–60 epochs."
    )
    older = {"trials": 1, "seed_runs": [{"epochs_trained": 4}]}
    assert replication.budget("mlp", older) == (
        "MLP budget: 1 search trial of an unrecorded length; 1 final training of 4 epochs."
    )


def test_cnn_rows_state_their_budget_and_quote_the_seed_method_runs_budget_and_spread() -> None:
    budgets = {"cnn": replication.budget("cnn", CNN_METRICS), "mlp": "MLP budget: x."}
    quoted = [
        {
            "key": "cnn_test_accuracy",
            "ours": {"text": "91.00% (90.4–91.6%)"},
            "verdict": "lower",
            "across_seeds": {"summary": "lower for all 3 training seeds (90.80–91.20%)"},
            "budget": budgets["cnn"],
        }
    ]
    rows = replication.replication_table(
        _all_findings(), spaces={"mlp": "seed", "cnn": "seed"}, budgets=budgets, replicate_rows=quoted
    )
    by_key = {row["key"]: row for row in rows}
    assert by_key["cnn_test_accuracy"]["budget"] == budgets["cnn"]
    assert "budget" not in by_key["kendall_tau"] and "budget" not in by_key["data_balanced"]
    frame = replication.table_frame(rows, replicate_label="seed-method run").set_index("claim")
    cnn = frame.loc["CNN test accuracy"]
    assert cnn["note"].endswith("3 final trainings of 47–60 epochs.")
    assert cnn["seed-method run"] == (
        "91.00% (90.4–91.6%) (lower; lower for all 3 training seeds (90.80–91.20%); " + budgets["cnn"] + ")"
    )


def _all_findings() -> dict:
    rng = np.random.default_rng(2)
    y_true, mlp = _predictions(MLP_ACCURACY, rng=rng)
    _, cnn = _predictions(CNN_ACCURACY, rng=rng)
    labels = np.repeat(np.arange(NUM_CLASSES), 3)
    trials = _trials([0.01, 0.001], [256, 1024], [0.85, 0.84])
    return (
        replication.data_findings(labels, labels)
        | replication.prediction_findings(y_true, mlp, cnn, resamples=100, seed=1)
        | replication.curve_findings(_history([0.8, 0.9], [0.85, 0.88]), _history([0.8, 0.9], [0.85, 0.88]))
        | {key: replication.learning_rate_finding(trials, "seed") for key in ("mlp_learning_rate_0.01_wins",)}
        | {"cnn_learning_rate_0.01_wins": replication.learning_rate_finding(trials, "extended")}
        | {"mlp_more_units_help": replication.units_finding(trials, "seed")}
    )


def test_the_table_has_one_row_per_claim_whose_verdict_can_be_recomputed() -> None:
    findings = _all_findings()
    quoted = [{"key": "mlp_test_accuracy", "ours": {"text": "88.90% (88.3–89.5%)"}, "verdict": "higher"}]
    rows = replication.replication_table(findings, spaces={"mlp": "seed", "cnn": "extended"}, replicate_rows=quoted)
    assert [row["key"] for row in rows] == [claim.key for claim in replication.CLAIMS]
    for row in rows:
        assert replication.verdict_of_row(row) == row["verdict"]
    by_key = {row["key"]: row for row in rows}
    assert by_key["cnn_learning_rate_0.01_wins"]["verdict"] == "not comparable"
    assert by_key["kendall_tau"]["recipe"] == "MLP seed method, CNN extended"
    assert by_key["data_balanced"]["recipe"] == "the data"
    assert by_key["mlp_test_accuracy"]["replicate_run"] == {"ours": "88.90% (88.3–89.5%)", "verdict": "higher"}
    frame = replication.table_frame(rows, replicate_label="seed-method run")
    assert "training seeds" not in frame and frame.loc[5, "seed-method run"] == "88.90% (88.3–89.5%) (higher)"
    across = {"mlp_test_accuracy": {"seeds": [1, 2], "summary": "higher for all 2 training seeds"}}
    with_seeds = replication.table_frame(
        replication.replication_table(findings, spaces={"mlp": "seed", "cnn": "seed"}, across_seeds=across)
    )
    assert with_seeds.loc[5, "training seeds"] == "higher for all 2 training seeds"
    assert with_seeds.loc[0, "training seeds"] == "—"
    del findings["kendall_tau"]
    with pytest.raises(ValueError, match="kendall_tau"):
        replication.replication_table(findings, spaces={"mlp": "seed", "cnn": "seed"})


def test_the_landing_page_section_shows_every_claim_and_its_verdict() -> None:
    rows = replication.replication_table(_all_findings(), spaces={"mlp": "seed", "cnn": "seed"})
    metrics = {"replication": {"rules": replication.rules(0.95), "method": "The method.", "claims": rows}}
    page = replication.section_html(metrics)
    for row in rows:
        assert f'data-claim="{row["key"]}" data-verdict="{row["verdict"]}"' in page
    assert "The method." in page and "Seed-method run" not in page
    # Each rule is stated once, under the table, and every row's rule is among them.
    legend = page.partition('<ul id="replication-rules">')[2]
    for kind in {row["rule"] for row in rows}:
        assert legend.count(f"<strong>{kind}</strong>") == 1, kind
    assert "95% bootstrap interval" in legend
    quoted = metrics["replication"] | {"replicate_run": {"profile": "replicate", "date": "2026-12-02", "source": "x"}}
    assert "Seed-method run (2026-12-02)" in replication.section_html({"replication": quoted})
    assert replication.section_html({}) == ""


def test_the_method_sentence_names_each_model_once() -> None:
    both = replication.method_sentence({"mlp": "seed", "cnn": "seed"}, {"mlp": "seed", "cnn": "seed"})
    assert both == (
        "The MLP and the CNN were searched in the seed report's own space and trained with the seed's schedule "
        "(a constant rate, then exponential decay) and early stopping."
    )
    mixed = replication.method_sentence({"mlp": "seed", "cnn": "extended"}, {"mlp": "seed", "cnn": "seed"})
    assert "The MLP was searched in the seed report's" in mixed and "The CNN was searched in the extended" in mixed


def test_the_recipe_column_and_method_name_the_cosine_final_training() -> None:
    spaces, schedules = {"mlp": "extended", "cnn": "extended"}, {"mlp": "cosine", "cnn": "seed"}
    assert replication.recipe("mlp", spaces, schedules) == "extended, cosine recipe"
    assert replication.recipe("cnn", spaces, schedules) == "extended"
    assert replication.recipe("both", spaces, schedules) == "MLP extended, cosine recipe, CNN extended"
    sentence = replication.method_sentence(spaces, schedules)
    assert "The MLP was searched in the extended space (more optimisers, wider ranges) and trained with a warm-up" in (
        sentence
    )
    # A cosine training has no early stopping, and the sentence must not claim one for it.
    cosine_only = replication.method_sentence({"mlp": "seed"}, {"mlp": "cosine"})
    assert "without early stopping" in cosine_only and "and early stopping" not in cosine_only


def test_the_tally_counts_each_verdict_in_plain_grammar() -> None:
    rows = [{"verdict": verdict} for verdict in ["consistent"] * 3 + ["higher", "seed's misstatement"] * 1]
    assert replication.tally(rows) == (
        "Of the seed report's 5 claims, 3 are consistent with this run, 1 is higher here and 1 is the seed's own "
        "misstatement."
    )
    assert replication.tally([{"verdict": "lower"}]) == "Of the seed report's 1 claim, 1 is lower here."


def test_band_period_and_misstatement_rows_recompute_their_verdicts() -> None:
    findings = _all_findings() | replication.curve_findings(_mlp_later([0.88] * 8 + [0.90, 0.85]), _rising_cnn())
    rows = {row["key"]: row for row in replication.replication_table(findings, spaces={"mlp": "seed", "cnn": "seed"})}
    assert rows["mlp_validation_range_later"]["rule"] == "band" and rows["mlp_validation_range_later"]["verdict"] == (
        "different"
    )
    assert rows["mlp_validation_above_training_early"]["rule"] == "first epochs"
    assert rows["data_training_images_text"]["rule"] == "misstatement"
    for row in rows.values():
        assert replication.verdict_of_row(row) == row["verdict"], row["key"]


def test_the_replicate_profile_runs_the_seed_method_on_all_training_images() -> None:
    from pathlib import Path

    from fashion_lib.report import profiles

    profile = profiles.load_profile("replicate")
    assert all(profile[name].get("final_schedule", "seed") == "seed" for name in ("mlp", "cnn"))
    assert not any(key.startswith("augment_") for name in ("mlp", "cnn") for key in profile[name])
    parameters = profiles.notebook_parameters(profile, profile_name="replicate", run_dir=Path("/tmp/run"))
    for notebook in ("02_mlp", "03_cnn"):
        values = parameters[notebook]
        assert values["search_space"] == "seed" and values["train_subset"] == 0
        assert values.get("search_subset", 0) == 0
        assert (values["constant_epochs"], values["decay_rate"], values["patience"]) == (10, 0.1, 15)
        # The seed's best CNN epoch was around 40: the final training must be able to run past it.
        assert values["final_epochs"] > 45
        assert values["training_seeds"] == 3
    # The seed's CNN tuner ran "for 30 epochs"; of its MLP search it says "we tune in few epochs".
    assert parameters["03_cnn"]["epochs_per_trial"] == 30 and parameters["02_mlp"]["epochs_per_trial"] == 5
    cnn = parameters["03_cnn"]
    assert cnn["study_architectures"] and cnn["study_epochs"] == 30 and cnn["study_ranking_epochs"] == "5,10,30"
    assert cnn.get("study_subset", 0) == 0
    assert parameters["04_compare"]["replicate_profile"] == ""
    assert "Seed method" in profile["description"]
