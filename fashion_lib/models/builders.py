"""The plain model builders: plain arguments in, compiled Keras model out.

`build_mlp` and `build_cnn` are what final training and tests use. The hypermodels
(fashion_lib.models.hypermodels) only read hyperparameter values and call these builders, so a tuned model and
a retrained one are built by the same code. Batch normalisation and dropout come from
`fashion_lib.models.layers`: Keras' layers, trained through fewer TensorFlow kernels. Two search spaces exist per model:

- "seed": the search space of the seed report, kept as it was so that its results can be reproduced.
- "extended": a wider space meant to reach higher accuracy for about the same compute per trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from fashion_lib import config
from fashion_lib.models import layers

OPTIMIZERS = ("sgd", "adam", "adamw")

# The MLP search spaces go up to this many hidden layers; per-layer hyperparameters are declared for
# every possible layer and made conditional on `num_layers`, so they exist only when the layer does.
MAX_MLP_LAYERS = 3
# Each CNN block halves the image (28 -> 14 -> 7 -> 3 -> 1), so a fifth block would have nothing to pool.
MAX_CONV_BLOCKS = 4


def check_choice(what: str, value: Any, allowed: Sequence[Any]) -> Any:
    """`value` if it is one of `allowed`, else a ValueError naming the allowed values."""
    if value not in allowed:
        raise ValueError(f"Unknown {what} {value!r}; use one of {', '.join(repr(a) for a in allowed)}.")
    return value


def _check_rate(what: str, value: float) -> float:
    """A dropout rate must lie in [0, 1)."""
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{what} must lie in [0, 1), got {value}.")
    return float(value)


def _per_layer(what: str, value: float | Sequence[float], num_layers: int) -> list[float]:
    """Broadcast a float to every layer, or check that a sequence has one value per layer."""
    if isinstance(value, (int, float, np.floating, np.integer)):
        return [float(value)] * num_layers
    values = [float(item) for item in value]
    if len(values) != num_layers:
        raise ValueError(
            f"{what} has {len(values)} values but there are {num_layers} hidden layers: "
            "give one value per layer, or a single float for all of them."
        )
    return values


def make_optimizer(
    name: str, learning_rate: float, momentum: float = 0.0, weight_decay: float = 0.0
) -> keras.optimizers.Optimizer:
    """A Keras optimizer by name: "sgd" (with `momentum`), "adam" or "adamw".

    `momentum` applies to SGD only (Adam keeps its own moment estimates) and is ignored otherwise.
    `weight_decay` is Keras 3's decoupled weight decay, available on every optimizer; 0 turns it off.
    """
    if not isinstance(name, str):
        raise ValueError(f"The optimizer name must be a string, one of {OPTIMIZERS}; got {name!r}.")
    name = check_choice("optimizer", name.lower(), OPTIMIZERS)
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}.")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum}.")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be zero or positive, got {weight_decay}.")
    # Keras treats weight_decay=None as "off"; passing None keeps the saved config free of a no-op decay.
    decay = float(weight_decay) if weight_decay > 0 else None
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=float(learning_rate), momentum=float(momentum), weight_decay=decay)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=float(learning_rate), weight_decay=decay)
    # AdamW's own default decay (0.004) would apply silently if we passed None, so pass 0.0 explicitly.
    return keras.optimizers.AdamW(learning_rate=float(learning_rate), weight_decay=float(weight_decay))


# Training (and evaluation) steps per call of Keras' compiled step function. With one, Keras returns to
# Python after every batch; with several it loops inside the graph and saves that round trip, which counts
# when the steps themselves are short, as they are for these small models on a CPU. Only batch-level
# callbacks see a difference: they run once per call, and none of this project's callbacks is batch-level.
STEPS_PER_EXECUTION = 8


def compile_model(
    model: keras.Model, optimizer: keras.optimizers.Optimizer, steps_per_execution: int | None
) -> keras.Model:
    """Compile for sparse labels with accuracy. `steps_per_execution` None means STEPS_PER_EXECUTION, or one
    inside a tf.distribute strategy's scope: Keras 3.15's in-graph loop fails under MirroredStrategy."""
    import tensorflow as tf

    if steps_per_execution is None:
        steps_per_execution = 1 if tf.distribute.has_strategy() else STEPS_PER_EXECUTION
    if int(steps_per_execution) < 1:
        raise ValueError(f"steps_per_execution must be a positive integer, got {steps_per_execution}.")
    # Keyword arguments on purpose: in Keras 3 the third positional argument is loss_weights, not metrics.
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=int(steps_per_execution),
    )
    return model


def _normalisation_and_dropout(fused_layers: bool) -> tuple[type[keras.layers.Layer], type[keras.layers.Layer]]:
    """The batch-normalisation and dropout layers: by default fashion_lib.models.layers' (Keras' arithmetic, fewer
    kernels to train), or with `fused_layers=False` Keras' own, as the benchmark's baseline uses them."""
    if fused_layers:
        return layers.FusedBatchNormalization, layers.FastDropout
    return keras.layers.BatchNormalization, keras.layers.Dropout


def build_mlp(
    *,
    hidden_units: int | Sequence[int] = (512,),
    dropout_rates: float | Sequence[float] = 0.2,
    l2_factors: float | Sequence[float] = 0.001,
    activation: str = "selu",
    optimizer: str = "sgd",
    learning_rate: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    fused_layers: bool = True,
    steps_per_execution: int | None = None,
    input_shape: tuple[int, ...] = config.IMAGE_SHAPE,
) -> keras.Model:
    """A compiled MLP: Flatten, then per layer Dense (L2, no bias) -> BatchNorm -> activation -> Dropout, then softmax.

    Args:
        hidden_units: units of each hidden layer (an int means one layer).
        dropout_rates: one dropout rate for all layers, or one per layer.
        l2_factors: one L2 kernel-regularisation factor for all layers, or one per layer.
        activation: the hidden layers' activation; SELU, as in the seed report.
        optimizer, learning_rate, momentum, weight_decay: see `make_optimizer`.
        fused_layers: see `_normalisation_and_dropout`.
        steps_per_execution: training steps per call of Keras' step function; see `compile_model`.
        input_shape: shape of one image; the model takes images scaled to [0, 1].
    """
    units = [int(hidden_units)] if isinstance(hidden_units, (int, np.integer)) else [int(u) for u in hidden_units]
    if any(u <= 0 for u in units):
        raise ValueError(f"hidden_units must be positive integers, got {list(units)}.")
    dropouts = [_check_rate("dropout rate", r) for r in _per_layer("dropout_rates", dropout_rates, len(units))]
    l2s = _per_layer("l2_factors", l2_factors, len(units))
    if any(f < 0 for f in l2s):
        raise ValueError(f"l2_factors must be zero or positive, got {l2s}.")

    normalisation, dropout = _normalisation_and_dropout(fused_layers)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for index, (layer_units, rate, l2_factor) in enumerate(zip(units, dropouts, l2s, strict=True)):
        # No bias: the BatchNormalization right after has its own offset.
        x = keras.layers.Dense(
            layer_units, use_bias=False, kernel_regularizer=keras.regularizers.L2(l2_factor), name=f"dense_{index}"
        )(x)
        # Normalising before the activation is what the seed report did; it lets SGD use a larger rate.
        x = normalisation(name=f"batch_norm_{index}")(x)
        x = keras.layers.Activation(activation, name=f"{activation}_{index}")(x)
        x = dropout(rate, name=f"dropout_{index}")(x)
    outputs = keras.layers.Dense(config.NUM_CLASSES, activation="softmax", name="class_probabilities")(x)
    model = keras.Model(inputs, outputs, name="mlp")
    return compile_model(model, make_optimizer(optimizer, learning_rate, momentum, weight_decay), steps_per_execution)


def build_cnn(
    *,
    conv_blocks: int = 2,
    filters: int = 16,
    kernel_size: int = 3,
    convs_per_block: int = 1,
    dropout_rate: float = 0.1,
    dense_units: int = 0,
    dense_dropout: float = 0.0,
    augment: bool = False,
    optimizer: str = "sgd",
    learning_rate: float = 0.01,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    fused_layers: bool = True,
    steps_per_execution: int | None = None,
    input_shape: tuple[int, ...] = config.IMAGE_SHAPE,
) -> keras.Model:
    """A compiled CNN taking 28x28 images in [0, 1]: conv blocks, Flatten, optional dense head, softmax.

    Block i holds `convs_per_block` x [Conv2D(filters * 2**i, kernel_size, "same") -> BatchNorm -> ReLU],
    then MaxPooling2D(2) and Dropout(dropout_rate); the block's last ReLU runs after the pooling, which
    gives the same outputs and gradients on a quarter of the values. The head flattens the last feature
    map rather than averaging it globally: with the few filters these models afford, where a feature
    sits in the image (a collar, a sleeve) still carries information that global average pooling would
    throw away.
    With `augment`, a random shift (up to 10% each way) and a horizontal flip are applied in training
    only; Keras' random layers are inactive at inference, so predictions and saved models are unaffected.

    Args:
        conv_blocks: number of blocks, 1-4 (each halves the image).
        filters: filters of the first block; doubled in each following block.
        kernel_size: side of the square convolution kernels.
        convs_per_block: convolutions before each pooling.
        dropout_rate: dropout after each block.
        dense_units: units of a ReLU dense layer before the output; 0 means none.
        dense_dropout: dropout after that dense layer.
        augment: add training-only random shift and horizontal flip.
        optimizer, learning_rate, momentum, weight_decay: see `make_optimizer`.
        fused_layers: see `_normalisation_and_dropout`.
        steps_per_execution: training steps per call of Keras' step function; see `compile_model`.
        input_shape: shape of one image, without a channel axis.
    """
    if not 1 <= int(conv_blocks) <= MAX_CONV_BLOCKS:
        raise ValueError(
            f"conv_blocks must lie in 1-{MAX_CONV_BLOCKS} (each block halves the 28x28 image), got {conv_blocks}."
        )
    for what, value in (("filters", filters), ("kernel_size", kernel_size), ("convs_per_block", convs_per_block)):
        if int(value) < 1:
            raise ValueError(f"{what} must be a positive integer, got {value}.")
    if int(dense_units) < 0:
        raise ValueError(f"dense_units must be 0 (no dense layer) or positive, got {dense_units}.")
    dropout_rate = _check_rate("dropout_rate", dropout_rate)
    dense_dropout = _check_rate("dense_dropout", dense_dropout)

    normalisation, dropout = _normalisation_and_dropout(fused_layers)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    # Reshaping inside the model lets every model of the project take the same 28x28 arrays.
    x = keras.layers.Reshape((*tuple(input_shape), 1), name="add_channel")(inputs)
    if augment:
        x = keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", name="random_shift")(x)
        x = keras.layers.RandomFlip("horizontal", name="random_flip")(x)
    for block in range(int(conv_blocks)):
        block_filters = int(filters) * 2**block
        last = int(convs_per_block) - 1
        for conv in range(int(convs_per_block)):
            # No bias: the BatchNormalization right after has its own offset.
            x = keras.layers.Conv2D(
                block_filters, int(kernel_size), padding="same", use_bias=False, name=f"conv_{block}_{conv}"
            )(x)
            x = normalisation(name=f"batch_norm_{block}_{conv}")(x)
            if conv < last:
                x = keras.layers.ReLU(name=f"relu_{block}_{conv}")(x)
        # ReLU after the pooling: max-pooling commutes with ReLU (both are monotone), so the outputs and
        # gradients are those of ReLU-then-pool, computed on a quarter of the values.
        x = keras.layers.MaxPooling2D(2, name=f"max_pool_{block}")(x)
        x = keras.layers.ReLU(name=f"relu_{block}_{last}")(x)
        x = dropout(dropout_rate, name=f"dropout_{block}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    if int(dense_units) > 0:
        x = keras.layers.Dense(int(dense_units), activation="relu", name="dense")(x)
        x = dropout(dense_dropout, name="dense_dropout")(x)
    outputs = keras.layers.Dense(config.NUM_CLASSES, activation="softmax", name="class_probabilities")(x)
    model = keras.Model(inputs, outputs, name="cnn")
    return compile_model(model, make_optimizer(optimizer, learning_rate, momentum, weight_decay), steps_per_execution)
