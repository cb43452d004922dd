"""What the accuracy cost: training compute of each final model, and accuracy against it beside the references.

Compute is counted, not timed, so that it compares across machines: a model's forward pass costs two
floating-point operations per multiply-add of its convolutions and dense layers (`forward_flops`; batch
normalisation, pooling and activations are left out, a few per cent of a convolution's work), and training
costs three forward passes per image and epoch (the forward pass, then about twice its work backward), the
usual estimate. The point of a final model is its own training, one seed, all its epochs on all its training
images; its search is counted apart (`search_flops`), since a reader rerunning the chosen configuration pays
only for the training.

References are drawn as lines, not points: the seed report and the published results state accuracy and
epochs but not their compute on this data, and nothing here guesses it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from fashion_lib.search.trials import TRIAL_COLUMNS

if TYPE_CHECKING:
    import keras

    from fashion_lib.analysis.figures import ReportFigure

# Training is about three forward passes' work per image: the forward pass and a backward pass of about twice it.
TRAINING_PASSES = 3
# The published results the report sets its models against (see ../shared/FACTS.md and issue 27), with what
# they trained; the seed report's own figures come from the replication table's claims.
REFERENCES: tuple[dict[str, Any], ...] = (
    {"label": "WRN-28-2, no augmentation, 50 epochs", "figure": "94.5%", "test_accuracy": 0.945},
    {"label": "ResNet18 + augmentation (dataset table)", "figure": "94.9%", "test_accuracy": 0.949},
    {"label": "DenseNet-BC 100 (768K weights), crops + flips, 100 epochs", "figure": "95.36%", "test_accuracy": 0.9536},
)
PROFILES_QUOTED = ("standard", "replicate", "best")


def _layers(model: keras.Model) -> list[Any]:
    """Every layer of the model, nested models' layers included."""
    found = []
    for layer in model.layers:
        found.extend(_layers(layer) if hasattr(layer, "layers") else [layer])
    return found


def forward_flops(model: keras.Model) -> int:
    """Floating-point operations of one image's forward pass: 2 per multiply-add of every Conv2D,
    DepthwiseConv2D and Dense layer (biases and the other layers not counted)."""
    import keras

    total = 0
    for layer in _layers(model):
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            _, height, width, channels = layer.output.shape
            kernel = math.prod(layer.kernel_size)
            total += 2 * height * width * channels * kernel
        elif isinstance(layer, keras.layers.Conv2D):
            _, height, width, filters = layer.output.shape
            inputs = layer.input.shape[-1] // layer.groups
            total += 2 * height * width * filters * inputs * math.prod(layer.kernel_size)
        elif isinstance(layer, keras.layers.Dense):
            positions = math.prod(layer.output.shape[1:-1])
            total += 2 * positions * layer.input.shape[-1] * layer.units
    return int(total)


def training_flops(forward: int, images: int, epochs: int) -> int:
    """FLOPs of training for `epochs` epochs on `images` images: TRAINING_PASSES forward passes per image."""
    if images < 0 or epochs < 0:
        raise ValueError(f"images and epochs must be 0 or more, got {images} images and {epochs} epochs.")
    return int(TRAINING_PASSES * forward * images * epochs)


def search_flops(forwards: Sequence[int], images: int, epochs_per_trial: int) -> int:
    """FLOPs of a search whose trials' models cost `forwards`, each trained `epochs_per_trial` epochs on `images`."""
    return sum(training_flops(forward, images, epochs_per_trial) for forward in forwards)


def trial_forwards(trials: pd.DataFrame, model_name: str, space: str) -> list[int]:
    """`forward_flops` of each completed trial's configuration, rebuilt from its row of the trials table."""
    from fashion_lib.models.search_space import build_from_hyperparameters

    forwards = []
    for _, row in trials[trials["status"] == "COMPLETED"].iterrows():
        values = {
            name: value.item() if hasattr(value, "item") else value
            for name, value in row.drop(list(TRIAL_COLUMNS), errors="ignore").items()
            if not pd.isna(value)
        }
        forwards.append(forward_flops(build_from_hyperparameters(model_name, values, space=space)))
    return forwards


