"""Every notebook parameter is checked before anything runs: the constraint table, its messages, the CLI's refusal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fashion_lib import config
from fashion_lib.report import parameters, profiles
from fashion_lib.report.parameters import CONSTRAINTS, ParameterError, check_notebook_parameters, notebook_defaults

NOTEBOOKS = [notebook for _, notebook, _ in profiles.NOTEBOOKS]

# (override, what the refusal must say is allowed): each kind of constraint, in each notebook.
BAD_VALUES = [
    # Types.
    ("mlp.max_trials=abc", "an integer of at least 1"),
    ("seed=true", "an integer from 1 to 4,294,967,295"),
    ("mlp.mirrored=maybe", "true or false"),
    ("compare.compare_search_strategies=2", "true or false"),
    ("mlp.decay_rate=.nan", "a number of at least 0"),
    # Ranges.
    ("mlp.final_epochs=0", "an integer of at least 1"),
    ("cnn.epochs_per_trial=0", "an integer of at least 1"),
    ("mlp.batch_size=0", "an integer of at least 1"),
    ("cnn.patience=-1", "an integer of at least 0"),
    ("explore.seed=0", "Keras Tuner reads 0 as 'no seed'"),
    ("seed=-3", "an integer from 1 to 4,294,967,295"),
    ("validation_fraction=1.5", "a number above 0 and below 1"),
    ("validation_fraction=0.0001", "leaving at least 10 of the 60,000 training images on each side"),
    ("explore.validation_fraction=0", "a number above 0 and below 1"),
    ("mlp.train_subset=5", "an integer from 10 to 60,000 or 0 for all"),
    ("compare.tsne_samples=5", "t-SNE needs more images than its perplexity, 30"),
    ("compare.confidence_level=1", "a number above 0 and below 1"),
    ("compare.bootstrap_resamples=0", "an integer of at least 1"),
    ("compare.gradcam_examples=100", "an integer from 1 to 16"),
    ("compare.calibration_bins=0", "an integer of at least 1"),
    # Rules and choices.
    ("compare.vote_weight_step=0.3", "that divides 1 into whole parts"),
    ("mlp.search_space=huge", "one of 'seed', 'extended'"),
    ("mlp.search_space=whitened", "one of 'seed', 'extended': the 'whitened' space is the CNN's"),
    ("compare.strategy_model=rnn", "one of 'mlp', 'cnn'"),
    # Relations.
    ("cnn.num_initial_points=3", "at most max_trials (2)"),
    ("mlp.train_subset=60000", "at most the 54,000 training images that validation_fraction=0.1 leaves"),
    ("cnn.search_subset=6000", "at most train_subset's 5,000 images"),
    ("compare.baseline_train_subset=55000", "at most the 54,000 training images"),
    ("compare.strategy_train_subset=54001", "at most the 54,000 training images"),
    ("mlp.batch_size=100000", "at most the 5,000 images of train_subset that it batches"),
    ("cnn.batch_size=3000", "at most the 2,000 images of search_subset that it batches"),
    # The tuner folder must hold the model's search.
    ("mlp.tuner_dir=/nonexistent", "a folder holding a finished mlp search"),
    ("cnn.tuner_dir=runs/no-such-search", "a folder holding a finished cnn search"),
]
# The same values, grouped so that one CLI run refuses several: no parameter twice in a run, and no value
# that a relation in the same run reads refused by itself.
CLI_RUNS = [
    [
        "mlp.max_trials=abc",
        "mlp.mirrored=maybe",
        "mlp.decay_rate=.nan",
        "mlp.final_epochs=0",
        "mlp.batch_size=0",
        "mlp.train_subset=5",
        "mlp.search_space=huge",
        "mlp.tuner_dir=/nonexistent",
    ],
    [
        "mlp.train_subset=60000",
        "cnn.epochs_per_trial=0",
        "cnn.patience=-1",
        "cnn.num_initial_points=3",
        "cnn.search_subset=6000",
        "cnn.tuner_dir=runs/no-such-search",
    ],
    [override for override, _ in BAD_VALUES if override.startswith("compare.")],
    ["seed=true", "explore.validation_fraction=0", "mlp.batch_size=100000", "cnn.batch_size=3000"],
    ["seed=-3", "validation_fraction=0.0001", "mlp.search_space=whitened"],
    ["explore.seed=0", "validation_fraction=1.5"],
]


def refusal_line(override: str) -> str:
    """The start of the line that refuses `override`: `key = value is not allowed:`."""
    key, _, raw = override.partition("=")
    return f"{key.removeprefix('parameters.')} = {yaml.safe_load(raw)!r} is not allowed: "


def check_quick(overrides: list[str]) -> None:
    profile = profiles.apply_overrides(profiles.load_profile("quick"), overrides)
    profiles.notebook_parameters(profile, profile_name="quick", run_dir=Path("/tmp/run"))


def test_every_declared_parameter_has_a_constraint_of_its_declared_type():
    for notebook in NOTEBOOKS:
        for name, type_name in profiles.declared_parameters(notebook).items():
            assert name in CONSTRAINTS, (
                f"{notebook} declares {name!r}: add its constraint to fashion_lib.report.parameters"
            )
            assert CONSTRAINTS[name].type.__name__ == type_name, f"{notebook}.{name} is declared {type_name}"


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_each_notebooks_defaults_are_allowed(notebook):
    assert parameters.find_problems(notebook, notebook_defaults(notebook)) == []


def test_the_bad_values_cover_every_notebook_and_kind_of_constraint():
    sections = {override.partition("=")[0].rpartition(".")[0] or "parameters" for override, _ in BAD_VALUES}
    assert {"parameters", "explore", "mlp", "cnn", "compare"} <= sections
    assert len(BAD_VALUES) >= 20
    assert sorted(sum(CLI_RUNS, [])) == sorted(override for override, _ in BAD_VALUES)


@pytest.mark.parametrize(("override", "allowed"), BAD_VALUES)
def test_a_bad_value_is_refused_naming_parameter_value_and_what_is_allowed(override, allowed):
    with pytest.raises(ParameterError) as refused:
        check_quick([override])
    message = str(refused.value)
    assert message.startswith(refusal_line(override)), message
    assert allowed in message and "\n" not in message


def test_several_bad_values_are_refused_together_one_line_each():
    with pytest.raises(ParameterError) as refused:
        check_quick(["mlp.final_epochs=0", "compare.tsne_samples=5", "validation_fraction=1.5"])
    lines = str(refused.value).splitlines()
    assert lines[0] == "3 parameter values are not allowed (nothing was run):"
    assert [line.strip().split(" = ")[0] for line in lines[1:]] == [
        "validation_fraction",
        "mlp.final_epochs",
        "compare.tsne_samples",
    ]


def test_a_tuner_dir_holding_the_models_search_is_allowed(tmp_path):
    (tmp_path / "mlp").mkdir()
    (tmp_path / "mlp" / "oracle.json").write_text(json.dumps({"ongoing_trials": {}}))
    check_quick([f"mlp.tuner_dir={tmp_path}"])
    with pytest.raises(ParameterError, match="a folder holding a finished cnn search"):
        check_quick([f"cnn.tuner_dir={tmp_path}"])


def test_a_notebook_run_by_hand_gets_the_same_message():
    namespace = notebook_defaults("02_mlp") | {"final_epochs": 0, "unrelated": object()}
    with pytest.raises(ParameterError) as refused:
        check_notebook_parameters("02_mlp", namespace)
    assert str(refused.value) == "final_epochs = 0 is not allowed: an integer of at least 1."
    check_notebook_parameters("04_compare", notebook_defaults("04_compare"))


def run_cli(arguments: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess, float]:
    environment = os.environ | {
        "PYTHONPATH": str(config.PROJECT_ROOT),
        "FASHION_RUNS_DIR": str(tmp_path / "runs"),
        "FASHION_REPORT_DIR": str(tmp_path / "report"),
        # TensorFlow then prints its start-up notices on any CPU, as on AVX-512 ones: a refusal must come before.
        "TF_ENABLE_ONEDNN_OPTS": "1",
    }
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "fashion_lib", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    return result, time.perf_counter() - began


@pytest.mark.parametrize("overrides", CLI_RUNS, ids=lambda overrides: overrides[0])
def test_the_report_command_refuses_bad_values_in_seconds_and_writes_nothing(overrides, tmp_path):
    result, seconds = run_cli(["report", "--profile", "quick", *(f"--set={o}" for o in overrides)], tmp_path)
    assert result.returncode == 1 and seconds < 20, (result.returncode, seconds)
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.startswith("error: ")
    for override in overrides:
        assert refusal_line(override) in result.stderr, (override, result.stderr)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "report").exists()


def test_the_tune_command_refuses_bad_values_before_starting_a_search(tmp_path):
    overrides = ["--set=mlp.num_initial_points=3", "--set=compare.tsne_samples=5"]
    result, seconds = run_cli(["tune", "--model", "mlp", "--profile", "quick", *overrides], tmp_path)
    assert result.returncode == 1 and seconds < 20, (result.returncode, seconds)
    assert "Traceback" not in result.stderr
    assert refusal_line("mlp.num_initial_points=3") in result.stderr
    assert refusal_line("compare.tsne_samples=5") in result.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "report").exists()
