"""A CNN built for accuracy per FLOP on 28x28 greyscale images, after the fastest-training CIFAR-10 networks
(airbench, hlb-CIFAR10), for the frontier of issue 27.

- The first convolution is a frozen patch-whitening layer: 2x2 patches of the training images projected on
  the eigenvectors of their covariance, scaled to unit variance, each with its negative (so a following
  GELU keeps both signs). It is an ordinary `Conv2D` with `trainable=False` whose weights come from the data
  (`whitening_kernel`), so it costs 8 multiply-adds per position where a learned full-resolution block costs
  hundreds, and `keras.saving.load_model` alone loads the model.
- Then one block per width: Conv 3x3 -> MaxPool 2 -> BatchNorm -> GELU -> Conv 3x3 -> BatchNorm -> GELU.
  Pooling right after the first convolution puts the second on a quarter of the positions. Batch
  normalisation has no scale (its shift is the only affine part), as airbench found enough.
- Global max pooling, one dense layer without bias scaled by 1/9 (airbench's temperature), softmax.

With the default widths (48, 96, 192) the forward pass is 50 MFLOPs per image, three times the
standard profile's CNN (`fashion_lib.analysis.compute.forward_flops`).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from fashion_lib import config
from fashion_lib.models.builders import compile_model

PATCH = 2
# Added to the eigenvalues before scaling, so that near-constant directions (the black background) are not
# blown up; airbench uses 5e-4 on images in [0, 1].
WHITENING_EPSILON = 5e-4
WHITENING_LAYER = "whitening"
# Images a dataset gives `adapt_whitening`: a 2x2 patch covariance has 10 numbers, and 10,000 images hold
# 7 million patches.
ADAPT_IMAGES = 10_000


def whitening_kernel(images: np.ndarray, *, patch: int = PATCH, epsilon: float = WHITENING_EPSILON) -> np.ndarray:
    """The frozen first convolution's kernel, shape (patch, patch, 1, 2 * patch**2), from images in [0, 1].

    Every patch x patch window (stride 1) of `images` is a sample; the kernel's first patch**2 filters are
    the covariance's eigenvectors divided by sqrt(eigenvalue + epsilon), the next patch**2 their negatives.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"Expected a stack of greyscale images (n, height, width), got shape {images.shape}.")
    # Accumulated over chunks of images: all 54,000 images' windows at once would take over a gigabyte.
    total, outer, count = np.zeros(patch * patch), np.zeros((patch * patch, patch * patch)), 0
    for start in range(0, len(images), 2_000):
        windows = np.lib.stride_tricks.sliding_window_view(images[start : start + 2_000], (patch, patch), axis=(1, 2))
        samples = windows.reshape(-1, patch * patch)
        total += samples.sum(axis=0)
        outer += samples.T @ samples
        count += len(samples)
    mean = total / count
    covariance = (outer - count * np.outer(mean, mean)) / (count - 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    filters = eigenvectors / np.sqrt(eigenvalues + epsilon)
    filters = np.concatenate([filters, -filters], axis=1)
    return filters.reshape(patch, patch, 1, 2 * patch * patch).astype(np.float32)


def adapt_whitening(model: keras.Model, images: np.ndarray | tf.data.Dataset) -> bool:
    """Set the frozen whitening layer of `model` (if it has one) from the images it is to be trained on.

    `images` is an array of images in [0, 1] or a dataset of (images, labels) batches, as a Keras Tuner trial
    receives it; of a dataset the first ADAPT_IMAGES images are used. Returns whether the model had the layer.
    Like `keras.layers.Normalization.adapt`, this reads the training data before training, never the labels.
    """
    try:
        stem = model.get_layer(WHITENING_LAYER)
    except ValueError:
        return False
    if isinstance(images, tf.data.Dataset):
        batches, count = [], 0
        for batch in images:
            batches.append(np.asarray(batch[0] if isinstance(batch, tuple) else batch))
            count += len(batches[-1])
            if count >= ADAPT_IMAGES:
                break
        images = np.concatenate(batches)[:ADAPT_IMAGES]
    kernel = whitening_kernel(images, patch=stem.kernel_size[0])
    if kernel.shape != tuple(stem.kernel.shape):
        raise ValueError(f"The whitening layer has a kernel of shape {tuple(stem.kernel.shape)}, not {kernel.shape}.")
    stem.set_weights([kernel, np.zeros(kernel.shape[-1], dtype=np.float32)])
    return True


def build_whitened_cnn(
    whitening: np.ndarray | None = None,
    *,
    widths: Sequence[int] = (48, 96, 192),
    batch_norm_momentum: float = 0.6,
    learning_rate: float = 0.05,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    steps_per_execution: int | None = None,
    input_shape: tuple[int, ...] = config.IMAGE_SHAPE,
) -> keras.Model:
    """A compiled whitened CNN (module docstring) taking 28x28 images in [0, 1]; SGD with Nesterov momentum.

    `whitening` is `whitening_kernel` of the training images; None leaves the stem at zero until
    `adapt_whitening` sets it (fashion_lib.training.fit.train_model and the search's trials do, from the images
    they train on). `batch_norm_momentum` is Keras' (the share of the running statistics kept per batch).
    """
    if whitening is None:
        whitening = np.zeros((PATCH, PATCH, 1, 2 * PATCH * PATCH), dtype=np.float32)
    whitening = np.asarray(whitening, dtype=np.float32)
    if whitening.ndim != 4 or whitening.shape[2] != 1:
        raise ValueError(f"whitening must be a (patch, patch, 1, filters) kernel, got shape {whitening.shape}.")
    if not widths or any(int(width) < 1 for width in widths):
        raise ValueError(f"widths must be one or more positive numbers of filters, got {widths!r}.")
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Reshape((*input_shape[:2], 1), name="add_channel")(inputs)
    stem = keras.layers.Conv2D(
        whitening.shape[-1], whitening.shape[:2], padding="valid", trainable=False, name=WHITENING_LAYER
    )
    x = stem(x)
    stem.set_weights([whitening, np.zeros(whitening.shape[-1], dtype=np.float32)])
    x = keras.layers.Activation("gelu", name="whitening_gelu")(x)
    for index, width in enumerate(widths):
        for position in (0, 1):
            name = f"block_{index}_conv_{position}"
            x = keras.layers.Conv2D(int(width), 3, padding="same", use_bias=False, name=name)(x)
            if position == 0:
                x = keras.layers.MaxPooling2D(2, name=f"block_{index}_pool")(x)
            x = keras.layers.BatchNormalization(momentum=batch_norm_momentum, scale=False, name=f"{name}_norm")(x)
            x = keras.layers.Activation("gelu", name=f"{name}_gelu")(x)
    x = keras.layers.GlobalMaxPooling2D(name="global_max_pool")(x)
    x = keras.layers.Dense(config.NUM_CLASSES, use_bias=False, name="logits")(x)
    x = keras.layers.Rescaling(1 / 9, name="temperature")(x)
    outputs = keras.layers.Activation("softmax", name="class_probabilities")(x)
    model = keras.Model(inputs, outputs, name="whitened_cnn")
    optimizer = keras.optimizers.SGD(
        learning_rate=float(learning_rate),
        momentum=float(momentum),
        nesterov=True,
        weight_decay=float(weight_decay) if weight_decay > 0 else None,
    )
    return compile_model(model, optimizer, steps_per_execution)
