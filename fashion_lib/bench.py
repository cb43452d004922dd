"""Training and inference speed against the CPU's matrix-multiply peak, and a race to validation accuracy
(`python -m fashion_lib bench`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from fashion_lib import config
from fashion_lib.storage import atomic_write_json

BASELINE_BATCH_SIZE = 128
# The time-to-accuracy race trains a network's reference configuration (its search space's defaults) and times
# the first epoch whose validation accuracy reaches each of these: the extended space's MLP and CNN with today's
# final training and with the standard profile's recipe; the whitened space's CNN (issue 27, WHITENED_RACE; key
# "whitened_cnn" here and in the results) with the best profile's recipe only.
RACE_MILESTONES = {"mlp": (0.89, 0.90), "cnn": (0.93, 0.94), "whitened_cnn": (0.94, 0.95)}
RACE_PROFILE = "standard"
WHITENED_RACE = {"name": "whitened CNN (best profile)", "model": "cnn", "space": "whitened", "profile": "best"}


@dataclass(frozen=True)
class TrainingPath:
    """How a model is fed and stepped: the plain baseline, or the project's training path.

    `fused_layers`: batch normalisation and dropout from fashion_lib.models.layers rather than Keras' own.
    `steps_per_execution`: training steps per call of Keras' compiled step (builders.STEPS_PER_EXECUTION).
    `learning_rate` and `momentum` are the SGD settings of the time-to-accuracy race; the throughput
    measurement uses the same batch size and input pipeline.
    """

    name: str
    batch_size: int
    use_dataset: bool
    fused_layers: bool
    steps_per_execution: int
    learning_rate: float
    momentum: float


# The seed's optimizers: SGD 0.01, with momentum 0.9 for the MLP and without momentum for the CNN.
_BASELINE = {"batch_size": BASELINE_BATCH_SIZE, "use_dataset": False, "fused_layers": False, "steps_per_execution": 1}
BASELINES = {
    "mlp": TrainingPath(
        "baseline (Keras layers, NumPy, fit, batch 128, SGD 0.01 m0.9)", learning_rate=0.01, momentum=0.9, **_BASELINE
    ),
    "cnn": TrainingPath(
        "baseline (Keras layers, NumPy, fit, batch 128, SGD 0.01)", learning_rate=0.01, momentum=0.0, **_BASELINE
    ),
}
# The project's path per model: the batch and the SGD rate at that batch (momentum 0.9). Larger batches keep
# the matrix multiplies closer to the CPU's peak, but a batch must still reach the target accuracy in few
# epochs: the rate is half the linearly scaled one (the full scaling plateaued lower under the MLP's L2), and
# each model's batch is the largest whose run reached 88% (MLP) or 91% (CNN) validation accuracy in about as
# many epochs as batch 128 did (docs/performance.md has those measurements).
PROJECT_SETTINGS = {"mlp": (1024, 0.04), "cnn": (512, 0.04)}
PROJECT_MOMENTUM = 0.9
# On a CPU without AVX-512 the CNN's convolutions run oneDNN's AVX2 kernels and batch 256 trains the reference
# CNN fastest: on a 2-core AMD EPYC (AVX2) 2,630 images/s, against 2,449 at 512 and 2,343 at 128 (one-off
# measurement of 2026-12-02, docs/performance.md). The rate scales with the batch as above.
AVX2_CNN_BATCH = 256


def default_batch_size(model_name: str, cpu_flags: list[str] | None = None) -> int:
    """The project path's batch for a model on this CPU (or on one with `cpu_flags`): PROJECT_SETTINGS',
    except AVX2_CNN_BATCH for the CNN where the CPU lacks AVX-512."""
    if cpu_flags is None:
        from fashion_lib.machine import machine_identity

        cpu_flags = machine_identity()["cpu_flags"]
    if model_name == "cnn" and "avx512f" not in cpu_flags:
        return AVX2_CNN_BATCH
    return PROJECT_SETTINGS[model_name][0]


def project_path(model_name: str, batch_size: int | None = None) -> TrainingPath:
    """The project's path for a model: fashion_lib.models.layers' batch normalisation and dropout, fed by
    fashion_lib.training.fit.make_dataset (cached, shuffled, prefetched tf.data without autotuning) at
    `batch_size` (default: `default_batch_size` for this CPU), builders.STEPS_PER_EXECUTION steps per call, and
    SGD with momentum 0.9, its rate scaled linearly with the batch from the model's setting. For the CNN, whose
    seed SGD had no momentum, momentum is the lever: it lengthens the steps about tenfold at the same rate."""
    from fashion_lib.models.builders import STEPS_PER_EXECUTION

    default_batch, default_rate = PROJECT_SETTINGS[model_name]
    batch = int(batch_size or default_batch_size(model_name))
    if batch < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    rate = round(default_rate * batch / default_batch, 6)
    return TrainingPath(
        f"project (fused layers, tf.data, batch {batch}, SGD {rate:g} m{PROJECT_MOMENTUM:g})",
        batch_size=batch,
        use_dataset=True,
        fused_layers=True,
        steps_per_execution=STEPS_PER_EXECUTION,
        learning_rate=rate,
        momentum=PROJECT_MOMENTUM,
    )


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
    """Floating-point operations to train on one image, from the shapes of the Dense and Conv2D layers.

    The forward pass costs 2·(multiply-adds). The backward pass computes each layer's weight gradient, as
    costly as its forward pass, and the gradient with respect to its input, as costly again, except for
    the first layer, whose input is the data: TensorFlow skips that gradient (see the test that traces
    the training step). So 3× the forward cost for every layer but the first, which costs 2×.
    Batch normalisation, activations and pooling are a few operations per value and are left out.
    """
    import keras

    forwards = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            forwards.append(2.0 * layer.kernel.shape[0] * layer.kernel.shape[1])
        elif isinstance(layer, keras.layers.Conv2D):
            height, width = layer.output.shape[1:3]
            kernel_height, kernel_width, channels_in, channels_out = layer.kernel.shape
            forwards.append(2.0 * height * width * kernel_height * kernel_width * channels_in * channels_out)
    return 3.0 * sum(forwards) - (forwards[0] if forwards else 0.0)


def reference_models() -> dict[str, Callable[..., Any]]:
    """Builders of the reference architectures: the seed's MLP 784-1024-512-10 and CNN 16/32/64 with the seed's
    SGD; keyword arguments (a path's SGD settings, layers, steps per call) override those."""
    from fashion_lib.models import builders

    mlp = dict(hidden_units=(1024, 512), dropout_rates=0.2, l2_factors=0.001, learning_rate=0.01, momentum=0.9)
    cnn = dict(conv_blocks=3, filters=16, dropout_rate=0.1, learning_rate=0.01, momentum=0.0)
    return {"mlp": partial(builders.build_mlp, **mlp), "cnn": partial(builders.build_cnn, **cnn)}


def _build(builder: Callable[..., Any], path: TrainingPath) -> Any:
    """A reference model compiled for `path`: its layers, steps per call and SGD settings."""
    return builder(
        learning_rate=path.learning_rate,
        momentum=path.momentum,
        fused_layers=path.fused_layers,
        steps_per_execution=path.steps_per_execution,
    )


def _fit(
    model: Any,
    path: TrainingPath,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    seed: int,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    **kwargs: Any,
) -> Any:
    """model.fit along the path; the project's path feeds the validation images through make_dataset too,
    as fit.train_model does, the baseline hands Keras the arrays."""
    from fashion_lib.training.fit import make_dataset

    if path.use_dataset:
        data = make_dataset(x, y, batch_size=path.batch_size, shuffle=True, seed=seed)
        if validation is not None:
            validation = make_dataset(*validation, batch_size=path.batch_size, shuffle=False, seed=seed)
        return model.fit(data, epochs=epochs, verbose=0, shuffle=False, validation_data=validation, **kwargs)
    return model.fit(
        x, y, batch_size=path.batch_size, epochs=epochs, verbose=0, shuffle=True, validation_data=validation, **kwargs
    )


def epoch_clock() -> Any:
    """A Keras callback that records the wall time from the start of training to the end of each epoch."""
    import keras

    class EpochClock(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict | None = None) -> None:
            self.started = time.perf_counter()
            self.elapsed: list[float] = []

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.elapsed.append(time.perf_counter() - self.started)

    return EpochClock()


def training_throughput(
    builder: Callable[..., Any], path: TrainingPath, x: np.ndarray, y: np.ndarray, *, seed: int, epochs: int = 3
) -> dict[str, Any]:
    """Images per second: the median over `epochs` epochs on `x`, after a short warm-up that traces the
    training step, and each epoch's seconds. The median, because single epochs can be far apart: Keras'
    own input pipeline (the baseline's) alternated between two speeds on 2 cores (see make_dataset)."""
    from fashion_lib.seeding import set_global_seed

    set_global_seed(seed)
    model = _build(builder, path)
    warm = min(len(x), 8 * path.batch_size)
    _fit(model, path, x[:warm], y[:warm], epochs=1, seed=seed)
    clock = epoch_clock()
    _fit(model, path, x, y, epochs=epochs, seed=seed, callbacks=[clock])
    seconds = np.diff([0.0, *clock.elapsed])
    return {
        "images_per_s": round(len(x) / float(np.median(seconds)), 1),
        "epoch_seconds": [round(float(s), 4) for s in seconds],
    }


def race_settings(model_name: str, profile: str = RACE_PROFILE) -> dict[str, dict[str, Any]]:
    """The race's two final trainings of a model, as the notebook parameters of `profile` (profiles/<profile>.yaml,
    the model's section) give them; the whitened CNN races the best profile's "recipe" alone.

    "today": the seed report's schedule with early stopping, no augmentation (the final training before
    fashion_lib.training.recipe). "recipe": the profile's `final_schedule` and `augment_*` values. Both at the
    profile's batch size for up to its `final_epochs`.
    """
    from fashion_lib.report.profiles import load_profile

    section = load_profile(profile).get(model_name, {})
    common = {"batch_size": int(section.get("batch_size", 128)), "epochs": int(section.get("final_epochs", 30))}
    recipe = {
        "schedule": section.get("final_schedule", "seed"),
        "shift": int(section.get("augment_shift", 0)),
        "flip": bool(section.get("augment_flip", False)),
        "erase": float(section.get("augment_erase", 0.0)),
    }
    today = {"schedule": "seed", "shift": 0, "flip": False, "erase": 0.0}
    return {"today": common | today, "recipe": common | recipe}


def _describe_settings(settings: dict[str, Any]) -> str:
    from fashion_lib.training.recipe import Augmentation

    augmentation = Augmentation(settings["shift"], settings["flip"], settings["erase"]).describe()
    return f"{settings['schedule']} schedule, augmentation: {augmentation}, batch {settings['batch_size']}"


def race(
    model_name: str,
    splits: Any,
    settings: dict[str, Any],
    *,
    seed: int,
    epochs: int | None = None,
    space: str = "extended",
    milestones: tuple[float, ...] | None = None,
) -> dict[str, Any]:
    """Train the model's reference configuration in `space` (that space's defaults; fit.train_model sets a
    whitened CNN's frozen stem from the training images) with `settings` (one entry of `race_settings`) for
    `epochs` (default: the settings') and time, validation included, the first epoch that reaches each of
    `milestones` (default: RACE_MILESTONES[model_name]); with the best validation accuracy, the epochs run
    and the total time."""
    from fashion_lib.models import hypermodels, search_space
    from fashion_lib.training import fit, recipe

    reference = search_space.default_values(
        search_space.declare_search_space(hypermodels.make_hypermodel(model_name, space))
    )
    model = search_space.build_from_hyperparameters(model_name, reference, space=space)
    clock = epoch_clock()
    history = fit.train_model(
        model,
        splits.train_x,
        splits.train_y,
        splits.val_x,
        splits.val_y,
        epochs=int(epochs or settings["epochs"]),
        batch_size=settings["batch_size"],
        schedule=settings["schedule"],
        augmentation=recipe.Augmentation(settings["shift"], settings["flip"], settings["erase"]),
        seed=seed,
        progress=False,
        callbacks=[clock],
    )
    accuracies = history["val_accuracy"].to_list()
    times = {}
    for milestone in RACE_MILESTONES[model_name] if milestones is None else milestones:
        reached = [epoch for epoch, accuracy in enumerate(accuracies) if accuracy >= milestone]
        times[f"{milestone:.2f}"] = (
            {"seconds": round(clock.elapsed[reached[0]], 1), "epochs": reached[0] + 1} if reached else None
        )
    return {
        "description": _describe_settings(settings),
        "milestones": times,
        "best_val_accuracy": round(max(accuracies), 4),
        "epochs_run": len(accuracies),
        "total_seconds": round(clock.elapsed[-1], 1),
    }


def inference_throughput(model: Any, x: np.ndarray, *, batch_size: int = 1024, repeats: int = 3) -> float:
    """Images per second of model.predict on `x`: the median of `repeats` calls after a warm-up call on the
    same images, which traces the prediction function for every batch shape and steps per call it meets."""
    model.predict(x, batch_size=batch_size, verbose=0)
    seconds = [_timed(lambda: model.predict(x, batch_size=batch_size, verbose=0)) for _ in range(repeats)]
    return len(x) / float(np.median(seconds))


def run_benchmark(
    *,
    quick: bool = False,
    batch_size: int | None = None,
    race_epochs: int | None = None,
    seed: int = 1,
    output: Path | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Measure everything the Performance section reports and write it to `output` as JSON.

    quick: throughput over epochs of 20,000 images, and no time-to-accuracy race (under a minute). Otherwise
    each model races today's final training and the standard profile's recipe (under results[model]["race"]),
    and the whitened CNN the best profile's recipe (under results["whitened_cnn"], named by WHITENED_RACE).
    batch_size: the project path's batch for both models (default: `default_batch_size` per model).
    race_epochs: how many epochs each training of the race runs, the whitened CNN's too (default: its profile's
    final_epochs: the standard profile's per model, the best profile's for the whitened CNN; fewer shortens the
    cosine schedule too).
    progress: called with a line before each measurement (the command prints them).
    """
    from fashion_lib.data import prepare_splits
    from fashion_lib.machine import machine_identity

    splits = prepare_splits(seed=seed)
    progress("float32 matrix-multiply peak")
    identity = machine_identity()
    results: dict[str, Any] = {
        "quick": quick,
        "seed": seed,
        "machine": {key: identity[key] for key in ("cpu_model", "cpu_flags", "usable_cpus")},
        "matmul": matmul_peak(),
    }
    peak = results["matmul"]["peak_gflops"]
    throughput_images = 20_000 if quick else len(splits.train_y)
    x, y = splits.train_x[:throughput_images], splits.train_y[:throughput_images]
    for name, builder in reference_models().items():
        flops = training_flops_per_image(builder())
        paths = {"baseline": BASELINES[name], "project": project_path(name, batch_size)}
        entry: dict[str, Any] = {"training_flops_per_image": flops, "paths": {}}
        for key, path in paths.items():
            progress(f"{name} {key}: training throughput")
            throughput = training_throughput(builder, path, x, y, seed=seed)
            rate = throughput["images_per_s"]
            entry["paths"][key] = {
                "description": path.name,
                **throughput,
                "gflops": round(rate * flops / 1e9, 1),
                "fraction_of_peak": round(rate * flops / 1e9 / peak, 3),
            }
        entry["speedup"] = round(
            entry["paths"]["project"]["images_per_s"] / entry["paths"]["baseline"]["images_per_s"], 2
        )
        if not quick:
            entry["race"] = {}
            for key, settings in race_settings(name).items():
                progress(f"{name} race, {key}'s recipe ({_describe_settings(settings)})")
                entry["race"][key] = race(name, splits, settings, seed=seed, epochs=race_epochs)
        entry["inference_images_per_s"] = round(inference_throughput(builder(), splits.test_x), 1)
        results[name] = entry
    if not quick:
        settings = race_settings(WHITENED_RACE["model"], WHITENED_RACE["profile"])["recipe"]
        progress(f"{WHITENED_RACE['name']} race, recipe ({_describe_settings(settings)})")
        options = {"space": WHITENED_RACE["space"], "milestones": RACE_MILESTONES["whitened_cnn"]}
        result = race(WHITENED_RACE["model"], splits, settings, seed=seed, epochs=race_epochs, **options)
        results["whitened_cnn"] = WHITENED_RACE | {"race": {"recipe": result}}
    if output is not None:
        atomic_write_json(output, results)
    return results


def _race_text(name: str, key: str, result: dict[str, Any]) -> str:
    times = []
    for milestone, reached in result["milestones"].items():
        when = f"{reached['seconds']:.0f} s / {reached['epochs']} ep" if reached else "missed"
        times.append(f"{float(milestone):.0%} {when}")
    label = f"{key} ({result['description']})"
    return (
        f"{name:<5} {label:<64} {'; '.join(times)}; best {result['best_val_accuracy']:.2%} "
        f"({result['epochs_run']} ep, {result['total_seconds']:.0f} s)"
    )


def format_results(results: dict[str, Any]) -> str:
    """A plain-text table of the benchmark's figures."""
    matmul = results["matmul"]
    machine = results.get("machine") or {}
    lines = [
        f"CPU: {machine.get('cpu_model') or 'unknown'}, {machine.get('usable_cpus', '?')} usable; instruction sets: "
        + (" ".join(machine.get("cpu_flags") or []) or "unknown"),
        f"float32 matmul peak: {matmul['peak_gflops']:.0f} GFLOP/s "
        f"(NumPy {matmul['numpy_gflops']:.0f}, TensorFlow {matmul['tensorflow_gflops']:.0f})",
        "",
        f"{'model':<5} {'path':<64} {'images/s':>9} {'GFLOP/s':>8} {'of peak':>8}",
    ]
    for name in ("mlp", "cnn"):
        entry = results[name]
        for path in entry["paths"].values():
            lines.append(
                f"{name:<5} {path['description']:<64} {path['images_per_s']:>9.0f} {path['gflops']:>8.1f} "
                f"{path['fraction_of_peak']:>8.1%}"
            )
        lines.append(
            f"{name:<5} {entry['training_flops_per_image'] / 1e6:.1f} MFLOP per training image; project/baseline "
            f"speed-up {entry['speedup']:.2f}x; inference {entry['inference_images_per_s']:.0f} images/s"
        )
    races = [(name, key, result) for name in ("mlp", "cnn") for key, result in results[name].get("race", {}).items()]
    whitened = results.get("whitened_cnn") or {"race": {}}
    races += [(whitened["model"], f"{whitened['name']}, {key}", result) for key, result in whitened["race"].items()]
    if races:
        lines += [
            "",
            "Time to validation accuracy, reference configurations, today's final training against the recipe "
            "(the whitened CNN: the best profile's recipe only):",
        ]
        lines += [_race_text(*entry) for entry in races]
    return "\n".join(lines)


def default_output() -> Path:
    """Where `bench` writes its JSON unless told otherwise."""
    return config.RUNS_DIR / "bench" / "bench.json"
