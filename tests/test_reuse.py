"""Which notebooks a report run executes, reuses or resumes, and the history it keeps (tiny stand-in notebooks).

The stand-ins have the real notebooks' parameters cells and a few lines that write files and metrics as the real
ones do; the quick profile's report end to end, on the real notebooks, is in test_report_reruns.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from fashion_lib import config
from fashion_lib.cli import main
from fashion_lib.report import cache, execution, history, locks, pipeline, profiles, rendering

RECORD = "from pathlib import Path\nfrom fashion_lib.results import record_results\n"
BODIES = {
    "01_explore": RECORD + "record_results(run_dir, 'data', {'seed': seed})",
    # A stand-in search: one file per trial in the tuner folder, which overwrite_search=True starts afresh; the
    # trial numbered by the file `interrupt_at` (if any) stops the notebook, as an interruption would.
    "02_mlp": RECORD
    + """import os, shutil
trials = Path(run_dir, "tuner", "mlp")
if overwrite_search:
    shutil.rmtree(trials, ignore_errors=True)
trials.mkdir(parents=True, exist_ok=True)
stop = Path(os.environ["STAND_IN_INTERRUPT"])
for trial in range(max_trials):
    if (trials / f"trial_{trial}").exists():
        continue
    if stop.is_file() and stop.read_text() == str(trial):
        stop.unlink()
        raise KeyboardInterrupt(f"stopped in trial {trial}")
    (trials / f"trial_{trial}").write_text(str(os.getpid()))
Path(run_dir, "mlp.keras").write_text(str(max_trials))
record_results(run_dir, "models.mlp", {"label": "MLP", "test_accuracy": 0.8, "trials": max_trials})""",
    "03_cnn": RECORD
    + """Path(run_dir, "cnn.keras").write_text(str(max_trials))
record_results(run_dir, "models.cnn", {"label": "CNN", "test_accuracy": 0.9})""",
    "04_compare": RECORD
    + """record_results(run_dir, "explanations", {"tsne_samples": tsne_samples})
