"""Does the length of a search trial decide the CNN's architecture? Every architecture of the seed's CNN space,
trained alike, ranked at several epochs.

The seed's CNN space has six architectures (1-3 blocks x 8 or 16 first-block filters). The study trains each
once from the same seed with the space's other values at their reference (dropout and learning rate as
fashion_lib.models declares them), SGD and the seed's schedule (constant, then exponential decay), for a fixed
number of epochs with no early stop, and records every epoch's validation accuracy. A search ranks a trial by
its best epoch's validation accuracy, so "the architecture a k-epoch search would pick" is the one with the
highest validation accuracy over epochs 1 to k (the seed's schedule keeps the rate constant for its first
`constant_epochs` epochs, so up to there a trial and a study training follow the same rates). Ties share a
rank and the pick among tied architectures is the first in the space's order (fewer blocks, then fewer
filters). Each architecture's test accuracy is that of its best validation epoch's weights, what its final
training would keep.

The per-epoch results go to `STUDY_FILE` in the run folder and the summary to the run's metrics under
`SECTION`, so the report's cache keeps them like any notebook output.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fashion_lib import results, scores
from fashion_lib.storage import atomic_path

if TYPE_CHECKING:
    from fashion_lib.data import Splits

STUDY_FILE = "cnn_architecture_study.csv"
SECTION = "architecture_study"
STUDY_COLUMNS = [
    "architecture",
    "conv_blocks",
    "filters",
    "epoch",
    "accuracy",
    "loss",
    "val_accuracy",
    "val_loss",
    "learning_rate",
    "epoch_seconds",
]


@dataclass(frozen=True)
class Architecture:
    """One architecture of the seed's CNN space: its number of blocks and its first block's filters."""

    conv_blocks: int
    filters: int

    @property
    def label(self) -> str:
        """E.g. "2 blocks, 16/32 filters"."""
        widths = "/".join(str(self.filters * 2**block) for block in range(self.conv_blocks))
        return f"{self.conv_blocks} block{'s' if self.conv_blocks > 1 else ''}, {widths} filters"


def seed_space() -> dict[str, Any]:
    """The seed CNN space's declared hyperparameters: {name: Keras Tuner hyperparameter}."""
    from fashion_lib.models.hypermodels import make_hypermodel
    from fashion_lib.models.search_space import declare_search_space

    return {parameter.name: parameter for parameter in declare_search_space(make_hypermodel("cnn", "seed")).space}


def architectures() -> list[Architecture]:
    """Every architecture of the seed's CNN space, in the space's order (blocks, then filters, ascending)."""
    space = seed_space()
    blocks = space["conv_blocks"].get_config()
    filters = sorted(space["filters"].get_config()["values"])
    return [
        Architecture(conv_blocks, width)
        for conv_blocks in range(blocks["min_value"], blocks["max_value"] + 1)
        for width in filters
    ]


def reference_values() -> dict[str, Any]:
    """The seed CNN space's reference configuration (each hyperparameter at its declared default)."""
    from fashion_lib.models.hypermodels import make_hypermodel
    from fashion_lib.models.search_space import declare_search_space, default_values

    return default_values(declare_search_space(make_hypermodel("cnn", "seed")))


def ranking_epochs(requested: Sequence[int], epochs_run: int) -> tuple[int, ...]:
    """The requested ranking epochs the study has: each beyond `epochs_run` becomes the last epoch, once."""
    if epochs_run < 1:
        raise ValueError(f"The study ran {epochs_run} epochs: there is nothing to rank.")
    return tuple(sorted({min(int(epoch), int(epochs_run)) for epoch in requested}))


def rank_architectures(histories: pd.DataFrame, epochs: Sequence[int]) -> pd.DataFrame:
    """Each architecture's search score (best validation accuracy over epochs 1..k) and rank at each k of `epochs`.

    Args:
        histories: one row per architecture and epoch with columns architecture, epoch (1-based) and
            val_accuracy, the architectures in the order ties are broken by (first wins).
        epochs: the epochs to rank at; each must be one every architecture has.

    Returns:
        One row per architecture (in the histories' order), columns `score_<k>` and `rank_<k>` for each k
        (rank 1 is best; tied scores share the better rank).
    """
    missing = {"architecture", "epoch", "val_accuracy"} - set(histories.columns)
    if missing:
        raise ValueError(f"The histories lack the columns {sorted(missing)}.")
    order = list(dict.fromkeys(histories["architecture"]))
    trained = histories.groupby("architecture", sort=False)["epoch"].max()
    for epoch in epochs:
        short = [name for name in order if trained[name] < epoch]
        if short:
            raise ValueError(
                f"Cannot rank at epoch {epoch}: {', '.join(short)} trained only {trained[short[0]]} epochs; "
                "rank at the epochs every architecture has (`ranking_epochs`)."
            )
    table = pd.DataFrame(index=pd.Index(order, name="architecture"))
    for epoch in epochs:
        scores = histories[histories["epoch"] <= epoch].groupby("architecture", sort=False)["val_accuracy"].max()
        table[f"score_{epoch}"] = scores.reindex(order)
        table[f"rank_{epoch}"] = table[f"score_{epoch}"].rank(ascending=False, method="min").astype(int)
    return table


