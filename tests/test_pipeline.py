"""The report command's profiles, overrides and failure handling (tiny stand-in notebooks, no training)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_lib import config
from fashion_lib.cli import main
from fashion_lib.report import profiles


def parameters_of(profile_name: str, overrides: list[str]) -> dict:
    profile = profiles.apply_overrides(profiles.load_profile(profile_name), overrides)
    return profiles.notebook_parameters(profile, profile_name=profile_name, run_dir=Path("/tmp/run"))


@pytest.mark.parametrize("name", profiles.available_profiles())
def test_each_profile_gives_every_notebook_valid_parameters(name):
    parameters = parameters_of(name, [])
    assert list(parameters) == ["01_explore", "02_mlp", "03_cnn", "04_compare"]
    for values in parameters.values():
        assert values["profile"] == name and values["run_dir"] == "/tmp/run"


def test_overrides_reach_all_notebooks_or_one():
    parameters = parameters_of("quick", ["seed=7", "cnn.max_trials=5"])
    assert {p["seed"] for p in parameters.values()} == {7}
    assert parameters["03_cnn"]["max_trials"] == 5
    assert parameters["02_mlp"]["max_trials"] == profiles.load_profile("quick")["mlp"]["max_trials"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["cnn.max_trial=5"], r"Unknown parameters \['max_trial'\] for 03_cnn"),
        (["shoes.max_trials=5"], "unknown notebook 'shoes'"),
        (["max_trials"], "not of the form key=value"),
        (["run_dir=/elsewhere"], "set by the report command itself"),
    ],
)
def test_bad_overrides_are_rejected(overrides, message):
    with pytest.raises(profiles.ProfileError, match=message):
        parameters_of("quick", overrides)


def test_unknown_profile_lists_the_available_ones():
    with pytest.raises(profiles.ProfileError, match="Available profiles: best, full, quick, replicate, standard"):
        profiles.load_profile("huge")


def test_cli_rejects_a_bad_profile_before_anything_runs(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(config, "RUNS_DIR", tmp_path / "runs")
    assert main(["report", "--profile", "quick", "--set", "cnn.max_trials=x"]) == 1
    assert "cnn.max_trials = 'x' is not allowed: an integer" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_failing_notebook_stops_the_run_and_keeps_earlier_results(monkeypatch, tmp_path, capsys, write_stand_in):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in ("01_explore", "03_cnn", "04_compare"):
        write_stand_in(notebooks, name, "pass")
    write_stand_in(notebooks, "02_mlp", "raise ValueError('the search space is empty')")
    monkeypatch.setattr(config, "NOTEBOOKS_DIR", notebooks)
    monkeypatch.setattr(config, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(config, "REPORT_DIR", tmp_path / "report")
    earlier = config.report_dir("quick") / "index.html"
    earlier.parent.mkdir(parents=True)
    earlier.write_text("the previous report")

    assert main(["report", "--profile", "quick"]) == 1
    error = capsys.readouterr().err
    assert "02_mlp.ipynb failed in cell 3 with ValueError: the search space is empty" in error
    kept = tmp_path / "report" / ".quick.partial" / "notebooks" / "02_mlp.ipynb"
    assert str(kept) in error and "the search space is empty" in kept.read_text()
    assert earlier.read_text() == "the previous report"
    assert not config.run_dir("quick").exists()


def test_only_overrides_that_change_the_profile_count_as_changed():
    overrides = ["compare.tsne_samples=300", "seed=1", "cnn.max_trials=2", "mlp.seed=1", "cnn.seed=4"]
    assert profiles.changed_parameters("quick", overrides) == {"compare.tsne_samples": 300, "cnn.seed": 4}


@pytest.mark.parametrize("name", ["03_cnn", "03", "cnn", "03_cnn.ipynb"])
def test_a_notebook_is_named_by_its_file_number_or_section(name):
    assert profiles.notebook_index(name) == 2
