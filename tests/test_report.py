"""The quick report end to end, on the real data: outputs, figures, metrics, models, and a real browser."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import time

import nbformat
import numpy as np
import pandas as pd
import pytest

from fashion_lib import config
from fashion_lib.report import check as report_check

pytestmark = pytest.mark.report

# Figures each page must show: the seed report's Figures 1-13 and the trial plots (03_cnn also the architecture
# study's curves); 04_compare adds intervals,
# vote weights, reliability diagrams, the accuracy comparison, two Grad-CAM galleries, a t-SNE map and accuracy
# against training compute.
EXPECTED_FIGURES = {"01_explore": 2, "02_mlp": 6, "03_cnn": 7, "04_compare": 11}
QUICK_REPORT_COMMAND = [sys.executable, "-m", "fashion_lib", "report", "--profile", "quick"]


def _environment(root):
    """The environment of a report command that writes its runs and report under `root`."""
    return os.environ | {
        "FASHION_RUNS_DIR": str(root / "runs"),
        "FASHION_REPORT_DIR": str(root / "report"),
        # TensorFlow then prints its start-up notices on any CPU, as on AVX-512 ones: the terminal must not show them.
        "TF_ENABLE_ONEDNN_OPTS": "1",
    }


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    """Run `python -m fashion_lib report --profile quick` once into temporary folders."""
    root = tmp_path_factory.mktemp("quick")
    result = subprocess.run(
        QUICK_REPORT_COMMAND,
        env=_environment(root),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report_dir = root / "report" / "quick"
    return {
        "report": report_dir,
        "runs": root / "runs" / "quick",
        "metrics": json.loads((report_dir / "metrics.json").read_text()),
        "stdout": result.stdout,
        "stderr": result.stderr,
    }


def test_the_run_shows_progress_and_durations(quick_report):
    for index, name in enumerate(EXPECTED_FIGURES, start=1):
        assert f"[{index}/4] {name}" in quick_report["stdout"]
    assert quick_report["stdout"].count("done in") == 4


def test_the_terminal_shows_no_start_up_notices(quick_report):
    terminal_log = quick_report["stdout"] + quick_report["stderr"]
    for notice in ("I0000", "absl", "oneDNN custom operations", "IPKernelApp"):
        assert notice not in terminal_log, notice


def _section(stdout, start, end):
    """The terminal output between two lines that start with `start` and `end` (or to the end)."""
    after = stdout.split(start, 1)[1]
    return after.split(end, 1)[0] if end else after


def test_the_terminal_shows_one_line_per_trial_with_its_score_and_no_keras_bars(quick_report):
    from fashion_lib.search.tuning import load_search

    stdout = quick_report["stdout"]
    for model, start, end in (("mlp", "[2/4] 02_mlp", "[3/4] 03_cnn"), ("cnn", "[3/4] 03_cnn", "[4/4] 04_compare")):
        section = _section(stdout, start, end)
        shown = re.findall(rf"^\s+{model} trial (\d+)/(\d+): val_accuracy ([\d.]+)% \(best", section, re.MULTILINE)
        trials = load_search(quick_report["runs"] / "tuner", model).trials
        assert [int(number) for number, _, _ in shown] == list(range(1, len(trials) + 1))
        assert [float(score) for _, _, score in shown] == pytest.approx(list(100 * trials["score"]), abs=0.006)
        assert re.search(rf"^\s+{model} training epoch \d+/\d+: val_accuracy", section, re.MULTILINE)
        assert re.search(rf"^\s+{model} training ended after", section, re.MULTILINE)
    # Keras' per-step bars (and papermill's bar of cells) stay out of the log.
    assert "━" not in stdout and "/step" not in stdout and "Executing" not in quick_report["stderr"]
    # The lines went to the terminal, not into the notebooks.
    executed = (quick_report["report"] / "notebooks" / "02_mlp.ipynb").read_text()
    assert "mlp trial 1/" not in executed


def test_report_files_exist(quick_report):
    report = quick_report["report"]
    for name in ["index.html", "metrics.json", *(f"{page}.html" for page in EXPECTED_FIGURES)]:
        assert (report / name).is_file(), name
    for page in EXPECTED_FIGURES:
        assert (report / "notebooks" / f"{page}.ipynb").is_file()
    pdf = report / "report.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 100_000


@pytest.mark.parametrize(("page", "figures"), EXPECTED_FIGURES.items())
def test_every_figure_is_embedded_and_no_cell_failed(quick_report, page, figures):
    html = (quick_report["report"] / f"{page}.html").read_text()
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', html)) >= figures
    assert "<script src=" not in html, "pages must not load scripts from elsewhere"
    executed = nbformat.read(quick_report["report"] / "notebooks" / f"{page}.ipynb", as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []


def test_metrics_contract(quick_report):
    metrics = quick_report["metrics"]
    assert metrics["profile"] == "quick" and metrics["seed"] == 1
    for name in ("mlp", "cnn"):
        model = metrics["models"][name]
        assert 0.5 < model["test_accuracy"] <= 1.0
        assert set(model["per_class"]) == set(config.CLASS_NAMES)
        assert {"precision", "recall", "f1", "support"} <= set(model["per_class"]["Shirt"])
        # One final training per model in the quick profile; its run is the model evaluated above.
        assert [run["seed"] for run in model["seed_runs"]] == [1] and model["seed_summary"]["k"] == 1
        assert model["seed_runs"][0]["test_accuracy"] == model["test_accuracy"]
    # The quick profile's CNN search trains its trials on 2,000 of its 5,000 training images.
    assert (metrics["models"]["mlp"]["search_images"], metrics["models"]["cnn"]["search_images"]) == (5000, 2000)
    assert -1.0 <= metrics["comparison"]["kendall_tau"] <= 1.0
    assert {"hard_vote", "soft_vote", "weighted_soft_vote", "stacking"} <= set(metrics["ensembles"])
    for ensemble in metrics["ensembles"].values():
        assert {"label", "test_accuracy", "shirt_accuracy", "shirts_vs_reference"} <= set(ensemble)
    assert sum(metrics["ensembles"]["weighted_soft_vote"]["weights"].values()) == pytest.approx(1.0)
    assert metrics["timings"]["total_s"] > 0 and metrics["peak_memory_mib"] > 0
    assert {"cpu_model", "cpu_flags", "onednn", "threads", "usable_cpus"} <= set(metrics["machine"])


def test_the_quick_profile_runs_the_architecture_study_at_smoke_size_and_says_so(quick_report):
    from fashion_lib.analysis import architecture_study

    study = quick_report["metrics"][architecture_study.SECTION]
    assert (study["epochs"], study["train_images"], study["ranking_epochs"]) == (3, 500, [1, 2, 3])
    assert len(study["architectures"]) == 6 and set(study["picks"]) == {"1", "2", "3"}
    histories = pd.read_csv(quick_report["runs"] / architecture_study.STUDY_FILE)
    assert len(histories) == 6 * 3
    page = (quick_report["report"] / "03_cnn.html").read_text()
    assert "Does the length of the search" in page and "smoke-size study" in page
    assert f"{study['picks']['3']['test_accuracy']:.2%}" in page
    assert quick_report["metrics"]["models"]["cnn"]["epochs_per_trial"] == 2


def test_the_quick_profile_trains_with_the_recipe_and_reports_tta_beside_the_plain_figure(quick_report):
    models = quick_report["metrics"]["models"]
    assert models["mlp"]["recipe"] == {"schedule": "cosine", "augmentation": "none"}
    cnn = models["cnn"]["recipe"]
    assert (cnn["schedule"], cnn["augmentation"]) == ("cosine", "shifts of up to 1 pixel, mirroring")
    assert 0.5 < cnn["flip_tta_test_accuracy"] <= 1.0
    page = (quick_report["report"] / "03_cnn.html").read_text()
    assert f"{cnn['flip_tta_test_accuracy']:.2%}" in page and "the plain figure stays the model" in page
    # The cosine schedule trains every epoch (no early stop): the quick profile's 4.
    assert models["cnn"]["epochs_trained"] == models["mlp"]["epochs_trained"] == 4


def test_metrics_of_the_statistics_calibration_and_baseline(quick_report):
    metrics = quick_report["metrics"]
    uncertainty = metrics["uncertainty"]
    assert uncertainty["resamples"] == 1000 and uncertainty["confidence"] == 0.95
    for name in ("mlp", "cnn"):
        interval = uncertainty["models"][name]["test_accuracy"]
        assert interval["lower"] <= metrics["models"][name]["test_accuracy"] <= interval["upper"]
        assert set(uncertainty["models"][name]["f1"]) == set(config.CLASS_NAMES)
        calibration = metrics["calibration"][name]
        assert calibration["temperature"] > 0 and 0 <= calibration["ece_after"] <= 1 and calibration["bins"] == 15
    difference = uncertainty["accuracy_difference_cnn_minus_mlp"]
    gap = metrics["models"]["cnn"]["test_accuracy"] - metrics["models"]["mlp"]["test_accuracy"]
    assert difference["estimate"] == pytest.approx(gap) and difference["lower"] <= gap <= difference["upper"]
    assert 0.5 < metrics["baselines"]["logistic_regression"]["test_accuracy"] <= 1.0
    assert metrics["references"]["human"]["test_accuracy"] == 0.835
    assert metrics["explanations"]["tsne_samples"] == 1000
    assert "search_strategies" not in metrics  # off in the quick profile


def test_pages_show_the_numbers_in_metrics_json(quick_report):
    metrics, report = quick_report["metrics"], quick_report["report"]
    index = (report / "index.html").read_text()
    shown = dict(re.findall(r'<td data-metric="([\w.]+)">([^<]*)</td>', index))
    for key in ("models.mlp", "models.cnn", "ensembles.soft_vote"):
        section, name = key.split(".")
        assert shown[f"{key}.test_accuracy"].startswith(f"{metrics[section][name]['test_accuracy']:.2%} (")
    for name, page in (("mlp", "02_mlp"), ("cnn", "03_cnn")):
        assert f"{metrics['models'][name]['test_accuracy']:.2%}" in (report / f"{page}.html").read_text()
    assert f"{metrics['comparison']['kendall_tau']:.2f}" in (report / "04_compare.html").read_text()


def test_the_landing_page_sets_accuracy_against_the_compute_the_run_counted(quick_report):
    import keras
    from bs4 import BeautifulSoup

    from fashion_lib.analysis.compute import forward_flops

    metrics = quick_report["metrics"]
    for name in ("mlp", "cnn"):
        record, model = metrics["compute"]["models"][name], metrics["models"][name]
        assert record["test_accuracy"] == model["test_accuracy"]
        assert record["forward_flops"] == forward_flops(keras.saving.load_model(quick_report["runs"] / f"{name}.keras"))
        assert record["epochs_trained"] == model["epochs_trained"]
        assert (
            record["training_flops"] == 3 * record["forward_flops"] * record["train_images"] * record["epochs_trained"]
        )
        assert record["search_flops"] > 0
    index = BeautifulSoup((quick_report["report"] / "index.html").read_text(), "html.parser")
    figure = index.find(id="compute-heading").find_parent("section").find("svg")
    best = max(metrics["compute"]["models"].values(), key=lambda record: record["test_accuracy"])
    assert (
        f"the most accurate is the {best['label']} of this run at {best['test_accuracy']:.2%}" in figure["aria-label"]
    )


def test_the_replication_table_follows_from_the_metrics_and_is_on_the_landing_page(quick_report):
    from fashion_lib.analysis import replication

    metrics = quick_report["metrics"]
    rows = {row["key"]: row for row in metrics["replication"]["claims"]}
    assert list(rows) == [claim.key for claim in replication.CLAIMS]
    for row in rows.values():
        assert replication.verdict_of_row(row) == row["verdict"], row["key"]
    # Our figures are the ones the rest of metrics.json holds.
    for name in ("mlp", "cnn"):
        model = metrics["models"][name]
        assert rows[f"{name}_test_accuracy"]["ours"]["value"] == pytest.approx(model["test_accuracy"])
        class_accuracy = {name: values["accuracy"] for name, values in model["per_class"].items()}
        assert class_accuracy[rows[f"{name}_worst_class"]["ours"]["value"]] == min(class_accuracy.values())
        assert class_accuracy[rows[f"{name}_best_class"]["ours"]["value"]] == max(class_accuracy.values())
        assert rows[f"{name}_shirt_accuracy"]["ours"]["value"] == pytest.approx(class_accuracy["Shirt"])
        assert rows[f"{name}_tshirt_accuracy"]["ours"]["value"] == pytest.approx(class_accuracy["T-shirt/top"])
    mlp, cnn = (metrics["models"][name]["per_class"] for name in ("mlp", "cnn"))
    every_class = all(cnn[c]["accuracy"] > mlp[c]["accuracy"] for c in config.CLASS_NAMES)
    assert rows["cnn_better_on_every_class"]["ours"]["value"] is every_class
    assert rows["kendall_tau"]["ours"]["value"] == pytest.approx(metrics["comparison"]["kendall_tau"])
    accuracies = sorted(metrics["models"][name]["test_accuracy"] for name in ("mlp", "cnn"))
    for vote in ("hard_vote", "soft_vote"):
        voted = metrics["ensembles"][vote]["test_accuracy"]
        assert rows[f"{vote}_between"]["ours"]["vote_accuracy"] == pytest.approx(voted)
        assert rows[f"{vote}_between"]["ours"]["value"] is (accuracies[0] < voted < accuracies[1])
    assert rows["data_train_per_class"]["ours"]["value"] == 6000 and rows["data_balanced"]["verdict"] == "consistent"
    assert rows["data_training_images_text"]["verdict"] == "seed's misstatement"
    assert {row["recipe"] for key, row in rows.items() if not key.startswith("data")} == {"seed method, cosine recipe"}
    index = (quick_report["report"] / "index.html").read_text()
    for row in rows.values():
        assert f'data-claim="{row["key"]}" data-verdict="{html.escape(row["verdict"])}"' in index
    assert (
        "The MLP and the CNN were searched in the seed report&#x27;s own space and trained with a warm-up and a "
        "cosine to zero over a fixed number of epochs, without early stopping." in index
    )
    assert '<ul id="replication-rules">' in index


@pytest.fixture(scope="module")
def report_defects(quick_report):
    """What the rendered-report check finds in the quick report's pages and PDF."""
    return report_check.check_report(quick_report["report"])


