"""Training and inference speed against the CPU's measured matrix-multiply peak (`python -m fashion_lib bench`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fashion_lib import config
from fashion_lib.storage import atomic_write_json

BASELINE_BATCH_SIZE = 128
# Validation accuracies the time-to-accuracy race runs to (the fixed targets).
TARGET_ACCURACY = {"mlp": 0.88, "cnn": 0.91}


@dataclass(frozen=True)
class TrainingPath:
    """How a model is fed and stepped: the plain baseline, or the project's training path."""

    name: str
    batch_size: int
    use_dataset: bool


BASELINE = TrainingPath("baseline (NumPy arrays, model.fit, batch 128)", BASELINE_BATCH_SIZE, use_dataset=False)


def project_path(batch_size: int) -> TrainingPath:
    """The project's path: training.make_dataset (cached, shuffled, prefetched tf.data) at `batch_size`."""
    return TrainingPath(f"project (tf.data, batch {batch_size})", batch_size, use_dataset=True)


def matmul_peak(size: int = 2048, repeats: int = 5) -> dict[str, float]:
    """Best float32 matrix-multiply rate (GFLOP/s) of NumPy and of TensorFlow, and the larger as the peak."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    flops = 2.0 * size**3

    def best_rate(multiply: Callable[[], Any]) -> float:
        multiply()  # Warm-up: thread pools, kernel selection.
        fastest = min(_timed(multiply) for _ in range(repeats))
        return flops / fastest / 1e9

    ta, tb = tf.constant(a), tf.constant(b)
    rates = {
        "numpy_gflops": best_rate(lambda: a @ b),
        "tensorflow_gflops": best_rate(lambda: tf.linalg.matmul(ta, tb).numpy()),
    }
    rates["peak_gflops"] = max(rates.values())
    return rates


def _timed(function: Callable[[], Any]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def training_flops_per_image(model: Any) -> float:
    """Floating-point operations to train on one image: 3× the forward multiply-adds of Dense and Conv2D layers.

    The forward pass costs 2·(multiply-adds); the backward pass computes the gradients with respect to
    both the inputs and the weights, each as costly as the forward pass, hence the usual factor 3.
    Batch normalisation, activations and pooling are a few operations per value and are left out.
    """
    import keras

    forward = 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            forward += 2.0 * layer.kernel.shape[0] * layer.kernel.shape[1]
        elif isinstance(layer, keras.layers.Conv2D):
            height, width = layer.output.shape[1:3]
            kernel_height, kernel_width, channels_in, channels_out = layer.kernel.shape
            forward += 2.0 * height * width * kernel_height * kernel_width * channels_in * channels_out
    return 3.0 * forward


def reference_models() -> dict[str, Callable[..., Any]]:
    """Builders of the reference architectures: the seed's MLP 784-1024-512-10 and CNN 16/32/64."""
    from fashion_lib import models

    return {
        "mlp": lambda learning_rate=0.01: models.build_mlp(
            hidden_units=(1024, 512), dropout_rates=0.2, l2_factors=0.001, learning_rate=learning_rate, momentum=0.9
        ),
        "cnn": lambda learning_rate=0.01: models.build_cnn(
            conv_blocks=3, filters=16, dropout_rate=0.1, learning_rate=learning_rate
        ),
    }


def _fit(model: Any, path: TrainingPath, x: np.ndarray, y: np.ndarray, *, epochs: int, seed: int, **kwargs: Any) -> Any:
    from fashion_lib.training import make_dataset

    if path.use_dataset:
        data = make_dataset(x, y, batch_size=path.batch_size, shuffle=True, seed=seed)
        return model.fit(data, epochs=epochs, verbose=0, shuffle=False, **kwargs)
    return model.fit(x, y, batch_size=path.batch_size, epochs=epochs, verbose=0, shuffle=True, **kwargs)


def training_throughput(
    builder: Callable[..., Any], path: TrainingPath, x: np.ndarray, y: np.ndarray, *, seed: int
) -> float:
    """Images per second over one epoch on `x`, after a short warm-up that traces the training step."""
    from fashion_lib.seeding import set_global_seed

    set_global_seed(seed)
    model = builder()
    warm = min(len(x), 8 * path.batch_size)
    _fit(model, path, x[:warm], y[:warm], epochs=1, seed=seed)
    return len(x) / _timed(lambda: _fit(model, path, x, y, epochs=1, seed=seed))


