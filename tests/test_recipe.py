"""The final training's recipe: seeded augmentation that keeps labels and stays out of evaluation, the warm-up +
cosine schedule, and test-time augmentation that averages exactly the image and its mirror."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from fashion_lib.models import builders
from fashion_lib.training import fit, recipe
from fashion_lib.training.recipe import Augmentation

SHIFT_FLIP_ERASE = Augmentation(shift=2, flip=True, erase=0.5)


def _batches(small_split: dict, augmentation: Augmentation, seed: int, epochs: int = 1) -> list[tuple]:
    dataset = fit.make_dataset(
        small_split["train_x"],
        small_split["train_y"],
        batch_size=100,
        shuffle=True,
        seed=seed,
        augmentation=augmentation,
    )
    return [(x.numpy(), y.numpy()) for _ in range(epochs) for x, y in dataset]


def test_augmentation_is_seeded_and_differs_between_epochs(small_split: dict) -> None:
    first = _batches(small_split, SHIFT_FLIP_ERASE, seed=5, epochs=2)
    again = _batches(small_split, SHIFT_FLIP_ERASE, seed=5, epochs=2)
    other = _batches(small_split, SHIFT_FLIP_ERASE, seed=6, epochs=1)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0][0], other[0][0])
    # In a fixed order, the same images in two epochs: only the augmentation draws can differ.
    fixed = fit.make_dataset(
        small_split["train_x"],
        small_split["train_y"],
        batch_size=100,
        shuffle=False,
        seed=5,
        augmentation=SHIFT_FLIP_ERASE,
    )
    epoch_one, epoch_two = ([x.numpy() for x, _ in fixed] for _ in range(2))
    assert not any(np.array_equal(a, b) for a, b in zip(epoch_one, epoch_two, strict=True))


def test_augmentation_keeps_every_label_in_place(small_split: dict) -> None:
    augmented = _batches(small_split, SHIFT_FLIP_ERASE, seed=5)
    plain = _batches(small_split, Augmentation(), seed=5)
    for (_, labels), (_, plain_labels) in zip(augmented, plain, strict=True):
        np.testing.assert_array_equal(labels, plain_labels)
    images = np.concatenate([x for x, _ in augmented])
    assert images.shape == small_split["train_x"].shape


def test_each_augmented_image_is_a_shifted_or_mirrored_copy_of_its_own(small_split: dict) -> None:
    images = small_split["train_x"][:64]
    out = recipe.augment_batch(images, tf.constant([3, 4], tf.int64), Augmentation(shift=2, flip=True)).numpy()
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    shifts_seen, mirrors = set(), 0
    for image, result in zip(padded, out, strict=True):
        matches = [
            (dy, dx, mirrored)
            for mirrored in (False, True)
            for dy in range(5)
            for dx in range(5)
            if np.array_equal((image[:, ::-1] if mirrored else image)[dy : dy + 28, dx : dx + 28], result)
        ]
        assert matches, "an augmented image is not a shift (within 2 pixels) of the image or of its mirror"
        shifts_seen.add(matches[0][:2])
        mirrors += matches[0][2]
    assert len(shifts_seen) > 5 and 10 < mirrors < 54


def test_erasing_blanks_one_rectangle_of_the_drawn_size() -> None:
    images = np.ones((200, 28, 28), np.float32)
    out = recipe.augment_batch(images, tf.constant([1, 2], tf.int64), Augmentation(erase=0.5)).numpy()
    blanked = out == 0
    erased = blanked.any(axis=(1, 2))
    assert 60 < erased.sum() < 140
    for mask in blanked[erased]:
        rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        low, high = recipe.ERASE_SIDES
        assert low <= len(rows) <= high and low <= len(columns) <= high
        assert mask.sum() == len(rows) * len(columns)  # one full rectangle
    np.testing.assert_array_equal(out[~erased], images[~erased])


def test_a_recipe_without_augmentation_leaves_the_pipeline_unchanged(small_split: dict) -> None:
    plain = _batches(small_split, Augmentation(), seed=5)
    default = [
        (x.numpy(), y.numpy())
        for x, y in fit.make_dataset(
            small_split["train_x"], small_split["train_y"], batch_size=100, shuffle=True, seed=5
        )
    ]
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(plain, default, strict=True))


@pytest.mark.parametrize("arguments", [{"shift": -1}, {"shift": 9}, {"shift": 1.5}, {"erase": 1.5}])
def test_augmentation_refuses_bad_settings(arguments: dict) -> None:
    with pytest.raises(ValueError, match="augment_"):
        Augmentation(**arguments)


def _train_cosine(model, small_split: dict, **options):
    """train_model on the small split, batch 100, with the cosine schedule and no progress lines."""
    return fit.train_model(
        model,
        small_split["train_x"],
        small_split["train_y"],
        small_split["val_x"],
        small_split["val_y"],
        batch_size=100,
        schedule="cosine",
        progress=False,
        **options,
    )


def test_augmentation_is_off_at_evaluation(small_split: dict) -> None:
    """The last epoch's validation accuracy is the trained model's accuracy on the untouched images."""
    model = builders.build_mlp(hidden_units=(64,), optimizer="adam", learning_rate=0.003, dropout_rates=0.0)
    history = _train_cosine(model, small_split, epochs=2, augmentation=SHIFT_FLIP_ERASE, seed=3)
    _, accuracy = model.evaluate(small_split["val_x"], small_split["val_y"], batch_size=100, verbose=0)
    best = history["val_accuracy"].max()
    assert accuracy == pytest.approx(best, abs=1e-6)
    with pytest.raises(ValueError, match="training batches"):
        fit.make_dataset(
            small_split["val_x"], None, batch_size=10, shuffle=False, seed=1, augmentation=SHIFT_FLIP_ERASE
        )


def test_warmup_cosine_rises_to_the_peak_then_falls_to_zero() -> None:
    schedule = recipe.warmup_cosine(0.002, 1000)
    rates = np.array([float(schedule(step)) for step in range(1001)])
    assert rates[0] == 0.0
    assert rates[50] == pytest.approx(0.002)
    assert np.all(np.diff(rates[:51]) > 0) and np.all(np.diff(rates[50:]) <= 1e-12)
    assert rates[525] == pytest.approx(0.001, rel=1e-3)
    assert rates[1000] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="peak"):
        recipe.warmup_cosine(0.0, 100)


def test_cosine_training_logs_each_epochs_rate_and_runs_every_epoch(small_split: dict) -> None:
    model = builders.build_mlp(hidden_units=(32,), optimizer="adam", learning_rate=0.01)
    history = _train_cosine(model, small_split, epochs=4, patience=0)
    assert len(history) == 4  # patience applies to the seed schedule only
    rates = history["learning_rate"].to_numpy()
    # 10 steps per epoch, 40 in all, 2 of warm-up: epoch 1 starts at 0, the others decline from near the peak.
    assert rates[0] == 0.0 and rates[1] > rates[2] > rates[3] > 0
    assert rates[1] == pytest.approx(float(recipe.warmup_cosine(0.01, 40)(10)))
    assert isinstance(model.optimizer, keras.optimizers.Adam)


def test_flip_tta_averages_exactly_the_image_and_its_mirror(small_split: dict) -> None:
    model = builders.build_cnn(conv_blocks=1, filters=4, optimizer="adam", learning_rate=0.01)
    model.fit(small_split["train_x"][:200], small_split["train_y"][:200], epochs=1, verbose=0)
    images = small_split["test_x"][:50]
    plain = model.predict(images, verbose=0)
    mirror = model.predict(images[:, :, ::-1], verbose=0)
    assert not np.allclose(plain, mirror, atol=1e-4), "the model should tell an image from its mirror"
    np.testing.assert_allclose(recipe.flip_tta_probabilities(model, images), (plain + mirror) / 2, rtol=1e-6, atol=1e-7)


def test_the_recipe_sentence_gives_tta_beside_the_plain_figure() -> None:
    plain = recipe.describe({"schedule": "cosine", "augmentation": "mirroring", "flip_tta_test_accuracy": 0.9123})
    assert "warm-up + cosine" in plain and "mirroring" in plain and "91.23%" in plain and "plain figure" in plain
    assert "test-time" not in recipe.describe({"schedule": "seed", "augmentation": "none"})