def picks(ranking: pd.DataFrame, epochs: Sequence[int]) -> dict[int, str]:
    """The architecture a search of k-epoch trials would pick, for each k: the best score, first of a tie."""
    return {int(epoch): str(ranking[f"score_{epoch}"].idxmax()) for epoch in epochs}


@dataclass
class StudyResult:
    """The study's per-epoch histories (STUDY_COLUMNS), its ranking table and the summary in the run's metrics."""

    histories: pd.DataFrame
    ranking: pd.DataFrame
    summary: dict[str, Any]


def _epoch_seconds() -> Any:
    """A Keras callback recording each epoch's wall-clock seconds in `seconds`."""
    import keras

    class EpochSeconds(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict | None = None) -> None:
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.seconds.append(time.perf_counter() - self._start)

    return EpochSeconds()


def run_study(
    splits: Splits,
    *,
    run_dir: str | Path,
    epochs: int,
    ranking_at: Sequence[int],
    train_subset: int = 0,
    seed: int = 1,
    batch_size: int = 128,
    constant_epochs: int = 10,
    decay_rate: float = 0.1,
) -> StudyResult:
    """Train every architecture of the seed's CNN space for `epochs` epochs and rank them at `ranking_at`.

    Each trains on a class-balanced `train_subset` of the training images (0: all), validates on the
    validation split and is tested on the test set; all with the same `seed`, SGD at the reference rate and
    the seed's schedule, with no early stop. Writes `STUDY_FILE` to `run_dir` and records the summary under
    `SECTION` of its metrics.
    """
    from fashion_lib.data import stratified_subset
    from fashion_lib.models.search_space import build_from_hyperparameters
    from fashion_lib.training.callbacks import EpochProgress
    from fashion_lib.training.fit import train_model

    if epochs < 1:
        raise ValueError(f"The study needs at least 1 epoch per architecture, got {epochs}.")
    train_x, train_y = stratified_subset(splits.train_x, splits.train_y, train_subset or None, seed=seed)
    reference = reference_values()
    frames, rows = [], []
    started = time.perf_counter()
    for architecture in architectures():
        values = reference | {"conv_blocks": architecture.conv_blocks, "filters": architecture.filters}
        model = build_from_hyperparameters("cnn", values, space="seed")
        clock = _epoch_seconds()
        history = train_model(
            model,
            train_x,
            train_y,
            splits.val_x,
            splits.val_y,
            epochs=epochs,
            batch_size=batch_size,
            constant_epochs=constant_epochs,
            decay_rate=decay_rate,
            # Patience of the whole run: every architecture trains every epoch, and keeps its best epoch's weights.
            patience=epochs,
            seed=seed,
            callbacks=[clock, EpochProgress(f"cnn {architecture.label}")],
            progress=False,
        )
        history = history.assign(
            architecture=architecture.label,
            conv_blocks=architecture.conv_blocks,
            filters=architecture.filters,
            epoch_seconds=clock.seconds,
        )
        frames.append(history)
        best = int(history["val_accuracy"].to_numpy().argmax())
        test_probabilities = model.predict(splits.test_x, verbose=0)
        rows.append(
            {
                "architecture": architecture.label,
                "conv_blocks": architecture.conv_blocks,
                "filters": architecture.filters,
                "parameters": int(model.count_params()),
                "best_epoch": best + 1,
                "best_val_accuracy": float(history["val_accuracy"].iloc[best]),
                "test_accuracy": scores.accuracy(splits.test_y, test_probabilities.argmax(axis=1)),
                # The first epoch also traces the training step; the median is what an epoch costs.
                "seconds_per_epoch": round(float(np.median(clock.seconds)), 2),
            }
        )
    histories = pd.concat(frames, ignore_index=True)[STUDY_COLUMNS]
    with atomic_path(Path(run_dir) / STUDY_FILE) as path:
        histories.to_csv(path, index=False)
    epochs_ranked = ranking_epochs(ranking_at, epochs)
    ranking = rank_architectures(histories, epochs_ranked)
    chosen = picks(ranking, epochs_ranked)
    by_label = {row["architecture"]: row for row in rows}
    for row in rows:
        row["score_at"] = {str(k): float(ranking.loc[row["architecture"], f"score_{k}"]) for k in epochs_ranked}
        row["rank_at"] = {str(k): int(ranking.loc[row["architecture"], f"rank_{k}"]) for k in epochs_ranked}
    summary = results.record_results(
        run_dir,
        SECTION,
        {
            "epochs": int(epochs),
            "requested_ranking_epochs": [int(k) for k in ranking_at],
            "ranking_epochs": list(epochs_ranked),
            "train_images": len(train_y),
            "validation_images": len(splits.val_y),
            "seed": int(seed),
            "batch_size": int(batch_size),
            "reference": {name: value for name, value in reference.items() if name not in ("conv_blocks", "filters")},
            "constant_epochs": int(constant_epochs),
            "decay_rate": float(decay_rate),
            "architectures": rows,
            "picks": {
                str(k): {"architecture": label, "test_accuracy": by_label[label]["test_accuracy"]}
                for k, label in chosen.items()
            },
            "seconds": round(time.perf_counter() - started, 1),
            "file": STUDY_FILE,
        },
    )
    return StudyResult(histories=histories, ranking=ranking, summary=summary)


