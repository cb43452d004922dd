"""The benchmark's arithmetic and measurements on tiny inputs (the speed figures come from `make bench`)."""

from __future__ import annotations

import pytest

from fashion_lib import bench, models


def test_training_flops_of_the_reference_mlp():
    model = models.build_mlp(hidden_units=(1024, 512))
    forward = 2 * (784 * 1024 + 1024 * 512 + 512 * 10)
    assert bench.training_flops_per_image(model) == 3 * forward


def test_training_flops_of_the_reference_cnn():
    model = models.build_cnn(conv_blocks=3, filters=16)
    convolutions = 28 * 28 * 9 * 1 * 16 + 14 * 14 * 9 * 16 * 32 + 7 * 7 * 9 * 32 * 64
    head = 3 * 3 * 64 * 10
    assert bench.training_flops_per_image(model) == 3 * 2 * (convolutions + head)


def test_matmul_peak_is_the_faster_of_numpy_and_tensorflow():
    rates = bench.matmul_peak(size=256, repeats=2)
    assert rates["peak_gflops"] == max(rates["numpy_gflops"], rates["tensorflow_gflops"]) > 0


@pytest.mark.parametrize("path", [bench.BASELINE, bench.project_path(256)], ids=["baseline", "project"])
def test_training_throughput_runs_both_paths(small_split, path):
    builder = bench.reference_models()["mlp"]
    rate = bench.training_throughput(builder, path, small_split["train_x"], small_split["train_y"], seed=1)
    assert rate > 0


def test_format_results_prints_every_figure():
    path = {
        "description": "baseline",
        "images_per_s": 5000.0,
        "gflops": 30.0,
        "fraction_of_peak": 0.2,
        "time_to_target": {"seconds": 40.0, "epochs": 5, "reached": False, "best_val_accuracy": 0.87},
    }
    entry = {
        "training_flops_per_image": 6e6,
        "paths": {"baseline": path},
        "speedup": 1.0,
        "inference_images_per_s": 20000.0,
    }
    text = bench.format_results(
        {
            "matmul": {"peak_gflops": 150.0, "numpy_gflops": 150.0, "tensorflow_gflops": 120.0},
            "mlp": entry,
            "cnn": entry,
        }
    )
    assert "float32 matmul peak: 150 GFLOP/s" in text
    assert "20.0%" in text and "40 s / 5 ep (missed)" in text and "6.0 MFLOP" in text
