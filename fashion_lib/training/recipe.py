"""The final training's recipe: its learning-rate schedule, data augmentation and test-time augmentation.

Two schedules (config.SCHEDULES):

- "seed": the seed report's method. The searched rate stays constant for `constant_epochs`, then decays by
  exp(-decay_rate) per epoch; training stops after `patience` epochs without a better validation accuracy.
- "cosine": a linear warm-up from 0 to the searched rate over the first WARMUP_FRACTION of the steps, then
  a cosine down to 0 at the last step of a fixed number of epochs (per step, Keras' own `CosineDecay`, so a
  saved model loads with Keras alone). The run trains every epoch: stopping early would cut the anneal.

Either way the model keeps its best epoch's weights. Augmentation (`Augmentation`) changes the training
batches only, in the input pipeline, never the model: validation, test and saved models see the images as
they are. Each batch draws its shifts, mirrors and erased rectangles from a seed that the run's seed and
the batch's place in training fix, so the same seed repeats the same augmented batches. Test-time
augmentation (`flip_tta_probabilities`) averages a model's probabilities for an image and its mirror; it
is reported beside the plain figure, and only for models trained with mirrored images.

Why these parts and not others (label smoothing, weight averaging): docs/recipe-experiments.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

# Share of the cosine schedule's steps spent warming up from 0 to the peak rate.
WARMUP_FRACTION = 0.05
# Sides of an erased rectangle, in pixels (each drawn uniformly, independently).
ERASE_SIDES = (4, 14)


@dataclass(frozen=True)
class Augmentation:
    """What each training image may undergo: a shift, a mirror, an erased rectangle.

    shift: largest shift each way, in whole pixels, along each axis (the uncovered border is zero, the
        background of Fashion-MNIST); 0 for none.
    flip: mirror left-right with probability 1/2.
    erase: probability of setting one rectangle (sides of 4-14 pixels, inside the image) to zero.
    """

    shift: int = 0
    flip: bool = False
    erase: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.shift, bool) or not isinstance(self.shift, (int, np.integer)) or not 0 <= self.shift <= 8:
            raise ValueError(f"augment_shift must be a whole number of pixels from 0 to 8, got {self.shift!r}.")
        if not 0.0 <= float(self.erase) <= 1.0:
            raise ValueError(f"augment_erase is a probability from 0 to 1, got {self.erase!r}.")

    @property
    def active(self) -> bool:
        """Whether any image changes at all."""
        return self.shift > 0 or bool(self.flip) or self.erase > 0

    def describe(self) -> str:
        """In words, e.g. "shifts of up to 2 pixels, mirroring" or "none"."""
        parts = []
        if self.shift:
            parts.append(f"shifts of up to {self.shift} pixel{'s' if self.shift > 1 else ''}")
        if self.flip:
            parts.append("mirroring")
        if self.erase:
            parts.append(f"erasing (p = {self.erase:g})")
        return ", ".join(parts) or "none"


def augment_batch(images: tf.Tensor, seed: tf.Tensor, augmentation: Augmentation) -> tf.Tensor:
    """The batch `images` (batch, height, width) augmented; a function of `seed` (two integers) alone.

    Each image gets its own shift (dy, dx in [-shift, shift]), mirror (probability 1/2, applied before the
    shift) and erased rectangle (with probability `erase`).
    """
    images = tf.convert_to_tensor(images)
    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
    if augmentation.flip:
        mirror = tf.random.stateless_uniform((batch,), seed=seeds[0]) < 0.5
        images = tf.where(mirror[:, None, None], tf.reverse(images, axis=[2]), images)
    if augmentation.shift:
        pad = augmentation.shift
        offsets = tf.random.stateless_uniform((batch, 2), seed=seeds[1], minval=0, maxval=2 * pad + 1, dtype=tf.int32)
        padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad]])
        # Row r of the result is row r + offset of the padded image: a shift by pad - offset.
        rows = offsets[:, :1] + tf.range(height)[None, :]
        columns = offsets[:, 1:] + tf.range(width)[None, :]
        images = tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), columns, axis=2, batch_dims=1)
    if augmentation.erase:
        low, high = ERASE_SIDES
        draws = tf.random.stateless_uniform((batch, 5), seed=seeds[2])
        sides = tf.cast(low + draws[:, :2] * (high - low + 1), tf.int32)
        top = tf.cast(draws[:, 2] * tf.cast(height - sides[:, 0] + 1, tf.float32), tf.int32)
        left = tf.cast(draws[:, 3] * tf.cast(width - sides[:, 1] + 1, tf.float32), tf.int32)
        erase = draws[:, 4] < augmentation.erase
        row_in = (tf.range(height)[None, :] >= top[:, None]) & (
            tf.range(height)[None, :] < (top + sides[:, 0])[:, None]
        )
        column_in = (tf.range(width)[None, :] >= left[:, None]) & (
            tf.range(width)[None, :] < (left + sides[:, 1])[:, None]
        )
        blank = row_in[:, :, None] & column_in[:, None, :] & erase[:, None, None]
        images = tf.where(blank, tf.zeros_like(images), images)
    return images


def augment_dataset(dataset: tf.data.Dataset, augmentation: Augmentation, seed: int) -> tf.data.Dataset:
    """Batches of (images, labels) with the images augmented and the labels untouched.

    Each batch's seed is (seed, a number drawn by `tf.data.Dataset.random(seed)`), drawn afresh each epoch:
    every epoch sees new draws, and the same seed gives the same sequence of them.
    """
    if not augmentation.active:
        return dataset
    draws = tf.data.Dataset.random(seed=int(seed), rerandomize_each_iteration=True)

    def augment(batch, draw):
        images, labels = batch
        return augment_batch(images, tf.stack([tf.constant(int(seed), tf.int64), draw]), augmentation), labels

    return tf.data.Dataset.zip((dataset, draws)).map(augment)


def warmup_cosine(peak_learning_rate: float, total_steps: int) -> keras.optimizers.schedules.CosineDecay:
    """Linear warm-up from 0 to the peak over WARMUP_FRACTION of `total_steps`, then a cosine to 0 at the last."""
    if not peak_learning_rate > 0:
        raise ValueError(f"The peak learning rate must be positive, got {peak_learning_rate}.")
    if total_steps < 2:
        raise ValueError(f"A warm-up + cosine schedule needs at least 2 steps, got {total_steps}.")
    warmup = max(1, round(WARMUP_FRACTION * total_steps))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=total_steps - warmup,
        alpha=0.0,
        warmup_target=float(peak_learning_rate),
        warmup_steps=warmup,
    )


def with_schedule(model: keras.Model, schedule: keras.optimizers.schedules.LearningRateSchedule) -> keras.Model:
    """Recompile `model` with an optimizer of the same kind and settings whose rate follows `schedule`."""
    settings = model.optimizer.get_config() | {"learning_rate": schedule}
    model.compile(
        optimizer=type(model.optimizer).from_config(settings),
        loss=model.loss,
        metrics=["accuracy"],
        steps_per_execution=model.steps_per_execution,
    )
    return model


class LearningRateLog(keras.callbacks.Callback):
    """Writes the rate in force at each epoch's start into that epoch's logs (`learning_rate`), as Keras'
    LearningRateScheduler does, for optimizers whose rate changes every step."""

    def on_epoch_begin(self, epoch, logs=None):
        self._rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self._rate


def mirrored(images: np.ndarray) -> np.ndarray:
    """Each image (batch, height, width) mirrored left-right."""
    return np.ascontiguousarray(np.asarray(images)[:, :, ::-1])


def flip_tta_probabilities(model: keras.Model, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Test-time augmentation: the mean of the model's probabilities for each image and for its mirror."""
    plain = model.predict(images, batch_size=batch_size, verbose=0)
    mirror = model.predict(mirrored(images), batch_size=batch_size, verbose=0)
    return (plain + mirror) / 2.0


SCHEDULE_WORDS = {
    "seed": "the seed report's schedule (constant, then exponential decay; early stopping)",
    "cosine": "warm-up + cosine to zero over every epoch",
}


def describe(used: dict) -> str:
    """One sentence on a final training's recipe, as `fashion_lib.training.final.train_and_record` records it
    under `recipe`."""
    sentence = (
        f"Recipe of the final training: {SCHEDULE_WORDS[used['schedule']]}; augmentation: {used['augmentation']}."
    )
    if "flip_tta_test_accuracy" in used:
        sentence += (
            f" With test-time augmentation (each image and its mirror averaged) the same model scores "
            f"{used['flip_tta_test_accuracy']:.2%}; the plain figure stays the model's result."
        )
    return sentence
