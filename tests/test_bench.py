"""The benchmark's arithmetic and measurements on tiny inputs (the speed figures come from `make bench`)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from fashion_lib import bench
from fashion_lib.models import builders


def test_training_flops_of_the_reference_mlp():
    model = builders.build_mlp(hidden_units=(1024, 512))
    first, rest = 2 * 784 * 1024, 2 * (1024 * 512 + 512 * 10)
    assert bench.training_flops_per_image(model) == 2 * first + 3 * rest


def test_training_flops_of_the_reference_cnn():
    model = builders.build_cnn(conv_blocks=3, filters=16)
    first = 2 * 28 * 28 * 9 * 1 * 16
    rest = 2 * (14 * 14 * 9 * 16 * 32 + 7 * 7 * 9 * 32 * 64 + 3 * 3 * 64 * 10)
    assert bench.training_flops_per_image(model) == 2 * first + 3 * rest


def test_the_training_step_skips_the_first_layers_input_gradient():
    """What the FLOP count assumes: per Dense layer a forward and a weight-gradient product, and an
    input-gradient product for every layer but the first (3 layers: 3 + 3 + 2 matrix products)."""
    import keras
    import tensorflow as tf

    model = builders.build_mlp(hidden_units=(64, 32))
    images = tf.zeros((4, *model.input_shape[1:]))
    labels = tf.zeros((4,), tf.int32)

    @tf.function
    def gradients(images, labels):
        with tf.GradientTape() as tape:
            loss = keras.losses.sparse_categorical_crossentropy(labels, model(images, training=True))
        return tape.gradient(loss, model.trainable_variables)

    graph = gradients.get_concrete_function(images, labels).graph
    assert sum(op.type == "MatMul" for op in graph.get_operations()) == 3 + 3 + 2


def test_matmul_peak_is_the_faster_of_numpy_and_tensorflow():
    rates = bench.matmul_peak(size=256, repeats=2)
    assert rates["peak_gflops"] == max(rates["numpy_gflops"], rates["tensorflow_gflops"]) > 0


@pytest.mark.parametrize("path", [bench.BASELINES["mlp"], bench.project_path("mlp", 256)], ids=["baseline", "project"])
def test_training_throughput_runs_both_paths(small_split, path):
    builder = bench.reference_models()["mlp"]
    throughput = bench.training_throughput(
        builder, path, small_split["train_x"], small_split["train_y"], seed=1, epochs=3
    )
    assert len(throughput["epoch_seconds"]) == 3
    median = sorted(throughput["epoch_seconds"])[1]
    assert throughput["images_per_s"] == pytest.approx(len(small_split["train_x"]) / median, rel=0.02)


def test_project_path_scales_the_mlp_rate_with_the_batch_and_adds_momentum_to_the_cnn():
    default_batch, default_rate = bench.PROJECT_SETTINGS["mlp"]
    assert bench.project_path("mlp", default_batch // 2).learning_rate == pytest.approx(default_rate / 2)
    assert bench.project_path("mlp").batch_size == default_batch
    cnn = bench.project_path("cnn", 512)
    assert (cnn.batch_size, cnn.learning_rate, cnn.momentum) == (512, 0.04, 0.9)
    assert bench.project_path("cnn", 256).learning_rate == pytest.approx(0.02)


def test_the_cnn_batch_depends_on_the_cpus_instruction_set():
    assert bench.default_batch_size("cnn", ["avx2", "fma", "avx512f"]) == 512
    assert bench.default_batch_size("cnn", ["avx2", "fma"]) == bench.AVX2_CNN_BATCH == 256
    assert bench.default_batch_size("mlp", ["avx2"]) == bench.default_batch_size("mlp", ["avx512f"]) == 1024
    with pytest.raises(ValueError, match="batch_size"):
        bench.project_path("mlp", -1)


def test_only_the_project_path_loops_steps_inside_the_graph():
    builder = bench.reference_models()["mlp"]
    assert bench._build(builder, bench.BASELINES["mlp"]).steps_per_execution == 1
    project = bench._build(builder, bench.project_path("mlp"))
    assert project.steps_per_execution == builders.STEPS_PER_EXECUTION > 1


def test_race_settings_pit_todays_final_training_against_the_profiles_recipe():
    from fashion_lib.report.profiles import load_profile

    standard = load_profile("standard")
    for name in ("mlp", "cnn"):
        settings = bench.race_settings(name)
        assert settings["today"]["schedule"] == "seed" and not settings["today"]["flip"]
        assert settings["recipe"]["schedule"] == standard[name].get("final_schedule", "seed")
        assert settings["recipe"]["flip"] == standard[name].get("augment_flip", False)
        assert settings["today"]["epochs"] == settings["recipe"]["epochs"] == standard[name]["final_epochs"]
        assert settings["today"]["batch_size"] == standard[name]["batch_size"]


def test_race_times_each_milestone_from_the_validation_curve(small_split, monkeypatch):
    splits = SimpleNamespace(**small_split)
    monkeypatch.setitem(bench.RACE_MILESTONES, "mlp", (0.0, 1.01))
    settings = {"batch_size": 100, "epochs": 9, "schedule": "cosine", "shift": 1, "flip": True, "erase": 0.0}
    result = bench.race("mlp", splits, settings, seed=1, epochs=2)
    assert result["epochs_run"] == 2
    easy, impossible = result["milestones"]["0.00"], result["milestones"]["1.01"]
    assert easy["epochs"] == 1 and 0 < easy["seconds"] <= result["total_seconds"]
    assert impossible is None
    assert 0 < result["best_val_accuracy"] <= 1
    assert "cosine" in result["description"] and "mirroring" in result["description"]


def test_the_whitened_race_takes_the_best_profiles_cnn_recipe():
    from fashion_lib.report.profiles import load_profile

    assert bench.WHITENED_RACE["profile"] == "best" and bench.WHITENED_RACE["space"] == "whitened"
    best = load_profile("best")["cnn"]
    assert best.get("search_space") == "whitened"  # the profile's CNN is the network the race trains
    assert bench.race_settings("cnn", "best")["recipe"] == {
        "batch_size": best["batch_size"],
        "epochs": best["final_epochs"],
        "schedule": best.get("final_schedule", "seed"),
        "shift": best.get("augment_shift", 0),
        "flip": best.get("augment_flip", False),
        "erase": best.get("augment_erase", 0.0),
    }


def test_race_trains_the_whitened_spaces_reference_to_its_own_milestones(small_split):
    splits = SimpleNamespace(
        train_x=small_split["train_x"][:300],
        train_y=small_split["train_y"][:300],
        val_x=small_split["val_x"][:100],
        val_y=small_split["val_y"][:100],
    )
    settings = {"batch_size": 100, "epochs": 9, "schedule": "cosine", "shift": 1, "flip": True, "erase": 0.0}
    milestones = bench.RACE_MILESTONES["whitened_cnn"]
    assert milestones == (0.94, 0.95)
    result = bench.race("cnn", splits, settings, seed=1, epochs=1, space="whitened", milestones=milestones)
    assert set(result["milestones"]) == {"0.94", "0.95"}
    assert result["epochs_run"] == 1 and 0 < result["best_val_accuracy"] <= 1
    assert "cosine" in result["description"] and "batch 100" in result["description"]


def test_the_full_benchmark_races_the_whitened_cnn_after_the_mlp_and_cnn(small_split, monkeypatch):
    """Which races run, with which settings and epochs, and where their results go (no training: the
    measurements are stand-ins)."""
    import fashion_lib.data

    calls = []
    outcome = {"description": "d", "milestones": {}, "best_val_accuracy": 0.9, "epochs_run": 2, "total_seconds": 1.0}

    def race(model_name, splits, settings, **options):
        calls.append((model_name, settings, options))
        return outcome

    monkeypatch.setattr(fashion_lib.data, "prepare_splits", lambda seed: SimpleNamespace(**small_split))
    peak = {"peak_gflops": 2.0, "numpy_gflops": 2.0, "tensorflow_gflops": 1.0}
    monkeypatch.setattr(bench, "matmul_peak", lambda: peak)
    monkeypatch.setattr(bench, "reference_models", lambda: {"mlp": lambda: None, "cnn": lambda: None})
    monkeypatch.setattr(bench, "training_flops_per_image", lambda model: 1e6)
    monkeypatch.setattr(bench, "training_throughput", lambda *_, **__: {"images_per_s": 1e3, "epoch_seconds": []})
    monkeypatch.setattr(bench, "inference_throughput", lambda model, x: 1e4)
    monkeypatch.setattr(bench, "race", race)

    results = bench.run_benchmark(race_epochs=2)
    spaces = [(name, options.get("space", "extended")) for name, _, options in calls]
    assert spaces == [("mlp", "extended")] * 2 + [("cnn", "extended")] * 2 + [("cnn", "whitened")]
    assert all(options["epochs"] == 2 for _, _, options in calls)
    assert "milestones" not in calls[0][2]  # the MLP and CNN keep RACE_MILESTONES' own
    assert calls[-1][1] == bench.race_settings("cnn", "best")["recipe"]
    assert calls[-1][2]["milestones"] == (0.94, 0.95)
    assert results["whitened_cnn"]["name"] == "whitened CNN (best profile)"
    assert results["whitened_cnn"]["race"] == {"recipe": outcome}
    assert set(results["cnn"]["race"]) == {"today", "recipe"}
    assert "cnn   whitened CNN (best profile), recipe (d)" in bench.format_results(results)

    calls.clear()
    assert "whitened_cnn" not in bench.run_benchmark(quick=True) and not calls


def test_inference_throughput_times_whole_calls_after_a_warm_up(small_split, monkeypatch):
    calls = []

    class Model:
        def predict(self, x, batch_size, verbose):
            calls.append(len(x))

    durations = iter([0.5, 2.0, 0.25])  # the three timed calls: the median is 0.5 s

    def timed(function):
        function()
        return next(durations)

    monkeypatch.setattr(bench, "_timed", timed)
    rate = bench.inference_throughput(Model(), small_split["test_x"])
    assert calls == [len(small_split["test_x"])] * 4
    assert rate == pytest.approx(len(small_split["test_x"]) / 0.5)


def _path(description: str) -> dict:
    return {"description": description, "images_per_s": 5000.0, "gflops": 30.0, "fraction_of_peak": 0.2}


def test_format_results_prints_every_figure():
    race = {
        "today": {
            "description": "seed schedule",
            "milestones": {"0.93": {"seconds": 400.0, "epochs": 12}, "0.94": None},
            "best_val_accuracy": 0.9391,
            "epochs_run": 40,
            "total_seconds": 1200.0,
        }
    }
    mlp = {
        "training_flops_per_image": 6e6,
        "paths": {"baseline": _path("baseline"), "project": _path("project")},
        "speedup": 1.0,
        "inference_images_per_s": 20000.0,
    }
    text = bench.format_results(
        {
            "machine": {"cpu_model": "Test CPU", "cpu_flags": ["avx2", "avx512f"], "usable_cpus": 2},
            "matmul": {"peak_gflops": 150.0, "numpy_gflops": 150.0, "tensorflow_gflops": 120.0},
            "mlp": mlp,
            "cnn": mlp | {"race": race},
        }
    )
    assert "CPU: Test CPU, 2 usable; instruction sets: avx2 avx512f" in text
    assert "float32 matmul peak: 150 GFLOP/s" in text
    assert "20.0%" in text and "6.0 MFLOP" in text
    assert "93% 400 s / 12 ep; 94% missed; best 93.91% (40 ep, 1200 s)" in text


def test_format_results_of_a_quick_run_has_no_race():
    entry = {
        "training_flops_per_image": 6e6,
        "paths": {"baseline": _path("baseline")},
        "speedup": 1.0,
        "inference_images_per_s": 20000.0,
    }
    text = bench.format_results(
        {"matmul": {"peak_gflops": 1, "numpy_gflops": 1, "tensorflow_gflops": 1}, "mlp": entry, "cnn": entry}
    )
    assert "Time to validation accuracy" not in text