@pytest.mark.parametrize("kind", report_check.KINDS)
def test_the_rendered_report_has_no_defect_a_program_can_find(report_defects, kind):
    found = [str(defect) for defect in report_defects if defect.kind == kind]
    assert found == []


def _pdf_pages_text(pdf):
    """The text of each page of a PDF, its lines joined by spaces."""
    return [
        " ".join(
            " ".join("".join(char.get("c", "") for char in line.iter("char")).split()) for line in page.iter("line")
        )
        for page in report_check.structured_text(pdf).iter("page")
    ]


def test_the_pdf_opens_with_a_title_page_of_the_landing_pages_findings_then_the_contents(quick_report):
    from bs4 import BeautifulSoup

    from fashion_lib.report import findings

    first, second, *_ = _pdf_pages_text(quick_report["report"] / "report.pdf")
    assert first.startswith("Neural networks for fashion item recognition")
    index = BeautifulSoup((quick_report["report"] / "index.html").read_text(), "html.parser")
    stated = [" ".join(item.get_text().split()) for item in index.select("ol.findings li")]
    assert stated == [f"{f.lead}. {f.text}" for f in findings.compute(quick_report["metrics"])]
    # Compared without spaces: a printed line may break after a dash where the page has no space.
    for finding in stated:
        assert "".join(finding.split()) in "".join(first.split())
    assert second.startswith("Contents") and "4. Comparing the two models" in second


