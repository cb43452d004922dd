"""Model builders (plain arguments in, compiled Keras model out) and the Keras Tuner hypermodels on top.

The plain builders `build_mlp` and `build_cnn` are what final training and tests use. The hypermodels
only read hyperparameter values and call those builders, so a tuned model and a retrained one are built
by the same code. Batch normalisation and dropout come from `fashion_lib.layers`: Keras' layers, trained
through fewer TensorFlow kernels. Two search spaces exist per model:

- "seed": the search space of the seed report, kept as it was so that its results can be reproduced.
- "extended": a wider space meant to reach higher accuracy for about the same compute per trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import keras_tuner
import numpy as np

from fashion_lib import config, layers
from fashion_lib.config import MODEL_NAMES, SEARCH_SPACES

OPTIMIZERS = ("sgd", "adam", "adamw")

# The MLP search spaces go up to this many hidden layers; per-layer hyperparameters are declared for
# every possible layer and made conditional on `num_layers`, so they exist only when the layer does.
MAX_MLP_LAYERS = 3
# Each CNN block halves the image (28 -> 14 -> 7 -> 3 -> 1), so a fifth block would have nothing to pool.
MAX_CONV_BLOCKS = 4


def _check_choice(what: str, value: Any, allowed: Sequence[Any]) -> Any:
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
    name = _check_choice("optimizer", name.lower(), OPTIMIZERS)
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


def _compile(model: keras.Model, optimizer: keras.optimizers.Optimizer, steps_per_execution: int | None) -> keras.Model:
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
    """The batch-normalisation and dropout layers: by default fashion_lib.layers' (Keras' arithmetic, fewer
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
        steps_per_execution: training steps per call of Keras' step function; see `_compile`.
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
    return _compile(model, make_optimizer(optimizer, learning_rate, momentum, weight_decay), steps_per_execution)


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
        steps_per_execution: training steps per call of Keras' step function; see `_compile`.
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
    return _compile(model, make_optimizer(optimizer, learning_rate, momentum, weight_decay), steps_per_execution)


