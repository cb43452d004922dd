"""The findings: plain sentences whose every number is read from a run's metrics, with its interval."""

from __future__ import annotations

import re

import pytest

from fashion_lib.report import findings


def texts(metrics) -> dict[str, str]:
    return {finding.key: f"{finding.lead}. {finding.text}" for finding in findings.compute(metrics)}


def test_a_finished_run_gives_seven_findings_in_reading_order(run_metrics) -> None:
    assert [finding.key for finding in findings.compute(run_metrics)] == [
        "winner",
        "ensembles",
        "hardest_class",
        "baseline",
        "seed_claims",
        "run_used",
        "duration",
    ]


def test_the_winner_is_stated_with_the_difference_and_its_interval(run_metrics) -> None:
    text = texts(run_metrics)["winner"]
    assert text.startswith("The CNN wins.")
    assert "93.21% (92.71%–93.71%)" in text and "the MLP 88.43% (87.83%–89.03%)" in text
    assert "4.78 points more (95% interval +4.18 to +5.38 points" in text


def test_a_difference_whose_interval_holds_zero_names_no_winner(run_metrics) -> None:
    run_metrics["uncertainty"]["accuracy_difference_cnn_minus_mlp"] = {
        "estimate": 0.001,
        "lower": -0.004,
        "upper": 0.006,
    }
    text = texts(run_metrics)["winner"]
    assert text.startswith("Neither model wins.") and "(−0.40 to +0.60 points), which holds zero" in text


def test_the_mlp_can_win(run_metrics) -> None:
    run_metrics["uncertainty"]["accuracy_difference_cnn_minus_mlp"] = {"estimate": -0.1, "lower": -0.11, "upper": -0.09}
    assert "10.00 points more (95% interval +9.00 to +11.00 points" in texts(run_metrics)["winner"]
    assert texts(run_metrics)["winner"].startswith("The MLP wins.")


def test_ensembles_beat_the_reference_only_when_the_interval_lies_above_zero(run_metrics) -> None:
    text = texts(run_metrics)["ensembles"]
    assert text.startswith("No ensemble beats the CNN.")
    assert "hard vote −0.20 points (−0.50 to +0.10); stacking +0.18 points (−0.12 to +0.48)." in text
    run_metrics["ensembles"]["stacking"]["difference_vs_reference"]["lower"] = 0.001
    text = texts(run_metrics)["ensembles"]
    # The ensembles that beat it come first.
    assert text.startswith("Stacking beats the CNN.") and text.index("stacking +0.18") < text.index("hard vote")


def test_the_class_both_models_fail_on_with_the_bootstrap_intervals_of_the_replication_table(run_metrics) -> None:
    text = texts(run_metrics)["hardest_class"]
    assert text.startswith("Both models fail most on the class Shirt.")
    assert "MLP labels 60.00% (58.00%–62.00%)" in text and "CNN 70.00% (68.00%–72.00%)" in text


def test_different_worst_classes_get_wilson_intervals_where_the_table_has_none(run_metrics) -> None:
    run_metrics["models"]["cnn"]["per_class"]["Coat"]["accuracy"] = 0.5
    text = texts(run_metrics)["hardest_class"]
    assert text.startswith("The two models fail most on different classes.")
    lower, upper = findings.wilson_interval(0.5, 1000)
    assert f"the CNN on Coat, 50.00% ({lower:.2%}–{upper:.2%}, Wilson's interval)" in text


def test_wilson_interval_of_a_known_share() -> None:
    lower, upper = findings.wilson_interval(0.5, 100)
    assert (lower, upper) == (pytest.approx(0.4038, abs=1e-4), pytest.approx(0.5962, abs=1e-4))
    with pytest.raises(ValueError, match="at least one image"):
        findings.wilson_interval(0.5, 0)


def test_the_baseline_finding_compares_intervals(run_metrics) -> None:
    assert texts(run_metrics)["baseline"].startswith("Both networks beat a linear model on raw pixels.")
    run_metrics["uncertainty"]["models"]["mlp"]["test_accuracy"] = {"estimate": 0.84, "lower": 0.83, "upper": 0.85}
    text = texts(run_metrics)["baseline"]
    assert text.startswith("Only the CNN beats") and "The MLP's interval overlaps it, the CNN's lies above it." in text


def test_the_seed_claims_are_tallied_with_the_headline_accuracies(run_metrics) -> None:
    text = texts(run_metrics)["seed_claims"]
    assert text.startswith("2 of the seed report's 6 claims hold in this run.")
    assert "The others: 2 are higher here, 2 are lower here" in text
    assert "MLP 88.1% against 88.43%, higher; CNN 92.6% against 93.21%, higher" in text


def test_what_the_run_used_explains_its_terms(run_metrics) -> None:
    text = texts(run_metrics)["run_used"]
    assert "Profile standard (The report's own settings), seed 1." in text
    assert "the cosine recipe (a short warm-up, then the learning rate falls along a cosine" in text
    assert "with 8 and 6 trials (MLP, CNN)" in text and "the CNN's training images were augmented" in text
    run_metrics["models"]["cnn"]["search_space"] = "extended"
    assert (
        "the CNN in the extended search space (the seed's choices and more: other optimisers"
        in texts(run_metrics)["run_used"]
    )


def test_the_duration_counts_every_notebook_that_computed_the_results(run_metrics) -> None:
    text = texts(run_metrics)["duration"]
    assert "The 4 notebooks computed these results in 71.0 min (data 20 s, MLP 17.0 min, CNN 53.0 min" in text
    assert "2,202 MiB" in text
    # A reused notebook's time is its original execution's: the finding does not change when a rerun reuses it.
    run_metrics["cache"]["notebooks"]["02_mlp"]["status"] = "reused"
    assert texts(run_metrics)["duration"] == text


def test_a_run_without_results_states_only_what_it_has(run_metrics) -> None:
    del run_metrics["ensembles"], run_metrics["replication"]
    assert set(texts(run_metrics)) == {"winner", "hardest_class", "baseline", "run_used", "duration"}
    assert findings.findings_html(findings.compute({"profile": "quick"})) == (
        '<p class="findings">This run recorded no results to state.</p>'
    )


def test_no_finding_shows_an_unrounded_number(run_metrics) -> None:
    for text in texts(run_metrics).values():
        assert not re.search(r"\d\.\d{3,}", text), text


def test_the_html_list_escapes_and_keys_every_finding(run_metrics) -> None:
    page = findings.findings_html(findings.compute(run_metrics))
    assert page.count("<li data-finding=") == 7 and "The report&#x27;s own settings" in page