def load_histories(run_dir: str | Path) -> pd.DataFrame:
    """The study's per-epoch histories as `run_study` wrote them."""
    path = Path(run_dir) / STUDY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the CNN architecture study has not run in {run_dir}.")
    return pd.read_csv(path)


def study_table(summary: dict[str, Any]) -> pd.DataFrame:
    """The study for display: per architecture, its search score and rank at each ranking epoch, its best
    epoch, its test accuracy and its seconds per epoch."""
    records = []
    for row in summary["architectures"]:
        record: dict[str, Any] = {"architecture": row["architecture"], "weights": f"{row['parameters']:,}"}
        for epoch in summary["ranking_epochs"]:
            record[f"validation, best of epochs 1–{epoch}"] = f"{row['score_at'][str(epoch)]:.2%}"
            record[f"rank at {epoch}"] = row["rank_at"][str(epoch)]
        record["best epoch"] = row["best_epoch"]
        record["test accuracy"] = f"{row['test_accuracy']:.2%}"
        record["s per epoch"] = f"{row['seconds_per_epoch']:.1f}"
        records.append(record)
    return pd.DataFrame(records).set_index("architecture")


def plot_study(histories: pd.DataFrame, summary: dict[str, Any], *, title: str | None = None) -> Figure:
    """Validation accuracy per epoch of each architecture, the ranking epochs marked and each legend entry
    naming the ranking epochs at which that architecture is the pick."""
    from matplotlib.ticker import MaxNLocator

    from fashion_lib.analysis.figures import ReportFigure, finish_figure

    fig = ReportFigure(figsize=(10, 5), layout="constrained")
    ax = fig.subplots()
    picked_at: dict[str, list[str]] = {}
    for epoch, pick in summary["picks"].items():
        picked_at.setdefault(pick["architecture"], []).append(epoch)
    blocks = sorted(histories["conv_blocks"].unique())
    colours = {count: f"C{index}" for index, count in enumerate(blocks)}
    widest = histories["filters"].max()
    for label in dict.fromkeys(histories["architecture"]):
        curve = histories[histories["architecture"] == label]
        epochs = picked_at.get(label)
        ax.plot(
            curve["epoch"],
            curve["val_accuracy"],
            color=colours[curve["conv_blocks"].iloc[0]],
            linestyle="-" if curve["filters"].iloc[0] == widest else "--",
            linewidth=2.2 if epochs else 1.4,
            marker="o" if len(curve) <= 5 else None,
            label=label
            + (f": the pick at epoch{'s' if len(epochs) > 1 else ''} {', '.join(epochs)}" if epochs else ""),
        )
    for epoch in summary["ranking_epochs"]:
        ax.axvline(epoch, color="grey", linestyle=":", linewidth=1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Epoch (dotted: the ranking epochs)")
    ax.set_ylabel("Validation accuracy")
    ax.set_title(title or "Every architecture of the seed's CNN space, trained alike")
    ax.grid(alpha=0.3)
    ax.legend(title="architecture", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    final = histories.sort_values("epoch").groupby("architecture", sort=False)["val_accuracy"].last()
    description = (
        f"Line chart of validation accuracy against epoch (1 to {int(histories['epoch'].max())}) for each of the "
        f"{len(final)} architectures of the seed's CNN space; at the last epoch: "
        + ", ".join(f"{label} {accuracy:.1%}" for label, accuracy in final.items())
        + ". Picks: "
        + ", ".join(f"at epoch {epoch} {pick['architecture']}" for epoch, pick in summary["picks"].items())
        + "."
    )
    return finish_figure(fig, description)


def describe_study(summary: dict[str, Any], *, search_epochs: int, search_pick: str) -> str:
    """The study's section in words: why it is there, how it ran, the pick at each ranking epoch and the test
    accuracy each gives; `search_epochs` and `search_pick` are this run's search trials' epochs and its pick."""
    epochs = summary["ranking_epochs"]
    first, last = str(epochs[0]), str(epochs[-1])
    reference = ", ".join(f"{name.replace('_', ' ')} {value:g}" for name, value in summary["reference"].items())
    text = (
        "## Does the length of the search's trials decide the architecture?\n\n"
        f"This run's search trained each trial for {search_epochs} epoch{'s' if search_epochs != 1 else ''} and "
        f"picked **{search_pick}**; the seed report's tuner ran its CNN trials “for 30 epochs”. A search ranks a "
        "trial by its best epoch's validation accuracy, so short trials favour models that learn fast, whether or "
        "not they keep learning. To see whether that changes the pick, every architecture of the seed's space is "
        "trained alike and ranked as a search of each trial length would rank it (a tie goes to fewer blocks, "
        "then fewer filters). "
        f"Each of the {len(summary['architectures'])} architectures trained for {summary['epochs']} epochs on "
        f"{summary['train_images']:,} images (seed {summary['seed']}, batch {summary['batch_size']}, {reference}, "
        f"the seed's schedule: constant for {summary['constant_epochs']} epochs, then ×e^−{summary['decay_rate']:g} "
        f"per epoch) in {summary['seconds'] / 60:.1f} minutes. "
    )
    if list(summary["requested_ranking_epochs"]) != list(epochs):
        text += (
            f"This is a smoke-size study, shorter than the ranking epochs asked for "
            f"({', '.join(str(k) for k in summary['requested_ranking_epochs'])}): it ranks at the epochs it has "
            f"({', '.join(str(k) for k in epochs)}) and says nothing about longer trials. "
        )
    text += " ".join(
        f"A search of {k}-epoch trials would pick **{pick['architecture']}**, whose test accuracy is "
        f"{pick['test_accuracy']:.2%}."
        for k, pick in summary["picks"].items()
    )
    gain = summary["picks"][last]["test_accuracy"] - summary["picks"][first]["test_accuracy"]
    if first == last:
        return text
    if summary["picks"][first]["architecture"] == summary["picks"][last]["architecture"]:
        text += f" The pick is the same at epoch {first} and at epoch {last}: here the trial length does not decide it."
    else:
        text += (
            f" Trials of {last} epochs rather than {first} change the pick and the test accuracy by "
            f"{gain * 100:+.2f} points."
        )
    return text


def seed_cnn_accuracy() -> float:
    """The seed report's CNN test accuracy (92.6%), as the replication table states it."""
    from fashion_lib.analysis.replication import CLAIMS_BY_KEY

    return float(CLAIMS_BY_KEY["cnn_test_accuracy"].seed_figure.rstrip("%")) / 100


def describe_gap(summary: dict[str, Any], *, run_accuracies: Sequence[float]) -> str:
    """How far this run's CNN is from the seed's figure, and how far the study's best architecture is."""
    seed_figure = seed_cnn_accuracy()
    accuracies = [float(value) for value in run_accuracies]
    mean = float(np.mean(accuracies))
    best = max(summary["architectures"], key=lambda row: row["test_accuracy"])
    spread = (
        f" (mean of {len(accuracies)} training seeds; {min(accuracies):.2%}–{max(accuracies):.2%})"
        if len(accuracies) > 1
        else ""
    )
    text = (
        f"The seed report's CNN reached {seed_figure:.1%}; this run's final CNN reaches {mean:.2%}{spread}, "
        f"{(mean - seed_figure) * 100:+.2f} points from it. In the study the best architecture on the test set, "
        f"{best['architecture']}, reaches {best['test_accuracy']:.2%} after {summary['epochs']} epochs, "
        f"{(best['test_accuracy'] - seed_figure) * 100:+.2f} points from the seed's figure"
    )
    if best["test_accuracy"] >= seed_figure - 0.0005:
        return text + ": an architecture of the seed's space, trained as the seed trained, reaches its figure."
    return text + (
        ": even the best architecture of the seed's space, at its reference dropout and rate, stays below the "
        "seed's figure here; what the seed does not state (its number of trials, the dropout it chose, its "
        "batch size) or one training's chance would have to make up the rest."
    )