class _SpaceHyperModel(keras_tuner.HyperModel):
    """Shared part of the hypermodels: the space name and the split into `builder_arguments` + build."""

    model_name = ""

    def __init__(self, space: str = "seed") -> None:
        self.space = _check_choice("search space", space, SEARCH_SPACES)
        super().__init__(name=f"{self.model_name}_{space}")

    def builder_arguments(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        """Declare this space's hyperparameters in `hp` and return the plain builder's arguments."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(space={self.space!r})"


class MLPHyperModel(_SpaceHyperModel):
    """The MLP search spaces; `build` reads hyperparameter values and calls `build_mlp`.

    "seed" (the seed report's space, SGD with momentum, SELU):
        num_layers Int 1-3; per layer i (0-based, existing only when num_layers > i): units_i Choice
        {256, 512, 1024}, l2_i Choice {0.01, 0.001}, dropout_i Float [0.1, 0.3]; learning_rate Choice
        {0.01, 0.001}; momentum Float [0.5, 0.9].
    "extended" (same layer sizes, so the same compute per epoch, more freedom where accuracy was lost):
        num_layers Int 1-3; units_i as above; l2_i Choice {0, 0.0001, 0.001} (0.01 over-regularised);
        dropout_i Float [0, 0.5]; optimizer Choice {sgd, adam, adamw}; learning_rate Float [0.0003, 0.03]
        log-sampled; momentum Float [0.5, 0.95] only for sgd; weight_decay Float [0.0001, 0.1] log-sampled,
        only for adamw.

    Every search starts from its space's defaults (fashion_lib.tuning). The seed space keeps Keras Tuner's
    plain defaults (the smallest values and first choices: the cheapest model). The extended space's
    defaults are a reference configuration that trained well in longer hand-run trainings: two layers of
    1024 units, dropout 0.3, no L2, Adam at 0.001.
    """

    model_name = "mlp"

    def builder_arguments(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        """Declare the MLP hyperparameters in `hp` and return `build_mlp`'s arguments."""
        extended = self.space == "extended"
        num_layers = hp.Int("num_layers", min_value=1, max_value=MAX_MLP_LAYERS, default=2 if extended else None)
        units, l2_factors, dropout_rates = [], [], []
        for index in range(MAX_MLP_LAYERS):
            # Declared for every possible layer so the oracle sees the whole space; the conditional scope
            # makes layer i's values exist (and be tuned) only in trials that have layer i.
            with hp.conditional_scope("num_layers", list(range(index + 1, MAX_MLP_LAYERS + 1))):
                layer_units = hp.Choice(f"units_{index}", [256, 512, 1024], default=1024 if extended else None)
                if extended:
                    l2_factor = hp.Choice(f"l2_{index}", [0.0, 0.0001, 0.001])
                    dropout = hp.Float(f"dropout_{index}", min_value=0.0, max_value=0.5, default=0.3)
                else:
                    l2_factor = hp.Choice(f"l2_{index}", [0.01, 0.001])
                    dropout = hp.Float(f"dropout_{index}", min_value=0.1, max_value=0.3)
            if index < num_layers:
                units.append(layer_units)
                l2_factors.append(l2_factor)
                dropout_rates.append(dropout)
        arguments: dict[str, Any] = {
            "hidden_units": tuple(units),
            "l2_factors": tuple(l2_factors),
            "dropout_rates": tuple(dropout_rates),
        }
        if extended:
            arguments.update(_optimizer_arguments(hp, momentum_range=(0.5, 0.95)))
        else:
            arguments["optimizer"] = "sgd"
            arguments["learning_rate"] = hp.Choice("learning_rate", [0.01, 0.001])
            arguments["momentum"] = hp.Float("momentum", min_value=0.5, max_value=0.9)
        return arguments

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """Build the MLP that `hp` describes."""
        return build_mlp(**self.builder_arguments(hp))


class CNNHyperModel(_SpaceHyperModel):
    """The CNN search spaces; `build` reads hyperparameter values and calls `build_cnn`.

    "seed" (the seed report's space, plain SGD without momentum, one conv per block, no dense head):
        conv_blocks Int 1-3; filters Choice {8, 16} (doubled each block); dropout Float [0.0, 0.2];
        learning_rate Choice {0.01, 0.001}.
    "extended" (aimed at accuracy while keeping every model in it affordable on two CPU cores):
        conv_blocks Int 2-3; filters Choice {16, 32}; convs_per_block Choice {1, 2} only when filters is
        16; dropout Float [0.0, 0.4]; dense_units Choice {0, 128, 256} with dense_dropout Float [0.0, 0.5]
        when there is a dense layer; augment Boolean; optimizer Choice {sgd, adam, adamw}; learning_rate
        Float [0.0003, 0.03] log-sampled; momentum Float [0.0, 0.95] only for sgd; weight_decay Float
        [0.0001, 0.1] log-sampled, only for adamw. The kernel stays 3x3: two stacked 3x3 convolutions
        (convs_per_block=2) see a 5x5 neighbourhood for 18/25 of a 5x5 kernel's cost. Two convolutions per
        block with 32 first-block filters are left out: they cost up to 29 M multiply-adds per image, four
        times the largest model here (32/64/128 filters, one convolution per block, about 7.5 M), too much
        for a training on a couple of CPU cores.

    Every search starts from its space's defaults (fashion_lib.tuning). The seed space keeps Keras Tuner's
    plain defaults (one block of 8 filters: the cheapest model). The extended space's defaults are a
    reference configuration that trained well in longer hand-run trainings: three blocks of 32/64/128
    filters, dropout 0.15, a dense layer of 256 units with dropout 0.3, no augmentation, Adam at 0.001 — the
    largest model of the space, which short random trials seldom draw.
    """

    model_name = "cnn"

    def builder_arguments(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        """Declare the CNN hyperparameters in `hp` and return `build_cnn`'s arguments."""
        if self.space == "seed":
            return {
                "conv_blocks": hp.Int("conv_blocks", min_value=1, max_value=3),
                "filters": hp.Choice("filters", [8, 16]),
                "dropout_rate": hp.Float("dropout", min_value=0.0, max_value=0.2),
                "learning_rate": hp.Choice("learning_rate", [0.01, 0.001]),
                "optimizer": "sgd",
            }
        arguments: dict[str, Any] = {
            "conv_blocks": hp.Int("conv_blocks", min_value=2, max_value=3, default=3),
            "filters": hp.Choice("filters", [16, 32], default=32),
            "dropout_rate": hp.Float("dropout", min_value=0.0, max_value=0.4, default=0.15),
            "dense_units": hp.Choice("dense_units", [0, 128, 256], default=256),
        }
        with hp.conditional_scope("filters", [16]):
            convs_per_block = hp.Choice("convs_per_block", [1, 2])
        arguments["convs_per_block"] = convs_per_block if arguments["filters"] == 16 else 1
        with hp.conditional_scope("dense_units", [128, 256]):
            dense_dropout = hp.Float("dense_dropout", min_value=0.0, max_value=0.5, default=0.3)
        arguments["dense_dropout"] = dense_dropout if arguments["dense_units"] > 0 else 0.0
        arguments["augment"] = hp.Boolean("augment")
        arguments.update(_optimizer_arguments(hp, momentum_range=(0.0, 0.95)))
        return arguments

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """Build the CNN that `hp` describes."""
        return build_cnn(**self.builder_arguments(hp))


def _optimizer_arguments(hp: keras_tuner.HyperParameters, *, momentum_range: tuple[float, float]) -> dict[str, Any]:
    """The extended spaces' optimizer hyperparameters: which optimizer, its rate, and its own extras."""
    optimizer = hp.Choice("optimizer", list(OPTIMIZERS), default="adam")
    # One log-sampled rate serves all three optimizers: SGD prefers the top of the range, Adam the bottom.
    learning_rate = hp.Float("learning_rate", min_value=0.0003, max_value=0.03, sampling="log", default=0.001)
    with hp.conditional_scope("optimizer", ["sgd"]):
        momentum = hp.Float("momentum", min_value=momentum_range[0], max_value=momentum_range[1], default=0.9)
    with hp.conditional_scope("optimizer", ["adamw"]):
        weight_decay = hp.Float("weight_decay", min_value=0.0001, max_value=0.1, sampling="log")
    return {
        "optimizer": optimizer,
        "learning_rate": learning_rate,
        "momentum": momentum if optimizer == "sgd" else 0.0,
        "weight_decay": weight_decay if optimizer == "adamw" else 0.0,
    }


def make_hypermodel(model_name: str, space: str = "seed") -> MLPHyperModel | CNNHyperModel:
    """The hypermodel for "mlp" or "cnn" over the "seed" or "extended" search space."""
    _check_choice("model name", model_name, MODEL_NAMES)
    return MLPHyperModel(space) if model_name == "mlp" else CNNHyperModel(space)
