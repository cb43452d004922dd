"""The notebooks' cache keys and the record of what each notebook wrote (no notebook runs here)."""

from __future__ import annotations

import shutil
from pathlib import Path

from fashion_lib.report import cache

ENVIRONMENT = {"code": "c0de", "versions": {"keras": "3"}, "data": {"md5": {}}}


def parameters(**changes):
    values = {
        "01_explore": {"seed": 1, "validation_fraction": 0.1},
        "02_mlp": {"seed": 1, "validation_fraction": 0.1, "max_trials": 2, "run_dir": "/a", "overwrite_search": True},
        "03_cnn": {"seed": 1, "validation_fraction": 0.1, "max_trials": 2},
        "04_compare": {"seed": 1, "validation_fraction": 0.1, "tsne_samples": 300},
    }
    for name, value in changes.items():
        notebook, parameter = name.split("__")
        values[notebook][parameter] = value
    return values


def key(notebook, values, *, source="s", environment=ENVIRONMENT, outputs=None):
    outputs = outputs or {"02_mlp": "m", "03_cnn": "c"}
    return cache.notebook_key(notebook, values, source=source, environment=environment, upstream_outputs=outputs)["key"]


def test_the_code_hash_changes_when_a_python_file_of_the_package_changes(tmp_path):
    package = tmp_path / "fashion_lib"
    shutil.copytree(Path(cache.__file__).parent.parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    assert cache.code_hash(package) == cache.code_hash()
    with (package / "analysis" / "figures" / "base.py").open("a") as handle:
        handle.write("# one more line\n")
    changed = cache.code_hash(package)
    assert changed != cache.code_hash()
    (package / "notes.txt").write_text("not code")
    assert cache.code_hash(package) == changed
    (package / "analysis" / "figures" / "base.py").rename(package / "analysis" / "figures" / "common.py")
    assert cache.code_hash(package) != changed


def test_a_key_changes_with_each_thing_the_notebook_depends_on():
    base = key("02_mlp", parameters())
    assert key("02_mlp", parameters()) == base
    assert key("02_mlp", parameters(**{"02_mlp__max_trials": 3})) != base
    assert key("02_mlp", parameters(), source="edited") != base
    for component, value in (("code", "other"), ("versions", {"keras": "4"}), ("data", {"md5": {"a": "b"}})):
        assert key("02_mlp", parameters(), environment=ENVIRONMENT | {component: value}) != base


def test_where_the_run_goes_and_whether_a_search_resumes_do_not_change_a_key():
    base = key("02_mlp", parameters())
    assert key("02_mlp", parameters(**{"02_mlp__run_dir": "/b", "02_mlp__overwrite_search": False})) == base


def test_02_depends_on_01s_split_settings_and_04_on_the_outputs_of_02_and_03():
    values = parameters()
    assert key("03_cnn", parameters(**{"01_explore__seed": 2})) != key("03_cnn", values)
    assert key("04_compare", parameters(**{"02_mlp__max_trials": 5})) == key("04_compare", values)
    assert key("04_compare", values, outputs={"02_mlp": "new", "03_cnn": "c"}) != key("04_compare", values)
    assert key("02_mlp", values, outputs={"02_mlp": "new", "03_cnn": "c"}) == key("02_mlp", values)


def test_what_a_notebook_recorded_is_the_difference_of_the_metrics():
    before = {"data": {"n": 1}, "models": {"mlp": {"accuracy": 0.8}}}
    after = {"data": {"n": 1}, "models": {"mlp": {"accuracy": 0.8}, "cnn": {"accuracy": 0.9}}, "comparison": 1}
    written = cache.metrics_written(before, after)
    assert written == {"models": {"cnn": {"accuracy": 0.9}}, "comparison": 1}
    assert cache.merge_metrics(before, written) == after


def test_written_files_and_their_removal(tmp_path):
    (tmp_path / "kept.txt").write_text("a")
    (tmp_path / "metrics.json").write_text("{}")
    before = cache.snapshot(tmp_path)
    (tmp_path / "tuner" / "mlp").mkdir(parents=True)
    (tmp_path / "tuner" / "mlp" / "trial.json").write_text("{}")
    assert cache.written_files(before, cache.snapshot(tmp_path)) == ["tuner/mlp/trial.json"]
    cache.remove_files(tmp_path, ["tuner/mlp/trial.json"])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["kept.txt", "metrics.json"]


def test_a_missing_or_damaged_state_reads_as_empty(tmp_path):
    assert cache.read_state(tmp_path) == {"notebooks": {}}
    (tmp_path / cache.STATE_FILE).write_text("{not json")
    assert cache.read_state(tmp_path) == {"notebooks": {}}


def test_the_data_fingerprint_names_the_verified_checksums():
    fingerprint = cache.data_fingerprint()
    assert fingerprint["md5"]["train-images-idx3-ubyte"] == "f4a8712d7a061bf5bd6d2ca38dc4d50a"
    assert fingerprint["files"]["train-images-idx3-ubyte.gz"] > 0


def test_04_reruns_when_the_run_it_quotes_changes(tmp_path):
    values = parameters()
    metrics = tmp_path / "metrics.json"
    absent = cache.quoted_metrics_digest(metrics)
    metrics.write_text('{"models": {}}')
    first = cache.quoted_metrics_digest(metrics)
    metrics.write_text('{"models": {"mlp": {}}}')
    second = cache.quoted_metrics_digest(metrics)
    assert len({absent, first, second}) == 3

    def quoting(digest):
        return cache.notebook_key(
            "04_compare",
            values,
            source="s",
            environment=ENVIRONMENT,
            upstream_outputs={"02_mlp": "m", "03_cnn": "c"},
            quoted_runs={"replicate": digest},
        )["key"]

    assert quoting(absent) != quoting(first) != quoting(second)
    assert quoting(first) == quoting(first)


def test_a_notebooks_outputs_fail_the_check_when_a_file_or_its_metrics_change(tmp_path):
    (tmp_path / "tuner").mkdir()
    (tmp_path / "cnn.keras").write_bytes(b"model" * 100)
    (tmp_path / "tuner" / "trial.json").write_text("{}")
    executed = tmp_path / "03_cnn.ipynb"
    executed.write_text('{"cells": []}')
    files, metrics = ["cnn.keras", "tuner/trial.json"], {"models": {"cnn": {"test_accuracy": 0.9}}}
    record = {"files": files, "metrics": metrics, **cache.output_digests(tmp_path, files, executed, metrics)}
    assert cache.damaged_output(record, tmp_path, executed) is None

    with (tmp_path / "cnn.keras").open("r+b") as handle:
        handle.truncate(100)
    assert cache.damaged_output(record, tmp_path, executed) == (
        f"{tmp_path / 'cnn.keras'} is not the file the notebook wrote (its content digest differs)"
    )
    (tmp_path / "cnn.keras").write_bytes(b"model" * 100)
    (tmp_path / "tuner" / "trial.json").unlink()
    assert cache.damaged_output(record, tmp_path, executed) == f"{tmp_path / 'tuner' / 'trial.json'} is missing"
    (tmp_path / "tuner" / "trial.json").write_text("{}")
    executed.write_text('{"cells": [}')
    assert cache.damaged_output(record, tmp_path, executed).startswith(f"{executed} is not the file")
    executed.write_text('{"cells": []}')
    changed = record | {"metrics": {"models": {"cnn": {"test_accuracy": 0.99}}}}
    assert "metrics" in cache.damaged_output(changed, tmp_path, executed)
    assert "holds no digests" in cache.damaged_output({"files": files, "metrics": metrics}, tmp_path, executed)