def time_to_accuracy(
    builder: Callable[..., Any],
    path: TrainingPath,
    splits: Any,
    *,
    target: float,
    max_epochs: int,
    learning_rate: float,
    seed: int,
) -> dict[str, Any]:
    """Wall time until the validation accuracy first reaches `target` (training stops there), and the accuracy."""
    import keras

    from fashion_lib.seeding import set_global_seed

    class StopAtTarget(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if (logs or {}).get("val_accuracy", 0.0) >= target:
                self.model.stop_training = True

    set_global_seed(seed)
    model = builder(learning_rate=learning_rate)
    started = time.perf_counter()
    history = _fit(
        model,
        path,
        splits.train_x,
        splits.train_y,
        epochs=max_epochs,
        seed=seed,
        validation_data=(splits.val_x, splits.val_y),
        callbacks=[StopAtTarget()],
    ).history
    seconds = time.perf_counter() - started
    best = max(history["val_accuracy"])
    return {
        "seconds": round(seconds, 1),
        "epochs": len(history["val_accuracy"]),
        "reached": best >= target,
        "best_val_accuracy": round(best, 4),
    }


def inference_throughput(model: Any, x: np.ndarray, *, batch_size: int = 1024) -> float:
    """Images per second of model.predict on `x`, after a warm-up call."""
    model.predict(x[:batch_size], batch_size=batch_size, verbose=0)
    return len(x) / _timed(lambda: model.predict(x, batch_size=batch_size, verbose=0))


def run_benchmark(
    *, quick: bool = False, batch_size: int = 512, race_epochs: int = 15, seed: int = 1, output: Path | None = None
) -> dict[str, Any]:
    """Measure everything the Performance section reports and write it to `output` as JSON.

    quick: a 10,000-image epoch for throughput and no time-to-accuracy race (under a minute).
    race_epochs: the most epochs each path gets to reach the target validation accuracy.
    """
    from fashion_lib.data import prepare_splits

    splits = prepare_splits(seed=seed)
    results: dict[str, Any] = {"quick": quick, "seed": seed, "matmul": matmul_peak()}
    peak = results["matmul"]["peak_gflops"]
    throughput_images = 10_000 if quick else len(splits.train_y)
    x, y = splits.train_x[:throughput_images], splits.train_y[:throughput_images]
    project = project_path(batch_size)
    for name, builder in reference_models().items():
        flops = training_flops_per_image(builder())
        entry: dict[str, Any] = {"training_flops_per_image": flops, "paths": {}}
        for key, path in (("baseline", BASELINE), ("project", project)):
            rate = training_throughput(builder, path, x, y, seed=seed)
            entry["paths"][key] = {
                "description": path.name,
                "images_per_s": round(rate, 1),
                "gflops": round(rate * flops / 1e9, 1),
                "fraction_of_peak": round(rate * flops / 1e9 / peak, 3),
            }
        entry["speedup"] = round(
            entry["paths"]["project"]["images_per_s"] / entry["paths"]["baseline"]["images_per_s"], 2
        )
        if not quick:
            # The project's larger batch takes proportionally larger steps (linear scaling rule).
            rates = {"baseline": 0.01, "project": 0.01 * batch_size / BASELINE_BATCH_SIZE}
            for key, path in (("baseline", BASELINE), ("project", project)):
                entry["paths"][key]["time_to_target"] = time_to_accuracy(
                    builder,
                    path,
                    splits,
                    target=TARGET_ACCURACY[name],
                    max_epochs=race_epochs,
                    learning_rate=rates[key],
                    seed=seed,
                )
            entry["target_val_accuracy"] = TARGET_ACCURACY[name]
        entry["inference_images_per_s"] = round(inference_throughput(builder(), splits.test_x), 1)
        results[name] = entry
    if output is not None:
        atomic_write_json(output, results)
    return results


def format_results(results: dict[str, Any]) -> str:
    """A plain-text table of the benchmark's figures."""
    matmul = results["matmul"]
    lines = [
        f"float32 matmul peak: {matmul['peak_gflops']:.0f} GFLOP/s "
        f"(NumPy {matmul['numpy_gflops']:.0f}, TensorFlow {matmul['tensorflow_gflops']:.0f})",
        "",
        f"{'model':<5} {'path':<46} {'images/s':>9} {'GFLOP/s':>8} {'of peak':>8} {'to target':>16}",
    ]
    for name in ("mlp", "cnn"):
        entry = results[name]
        for path in entry["paths"].values():
            race = path.get("time_to_target")
            target = (
                f"{race['seconds']:.0f} s / {race['epochs']} ep" + ("" if race["reached"] else " (missed)")
                if race
                else "-"
            )
            lines.append(
                f"{name:<5} {path['description']:<46} {path['images_per_s']:>9.0f} {path['gflops']:>8.1f} "
                f"{path['fraction_of_peak']:>8.1%} {target:>16}"
            )
        lines.append(
            f"{name:<5} {entry['training_flops_per_image'] / 1e6:.1f} MFLOP per training image; project/baseline "
            f"speed-up {entry['speedup']:.2f}x; inference {entry['inference_images_per_s']:.0f} images/s"
        )
    return "\n".join(lines)


def default_output() -> Path:
    """Where `bench` writes its JSON unless told otherwise."""
    return config.RUNS_DIR / "bench" / "bench.json"