if compare_search_strategies:
    record_results(run_dir, "search_strategies", {"random": 0.5})
    Path(run_dir, "tuner_random").mkdir(exist_ok=True)
    Path(run_dir, "tuner_random", "trial_0").write_text("random")""",
}


@pytest.fixture
def project(monkeypatch, tmp_path, write_stand_in):
    """Stand-in notebooks, temporary run and report folders, no PDF printing, and a copy of the package to hash."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name, body in BODIES.items():
        write_stand_in(notebooks, name, body)
    package = tmp_path / "fashion_lib"
    shutil.copytree(Path(cache.__file__).parent.parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    real_code_hash = cache.code_hash
    monkeypatch.setattr(cache, "code_hash", lambda package_dir=None: real_code_hash(package))
    monkeypatch.setattr(config, "NOTEBOOKS_DIR", notebooks)
    monkeypatch.setattr(config, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(config, "REPORT_DIR", tmp_path / "report")
    monkeypatch.setattr(rendering, "find_chromium", lambda: None)
    monkeypatch.setenv("STAND_IN_INTERRUPT", str(tmp_path / "interrupt_at"))
    return tmp_path


def statuses(result):
    return {notebook: status["status"] for notebook, status in result.statuses.items()}


def report(*overrides, **options):
    return pipeline.run_report("quick", list(overrides), **options)


ALL = ["01_explore", "02_mlp", "03_cnn", "04_compare"]


def test_unchanged_notebooks_are_reused_and_changed_ones_rerun_with_what_follows(project, capsys):
    first = report()
    assert set(statuses(first).values()) == {"ran"}
    capsys.readouterr()

    second = report()
    assert set(statuses(second).values()) == {"reused"}
    out = capsys.readouterr().out
    assert out.count("reused (unchanged since ") == 4 and "done in" not in out
    assert second.metrics["models"] == first.metrics["models"]
    assert second.metrics["cache"]["notebooks"]["02_mlp"]["key"] == first.metrics["cache"]["notebooks"]["02_mlp"]["key"]
    assert (config.run_dir("quick") / "tuner" / "mlp" / "trial_1").is_file()

    third = report("compare.tsne_samples=70")
    assert statuses(third) == dict.fromkeys(ALL[:3], "reused") | {"04_compare": "ran"}
    assert third.metrics["explanations"]["tsne_samples"] == 70

    fourth = report("compare.tsne_samples=70", "cnn.max_trials=3")
    assert statuses(fourth) == {"01_explore": "reused", "02_mlp": "reused", "03_cnn": "ran", "04_compare": "ran"}
    assert (config.run_dir("quick") / "cnn.keras").read_text() == "3"

    with (project / "fashion_lib" / "analysis" / "evaluation.py").open("a") as handle:
        handle.write("# a change to the library's code\n")
    fifth = report("compare.tsne_samples=70", "cnn.max_trials=3")
    assert set(statuses(fifth).values()) == {"ran"}


def test_force_and_from_execute_notebooks_that_could_be_reused(project):
    report()
    assert set(statuses(report(force=True)).values()) == {"ran"}
    assert statuses(report(from_notebook="03")) == {
        "01_explore": "reused",
        "02_mlp": "reused",
        "03_cnn": "ran",
        "04_compare": "ran",
    }
    with pytest.raises(profiles.ProfileError, match="Unknown notebook '05'"):
        report(from_notebook="05")


def test_a_rerun_notebook_leaves_nothing_of_its_earlier_outputs(project):
    report("compare.compare_search_strategies=true")
    assert (config.run_dir("quick") / "tuner_random" / "trial_0").is_file()
    result = report()
    assert statuses(result)["04_compare"] == "ran"
    assert "search_strategies" not in result.metrics
    assert not (config.run_dir("quick") / "tuner_random").exists()


def test_an_interrupted_run_resumes_its_search_and_keeps_finished_notebooks(project, capsys):
    (project / "interrupt_at").write_text("2")
    with pytest.raises(execution.NotebookFailed, match="stopped in trial 2"):
        report("mlp.max_trials=4")
    trials = config.run_dir("quick").with_name(".quick.partial") / "tuner" / "mlp"
    finished = {path.name: path.read_text() for path in trials.iterdir()}
    assert sorted(finished) == ["trial_0", "trial_1"]
    capsys.readouterr()

    result = report("mlp.max_trials=4")
    assert statuses(result) == {"01_explore": "kept", "02_mlp": "resumed", "03_cnn": "ran", "04_compare": "ran"}
    assert "kept from the interrupted run" in capsys.readouterr().out
    trials = config.run_dir("quick") / "tuner" / "mlp"
    # The trials finished before the interruption were not run again: their files are the first execution's.
    assert {name: (trials / name).read_text() for name in finished} == finished
    assert sorted(path.name for path in trials.iterdir()) == ["trial_0", "trial_1", "trial_2", "trial_3"]
    assert (trials / "trial_2").read_text() != finished["trial_0"]


def test_fresh_discards_an_interrupted_run(project):
    (project / "interrupt_at").write_text("1")
    with pytest.raises(execution.NotebookFailed):
        report()
    result = report(fresh=True)
    assert set(statuses(result).values()) == {"ran"}
    trials = config.run_dir("quick") / "tuner" / "mlp"
    assert len({(trials / name).read_text() for name in ("trial_0", "trial_1")}) == 1


def test_earlier_runs_are_kept_listed_and_pruned(project, capsys):
    report(name="first")
    report("compare.tsne_samples=70")
    latest = report("compare.tsne_samples=90")
    report_history, runs_history = history.history_dirs("quick")
    assert sorted(path.name for path in report_history.iterdir())[-1] == "first"
    assert (report_history / "first" / "index.html").is_file() and (runs_history / "first" / "cnn.keras").is_file()

    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert f"{latest.run_id} *" in out and "first" in out and "compare.tsne_samples=90" in out and "80.00%" in out
    page = (config.REPORT_DIR / "runs.html").read_text()
    assert 'href="history/quick/first/index.html"' in page and "compare.tsne_samples" in page

    report(keep=1)
    assert len(list(report_history.iterdir())) == 1 and len(list(runs_history.iterdir())) == 1
    assert not (report_history / "first").exists() and not (runs_history / "first").exists()

    with pytest.raises(history.RunNameError, match="already named 'first'|not usable"):
        report(name="bad name")


def test_a_damaged_output_is_not_reused_its_notebook_runs_again_and_the_latest_run_is_replaced(project, capsys):
    first = report()
    model = config.run_dir("quick") / "cnn.keras"
    model.write_text("")  # as `truncate -s 0` would leave it
    capsys.readouterr()

    second = report()
    assert statuses(second) == {
        "01_explore": "reused",
        "02_mlp": "reused",
        "03_cnn": "repaired",
        # The stand-in's CNN writes the same file again, so 04's key is unchanged and its outputs are reused.
        "04_compare": "reused",
    }
    out = capsys.readouterr().out
    running_again = [line for line in out.splitlines() if "running again" in line]
    assert running_again == [
        f"[3/4] 03_cnn: The CNN — running again: {model} is not the file the notebook wrote (its content digest "
        "differs)"
    ]
    assert f"Run {second.run_id} replaces run {first.run_id}, whose outputs failed the check" in out
    assert model.read_text() == "2"
    # The damaged run is not pushed into the history: the repaired one takes its place.
    assert [entry.run_id for entry in history.list_runs("quick")] == [second.run_id]

    executed = config.report_dir("quick") / "notebooks" / "01_explore.ipynb"
    content = executed.read_bytes()
    executed.write_bytes(b"[" + content[1:])  # one byte changed: no longer valid JSON
    third = report()
    assert statuses(third)["01_explore"] == "repaired"
    assert f"running again: {executed} is not the file the notebook wrote" in capsys.readouterr().out
    assert json.loads(executed.read_text())["cells"]


def test_a_missing_output_and_changed_metrics_fail_the_check(project, capsys):
    report()
    (config.run_dir("quick") / "tuner" / "mlp" / "trial_0").unlink()
    state = cache.read_state(config.run_dir("quick"))
    state["notebooks"]["03_cnn"]["metrics"]["models"]["cnn"]["test_accuracy"] = 0.99
    cache.write_state(config.run_dir("quick"), state)
    capsys.readouterr()

    result = report()
    # 02's new trial files differ from the first ones (they hold the kernel's process id), so 04 runs again too.
    assert statuses(result) == {"01_explore": "reused", "02_mlp": "repaired", "03_cnn": "repaired", "04_compare": "ran"}
    # Still the same parameters, code and data: the repaired run takes the damaged one's place.
    assert [entry.run_id for entry in history.list_runs("quick")] == [result.run_id]
    out = capsys.readouterr().out
    assert f"running again: {config.run_dir('quick') / 'tuner' / 'mlp' / 'trial_0'} is missing" in out
    assert "[3/4] 03_cnn: The CNN — running again: the metrics its record in" in out
    assert result.metrics["models"]["cnn"]["test_accuracy"] == 0.9


def test_reruns_that_change_nothing_publish_no_new_run_and_evict_no_real_run(project, capsys):
    first = report(name="seed-1")
    second = report("seed=2", name="seed-2")
    published = (config.report_dir("quick") / "metrics.json").read_text()
    capsys.readouterr()
    for _ in range(5):
        rerun = report("seed=2")
        assert set(statuses(rerun).values()) == {"reused"} and rerun.run_id == "seed-2"
        assert "Nothing changed since run seed-2: its outputs passed the check" in capsys.readouterr().out
    assert [entry.run_id for entry in history.list_runs("quick")] == [second.run_id, first.run_id]
    assert (config.report_dir("quick") / "metrics.json").read_text() == published
    assert main(["runs", "--profile", "quick"]) == 0
    out = capsys.readouterr().out
    assert "seed-2 *" in out and "seed-1" in out and "seed=2" in out


def test_a_latest_run_without_its_metrics_keeps_its_id_and_numbers_in_the_history(project):
    report(name="first")
    (config.report_dir("quick") / "metrics.json").unlink()
    report("compare.tsne_samples=70")
    earlier = [entry for entry in history.list_runs("quick") if not entry.latest]
    assert [entry.run_id for entry in earlier] == ["first"]
    assert earlier[0].accuracies["MLP"] == 0.8 and earlier[0].accuracies["CNN"] == 0.9


def test_force_says_what_it_discards_of_an_interrupted_run_and_runs_lists_it(project, capsys):
    (project / "interrupt_at").write_text("2")
    with pytest.raises(execution.NotebookFailed):
        report("mlp.max_trials=4")
    capsys.readouterr()
    assert main(["runs"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "No finished runs yet.",
        "quick: an interrupted run (finished: 01_explore; 02_mlp was cut short); "
        "`python -m fashion_lib report --profile quick` resumes it, `--fresh` discards it",
    ]
    running = cache.read_state(config.run_dir("quick").with_name(".quick.partial"))["running"]
    with locks.profile_lock("quick"):
        assert history.unfinished_runs() == [
            f"quick: a run is in progress (process {os.getpid()}, started {locks.current_holder('quick').started}; "
            f"finished: 01_explore; running 02_mlp since {running['started'].replace('T', ' ')})"
        ]

    result = report("mlp.max_trials=4", force=True)
    assert set(statuses(result).values()) == {"ran"}
    assert (
        "--force discards what the interrupted run would have kept: the finished 01_explore and the 2 files 02_mlp "
        "had written (its finished search trials)." in capsys.readouterr().out
    )


def test_ctrl_c_ends_the_kernel_and_the_command_with_one_line(project, write_stand_in, capfd):
    started = project / "started"
    write_stand_in(
        project / "notebooks",
        "02_mlp",
        f"import time\nfrom pathlib import Path\nPath({str(started)!r}).touch()\ntime.sleep(300)",
    )

    def press_ctrl_c() -> None:
        deadline = time.monotonic() + 300
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    began = time.monotonic()
    assert main(["report", "--profile", "quick"]) == 130
    presser.join()
    assert time.monotonic() - began < 200
    time.sleep(2)  # what a kernel still alive would print comes now
    err = capfd.readouterr().err
    assert err.splitlines()[-1:] == ["interrupted"], err
    assert "Traceback" not in err and "ZMQError" not in err


def test_a_damaged_run_moves_to_the_history_without_its_damaged_outputs(project, capsys):
    first = report()
    model = config.run_dir("quick") / "cnn.keras"
    model.write_text("")
    capsys.readouterr()

    report("compare.tsne_samples=70")
    out = capsys.readouterr().out
    assert f"Run {first.run_id} moves to the history without the outputs of 03_cnn: {model} is not the file" in out
    report_history, runs_history = history.history_dirs("quick")
    assert not (runs_history / first.run_id / "cnn.keras").exists()
    assert not (report_history / first.run_id / "notebooks" / "03_cnn.ipynb").exists()
    assert (runs_history / first.run_id / "mlp.keras").read_text() == "2"
    [earlier] = [entry for entry in history.list_runs("quick") if not entry.latest]
    assert earlier.run_id == first.run_id and earlier.damaged == ["03_cnn"]
    assert "(outputs of 03_cnn failed the check and were removed)" in history.format_runs([earlier])
