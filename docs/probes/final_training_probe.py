"""Validation-only probe of a final-training recipe: one configuration per process, one JSON line out.

It trains the standard run's chosen models (seed 1, commit e87107c, on a 2-core AVX2 machine:
MLP 3 x 1024 units, CNN 32/64/128 filters with a dense layer of 256) on the standard split's 54,000 training
images with `fashion_lib.training.fit.train_model`, as the notebooks' final training does, and scores the
6,000 validation images only: no test figure. Session 8's records in docs/recipe-probes-whole-trainings.jsonl
came from it, e.g.

    python docs/probes/final_training_probe.py C10 cnn --epochs 40 --shift 1 --flip --out probes.jsonl
    python docs/probes/final_training_probe.py M10 mlp --epochs 50 --flip --out probes.jsonl

`whitened` trains fashion_lib.models.whitened's network (issue 27) instead, its whitening computed from the
training images, SGD with Nesterov momentum at `--learning-rate` (default 0.05) and `--batch` (default 256):

    python docs/probes/final_training_probe.py W1 whitened --epochs 10 --shift 2 --flip --out probes.jsonl
"""

import argparse
import json
import os

import tensorflow as tf

from fashion_lib import config
from fashion_lib.bench import epoch_clock
from fashion_lib.data import prepare_splits
from fashion_lib.models import builders, whitened
from fashion_lib.training import fit, recipe

# The standard run's searched hyperparameters (report/standard/metrics.json of commit e87107c).
CHOSEN = {
    "cnn": {
        "builder": builders.build_cnn,
        "batch_size": 128,
        "learning_rate": 0.0011287,
        "architecture": {
            "conv_blocks": 3,
            "filters": 32,
            "dropout_rate": 0.15915,
            "dense_units": 256,
            "dense_dropout": 0.22842,
        },
    },
    "mlp": {
        "builder": builders.build_mlp,
        "batch_size": 512,
        "learning_rate": 0.0022987,
        "architecture": {
            "hidden_units": [1024, 1024, 1024],
            "dropout_rates": [0.19086, 0.30989, 0.35186],
            "l2_factors": 0.0,
        },
    },
    "whitened": {"builder": None, "batch_size": 256, "learning_rate": 0.05, "architecture": {"widths": [48, 96, 192]}},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("model", choices=sorted(CHOSEN))
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--schedule", default="cosine", choices=config.SCHEDULES)
    parser.add_argument("--shift", type=int, default=0)
    parser.add_argument("--flip", action="store_true")
    parser.add_argument("--erase", type=float, default=0.0)
    parser.add_argument("--architecture", type=json.loads, default={}, help='JSON overrides, e.g. {"dropout_rate": 0}')
    parser.add_argument("--learning-rate", type=float, help="peak rate (default: the model's entry in CHOSEN)")
    parser.add_argument("--batch", type=int, help="batch size (default: the model's entry in CHOSEN)")
    parser.add_argument("--out", required=True, help="JSON-lines file the record is appended to")
    args = parser.parse_args()

    chosen = dict(CHOSEN[args.model])
    chosen["learning_rate"] = args.learning_rate or chosen["learning_rate"]
    chosen["batch_size"] = args.batch or chosen["batch_size"]
    architecture = chosen["architecture"] | args.architecture
    augmentation = recipe.Augmentation(args.shift, args.flip, args.erase)
    splits = prepare_splits(seed=1, validation_fraction=0.1)
    if args.model == "whitened":
        # train_model sets its frozen stem from splits.train_x.
        model = whitened.build_whitened_cnn(learning_rate=chosen["learning_rate"], **architecture)
    else:
        model = chosen["builder"](optimizer="adam", learning_rate=chosen["learning_rate"], **architecture)
    clock = epoch_clock()
    history = fit.train_model(
        model, splits.train_x, splits.train_y, splits.val_x, splits.val_y, epochs=args.epochs,
        batch_size=chosen["batch_size"], schedule=args.schedule, augmentation=augmentation, seed=1,
        progress=True, callbacks=[clock], patience=15,
    )  # fmt: skip
    record = {
        "probe": args.name, "model": args.model, "architecture": architecture, "epochs": args.epochs,
        "batch": chosen["batch_size"], "schedule": args.schedule, "peak_or_initial_lr": chosen["learning_rate"],
        "augmentation": augmentation.describe(), "threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "cpus": os.cpu_count(), "val_curve": [round(v, 4) for v in history["val_accuracy"]],
        "train_curve": [round(v, 4) for v in history["accuracy"]],
        "elapsed_s": [round(seconds, 1) for seconds in clock.elapsed],
        "best_val": round(float(history["val_accuracy"].max()), 4),
        "final_val": round(float(history["val_accuracy"].iloc[-1]), 4),
    }  # fmt: skip
    if args.flip:  # the best epoch's weights, as train_model restores them
        probabilities = recipe.flip_tta_probabilities(model, splits.val_x)
        record["flip_tta_val"] = round(float((probabilities.argmax(1) == splits.val_y).mean()), 4)
    with open(args.out, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    print("DONE", json.dumps(record))


if __name__ == "__main__":
    main()