def model_compute(
    model: keras.Model, summary: Mapping[str, Any], *, train_images: int, search_forwards: Sequence[int] = ()
) -> dict[str, Any]:
    """The compute record of one final model: `summary` is its `models.<name>` section of the run's metrics."""
    forward = forward_flops(model)
    seeds = len(summary.get("seed_runs", [])) or 1
    epochs_per_trial = summary.get("epochs_per_trial")
    record = {
        "label": summary.get("label", model.name.upper()),
        "test_accuracy": float(summary["test_accuracy"]),
        "weights": int(model.count_params()),
        "forward_flops": forward,
        "train_images": int(train_images),
        "epochs_trained": int(summary["epochs_trained"]),
        "training_flops": training_flops(forward, train_images, int(summary["epochs_trained"])),
        "training_seeds": seeds,
        "search_flops": None,
    }
    if search_forwards and epochs_per_trial:
        record["search_flops"] = search_flops(search_forwards, int(summary["search_images"]), int(epochs_per_trial))
    return record


def quoted_points(report_root: Path, current_profile: str, profiles: Sequence[str] = PROFILES_QUOTED) -> list[dict]:
    """The latest published run of each other profile that recorded its compute: its models' points."""
    points = []
    for profile in profiles:
        path = Path(report_root) / profile / "metrics.json"
        if profile == current_profile or not path.is_file():
            continue
        metrics = json.loads(path.read_text())
        for record in metrics.get("compute", {}).get("models", {}).values():
            run = metrics.get("run", {}).get("id") or "latest"
            points.append(record | {"run_label": f"{profile} run {run}"})
    return points


def compute_table(models: Mapping[str, Mapping[str, Any]], quoted: Sequence[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """One row per model, this run's first, then the quoted runs': accuracy, weights and compute."""
    rows = [{"run_label": "this run", **record} for record in models.values()] + list(quoted)
    frame = pd.DataFrame(rows)
    columns = {
        "run_label": "run",
        "label": "model",
        "test_accuracy": "test accuracy",
        "weights": "weights",
        "forward_flops": "forward MFLOPs per image",
        "epochs_trained": "epochs",
        "training_flops": "training TFLOPs (one seed)",
        "search_flops": "search TFLOPs",
    }
    frame = frame[list(columns)].rename(columns=columns)
    frame["forward MFLOPs per image"] = frame["forward MFLOPs per image"] / 1e6
    frame["training TFLOPs (one seed)"] = frame["training TFLOPs (one seed)"] / 1e12
    frame["search TFLOPs"] = pd.to_numeric(frame["search TFLOPs"]) / 1e12
    return frame.round({"forward MFLOPs per image": 2, "training TFLOPs (one seed)": 2, "search TFLOPs": 2})


def seed_references(claims: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The seed report's MLP and CNN test accuracies as references, from the replication table's claims."""
    found = []
    for key, label in (("mlp_test_accuracy", "seed report's MLP"), ("cnn_test_accuracy", "seed report's CNN")):
        claim = claims[key]
        low, high = claim.seed_range
        found.append({"label": label, "figure": claim.seed_figure, "test_accuracy": (low + high) / 2})
    return found


def compute_record(
    models: Mapping[str, Mapping[str, Any]],
    quoted: Sequence[Mapping[str, Any]],
    references: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """What the run's metrics keep under `compute`: this run's models, the quoted runs' points, the references."""
    return {"models": dict(models), "quoted": list(quoted), "references": list(references)}


def figure_of_record(record: Mapping[str, Any]) -> ReportFigure:
    """`plot_accuracy_against_compute` of a run's `compute` record (this run's models, then the quoted runs)."""
    points = [model | {"run_label": "this run"} for model in record["models"].values()] + list(record["quoted"])
    from fashion_lib.analysis.figures import plot_accuracy_against_compute

    return plot_accuracy_against_compute(points, record["references"])


def describe_costs(models: Mapping[str, Mapping[str, Any]]) -> str:
    """One sentence: how much more the CNN's training cost than the MLP's, and what it bought."""
    mlp, cnn = models["mlp"], models["cnn"]
    ratio = cnn["training_flops"] / mlp["training_flops"] if mlp["training_flops"] else math.inf
    gain = (cnn["test_accuracy"] - mlp["test_accuracy"]) * 100
    return (
        f"The CNN's final training took **{cnn['training_flops'] / 1e12:.1f} TFLOPs** "
        f"({cnn['forward_flops'] / 1e6:.1f} MFLOPs per image, {cnn['epochs_trained']} epochs on "
        f"{cnn['train_images']:,} images), {ratio:.1f}× the MLP's {mlp['training_flops'] / 1e12:.1f} TFLOPs, "
        f"for {gain:+.2f} points of test accuracy."
    )