def test_saved_models_reload_with_keras_alone_and_reproduce_the_test_probabilities(quick_report, fashion, tmp_path):
    from fashion_lib.data import scale_images

    images = tmp_path / "images.npy"
    np.save(images, scale_images(fashion.test_images[:200]))
    # A fresh interpreter that never imports fashion_lib, as a colleague given only the .keras file would.
    script = (
        "import sys, numpy as np, keras\n"
        "model = keras.saving.load_model(sys.argv[1])\n"
        "np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))\n"
        "assert not any(name.startswith('fashion_lib') for name in sys.modules)\n"
    )
    for name in ("mlp", "cnn"):
        predicted = tmp_path / f"{name}.npy"
        subprocess.run(
            [sys.executable, "-c", script, str(quick_report["runs"] / f"{name}.keras"), str(images), str(predicted)],
            check=True,
            cwd=tmp_path,
            env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        saved = np.load(quick_report["runs"] / f"{name}_test_probabilities.npy")
        np.testing.assert_allclose(np.load(predicted), saved[:200], atol=1e-5)


def test_report_in_a_real_browser(quick_report):
    from playwright.sync_api import sync_playwright

    from fashion_lib.report.rendering import find_chromium

    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(), args=args)
        page = browser.new_page()
        errors = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        for name in ["index", *EXPECTED_FIGURES]:
            page.goto((quick_report["report"] / f"{name}.html").as_uri())
            page.wait_for_load_state("load")
            broken = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length")
            assert broken == 0, f"{name}: {broken} images did not load"
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto((quick_report["report"] / "index.html").as_uri())
        assert page.locator("table#results td").count() >= 6
        assert page.locator("a[href='report.pdf']").count() == 1
        # The first screen holds every finding and the link to every page.
        findings = page.locator("ol.findings li")
        links = page.locator("nav.pages a")
        assert 4 <= findings.count() <= 7 and links.count() == len(EXPECTED_FIGURES) + 1
        for item in [*findings.all(), *links.all()]:
            box = item.bounding_box()
            assert box is not None and box["y"] + box["height"] <= 900, item.inner_text()[:60]
        browser.close()
    assert errors == []


def test_a_terminated_report_stops_its_kernel_and_keeps_the_previous_results(tmp_path):
    psutil = pytest.importorskip("psutil")
    process = subprocess.Popen(
        QUICK_REPORT_COMMAND,
        env=_environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "[2/4] 02_mlp" in line:
                break
        kernels = []
        for _ in range(100):  # the MLP notebook's kernel starts within seconds
            children = psutil.Process(process.pid).children(recursive=True)
            kernels = [child for child in children if "ipykernel" in " ".join(child.cmdline())]
            if kernels:
                break
            time.sleep(0.2)
        assert kernels, "the report started no kernel"
        process.terminate()
        remaining, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, remaining
    assert "interrupted" in remaining
    psutil.wait_procs(kernels, timeout=30)
    assert not any(kernel.is_running() and kernel.status() != psutil.STATUS_ZOMBIE for kernel in kernels)
    assert not (tmp_path / "report" / "quick").exists() and not (tmp_path / "runs" / "quick").exists()
