"""Reruns of the quick report end to end, on the real notebooks and data: the lock, resume, reuse and history.

One sequence of commands on a copy of the project (so that a change to its `fashion_lib` code can be made):
a run is killed with SIGKILL during the MLP search while a second run of the profile is refused; the next run
takes the stale lock over and resumes; a run with nothing changed reuses every notebook and publishes no new run;
a run with one parameter of 04 changed runs only 04; after a truncated model and an edited executed notebook, the
next run reruns those notebooks and 04; after a change to the library's code all four run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fashion_lib import config

pytestmark = pytest.mark.report

# The quick profile, smaller still: these tests are about which notebooks run, not about accuracy. Three MLP
# trials leave time to stop the run after the first one finished and before the search ends.
SMALLER = [
    "mlp.train_subset=1000",
    "mlp.search_subset=500",
    "mlp.max_trials=3",
    "mlp.final_epochs=2",
    "cnn.train_subset=1000",
    "cnn.search_subset=500",
    "cnn.final_epochs=2",
    "compare.tsne_samples=300",
    "compare.baseline_train_subset=1000",
    "compare.bootstrap_resamples=200",
]
NOTEBOOKS = ["01_explore", "02_mlp", "03_cnn", "04_compare"]


def command(*arguments: str, overrides: list[str] = SMALLER) -> list[str]:
    return [sys.executable, "-m", "fashion_lib", *arguments, *(f"--set={o}" for o in overrides)]


def finished_trials(tuner: Path) -> dict[str, tuple[str, int]]:
    """Each completed trial's record and the time its duration file was written (at the trial's end)."""
    trials = {}
    for path in sorted(tuner.glob("trial_*/trial.json")):
        try:
            record = json.loads(path.read_text())
        except ValueError:
            continue  # being written
        if record.get("status") == "COMPLETED":
            duration = path.parent / "duration.json"
            trials[path.parent.name] = (record["score"], duration.stat().st_mtime_ns)
    return trials


@pytest.fixture(scope="module")
def reruns(tmp_path_factory):
    """Run the sequence of commands once; returns each step's output, exit code and duration."""
    psutil = pytest.importorskip("psutil")
    root = tmp_path_factory.mktemp("reruns")
    project = root / "project"
    for folder in ("fashion_lib", "notebooks", "profiles"):
        shutil.copytree(config.PROJECT_ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    environment = os.environ | {
        "PYTHONPATH": str(project),
        "FASHION_RUNS_DIR": str(root / "runs"),
        "FASHION_REPORT_DIR": str(root / "report"),
        # TensorFlow's start-up notices on any CPU, as on AVX-512 ones: none may reach the terminal.
        "TF_ENABLE_ONEDNN_OPTS": "1",
    }
    steps: dict[str, dict] = {}

    def run(step: str, arguments: list[str]) -> None:
        began = time.monotonic()
        result = subprocess.run(
            arguments, cwd=project, env=environment, capture_output=True, text=True, timeout=1200, check=False
        )
        steps[step] = {
            "returncode": result.returncode,
            "out": result.stdout,
            "err": result.stderr,
            "seconds": time.monotonic() - began,
        }

    # A run stopped with SIGKILL (it and its kernel, as a machine going down would) after the MLP search's first
    # trial finished; meanwhile a second run of the profile is refused.
    first = subprocess.Popen(
        command("report", "--profile", "quick"),
        cwd=project,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tuner = root / "runs" / ".quick.partial" / "tuner" / "mlp"
    try:
        deadline = time.monotonic() + 900
        while not finished_trials(tuner) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        run("refused", command("report", "--profile", "quick"))
        family = [first_process := psutil.Process(first.pid), *first_process.children(recursive=True)]
        for process in family:
            process.send_signal(signal.SIGKILL)
        psutil.wait_procs(family, timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
        first.wait()
    steps["killed"] = {"pid": first.pid, "trials": finished_trials(tuner)}

    run("resumed", command("report", "--profile", "quick"))
    steps["resumed"]["trials"] = finished_trials(root / "runs" / "quick" / "tuner" / "mlp")
    steps["resumed"]["metrics"] = json.loads((root / "report" / "quick" / "metrics.json").read_text())
    run("unchanged", command("report", "--profile", "quick"))
    tsne = [*SMALLER, "compare.tsne_samples=250"]
    run("tsne", command("report", "--profile", "quick", overrides=tsne))
    steps["tsne"]["metrics"] = json.loads((root / "report" / "quick" / "metrics.json").read_text())
    # The damage a user could do: a model cut short, one byte of an executed notebook changed (invalid JSON).
    os.truncate(root / "runs" / "quick" / "cnn.keras", 100)
    executed = root / "report" / "quick" / "notebooks" / "01_explore.ipynb"
    executed.write_bytes(b"X" + executed.read_bytes()[1:])
    run("damaged", command("report", "--profile", "quick", overrides=tsne))
    steps["damaged"]["metrics"] = json.loads((root / "report" / "quick" / "metrics.json").read_text())
    with (project / "fashion_lib" / "evaluation.py").open("a") as handle:
        handle.write("# A change to the library's code reruns every notebook.\n")
    run("code", command("report", "--profile", "quick", "--name", "after-code-change"))
    run("runs", [sys.executable, "-m", "fashion_lib", "runs", "--profile", "quick"])
    return {"steps": steps, "root": root}


def test_a_second_run_of_the_profile_is_refused_naming_the_first(reruns):
    steps = reruns["steps"]
    assert steps["killed"]["trials"], "the first run was killed before its first search trial finished"
    refused = steps["refused"]
    assert refused["returncode"] == 1 and refused["seconds"] < 60
    error = refused["err"].strip()
    assert len(error.splitlines()) == 1
    assert re.search(rf"already running \(process {steps['killed']['pid']}, started \d{{4}}-\d\d-\d\d", error)


def test_the_next_run_takes_the_stale_lock_over_and_resumes_without_rerunning_finished_trials(reruns):
    steps = reruns["steps"]
    resumed = steps["resumed"]
    assert resumed["returncode"] == 0, resumed["err"][-3000:]
    assert f"Taking over the lock of process {steps['killed']['pid']}" in resumed["out"]
    assert "[1/4] 01_explore: Data exploration — kept from the interrupted run" in resumed["out"]
    assert "[2/4] 02_mlp: The MLP — resuming the interrupted run" in resumed["out"]
    # Every trial finished before the kill is still there as it was: same score, duration file not rewritten.
    killed = steps["killed"]["trials"]
    assert {name: resumed["trials"][name] for name in killed} == killed
    assert len(resumed["trials"]) == 3
    metrics = resumed["metrics"]
    assert metrics["models"]["mlp"]["trials"] == 3
    assert metrics["cache"]["notebooks"]["02_mlp"]["status"] == "resumed"


def test_a_rerun_with_nothing_changed_reuses_every_notebook_in_a_fifth_of_the_time(reruns):
    steps = reruns["steps"]
    unchanged = steps["unchanged"]
    assert unchanged["returncode"] == 0, unchanged["err"][-3000:]
    for index, notebook in enumerate(NOTEBOOKS, start=1):
        assert re.search(rf"\[{index}/4\] {notebook}: .* — reused \(unchanged since \d{{4}}-", unchanged["out"])
    assert "done in" not in unchanged["out"]
    assert unchanged["seconds"] < steps["resumed"]["seconds"] / 5
    # Nothing changed: no new run, the resumed one stays the latest (and stays out of the history).
    resumed_id = steps["resumed"]["metrics"]["run"]["id"]
    assert f"Nothing changed since run {resumed_id}: its outputs passed the check" in unchanged["out"]
    assert f"(run {resumed_id})" in unchanged["out"]


def test_a_changed_parameter_of_04_reruns_only_04(reruns):
    tsne = reruns["steps"]["tsne"]
    assert tsne["returncode"] == 0, tsne["err"][-3000:]
    assert tsne["out"].count("reused (unchanged since") == 3 and tsne["out"].count("done in") == 1
    assert "[4/4] 04_compare: Comparison and ensembles\n" in tsne["out"]


def test_a_truncated_model_and_an_edited_notebook_rerun_what_depends_on_them(reruns):
    root, damaged = reruns["root"], reruns["steps"]["damaged"]
    assert damaged["returncode"] == 0, damaged["err"][-3000:]
    lines = damaged["out"].splitlines()
    differs = "is not the file the notebook wrote (its content digest differs)"
    assert [line for line in lines if "running again" in line] == [
        f"[1/4] 01_explore: Data exploration — running again: {root}/report/quick/notebooks/01_explore.ipynb {differs}",
        f"[3/4] 03_cnn: The CNN — running again: {root}/runs/quick/cnn.keras {differs}",
    ]
    assert any(line.startswith("[2/4] 02_mlp: The MLP — reused (unchanged since") for line in lines)
    # 04 reads the CNN that 03 wrote again.
    assert "[4/4] 04_compare: Comparison and ensembles" in lines
    statuses = {n: s["status"] for n, s in damaged["metrics"]["cache"]["notebooks"].items()}
    assert statuses == {"01_explore": "repaired", "02_mlp": "reused", "03_cnn": "repaired", "04_compare": "ran"}
    tsne_id = reruns["steps"]["tsne"]["metrics"]["run"]["id"]
    assert f"replaces run {tsne_id}, whose outputs failed the check" in damaged["out"]


def test_the_repaired_runs_models_load_and_score_what_its_metrics_say(reruns, fashion):
    import keras

    from fashion_lib.data import scale_images
    from fashion_lib.scores import accuracy

    root, metrics = reruns["root"], reruns["steps"]["damaged"]["metrics"]
    # The next step (a change to the code) moved the repaired run into the history.
    models = root / "runs" / "history" / "quick" / metrics["run"]["id"]
    for name in ("mlp", "cnn"):
        model = keras.saving.load_model(models / f"{name}.keras")
        predictions = model.predict(scale_images(fashion.test_images), verbose=0).argmax(axis=1)
        assert abs(accuracy(fashion.test_labels, predictions) - metrics["models"][name]["test_accuracy"]) <= 0.001


def test_a_change_to_the_library_code_reruns_all_four(reruns):
    code = reruns["steps"]["code"]
    assert code["returncode"] == 0, code["err"][-3000:]
    assert code["out"].count("done in") == 4 and "reused" not in code["out"]
    metrics = json.loads((reruns["root"] / "report" / "quick" / "metrics.json").read_text())
    assert metrics["run"]["id"] == "after-code-change"
    assert {n: s["status"] for n, s in metrics["cache"]["notebooks"].items()} == dict.fromkeys(NOTEBOOKS, "ran")


def test_earlier_runs_are_listed_with_their_accuracies_and_stay_readable(reruns):
    root, runs = reruns["root"], reruns["steps"]["runs"]
    assert runs["returncode"] == 0, runs["err"]
    lines = [line for line in runs["out"].splitlines() if line.startswith("quick ")]
    # The resumed run, the repaired one (in place of the run it repeats) and the latest: no entry for reruns.
    assert len(lines) == 3 and lines[0].split()[1:3] == ["after-code-change", "*"]
    assert all(len(re.findall(r"\d+\.\d\d%", line)) == 3 for line in lines)
    assert "compare.tsne_samples=250" in runs["out"]
    earlier = sorted((root / "report" / "history" / "quick").iterdir())
    assert len(earlier) == 2
    for run in earlier:
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["run"]["id"] == run.name
        assert all((run / f"{page}.html").is_file() for page in ["index", *NOTEBOOKS])
        assert (root / "runs" / "history" / "quick" / run.name / "cnn.keras").is_file()
    assert (root / "report" / "runs.html").is_file()
