"""The Keras Tuner hypermodels: read hyperparameter values, call the plain builders."""

from __future__ import annotations

from typing import Any

import keras
import keras_tuner

from fashion_lib.config import MODEL_NAMES, SEARCH_SPACES, WHITENED_SPACE
from fashion_lib.models.builders import MAX_MLP_LAYERS, OPTIMIZERS, build_cnn, build_mlp, check_choice
from fashion_lib.models.whitened import adapt_whitening, build_whitened_cnn


class _SpaceHyperModel(keras_tuner.HyperModel):
    """Shared part of the hypermodels: the space name and the split into `builder_arguments` + build."""

    model_name = ""

    def __init__(self, space: str = "seed") -> None:
        self.space = check_choice("search space", space, SEARCH_SPACES)
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

    Every search starts from its space's defaults (fashion_lib.search.tuning). The seed space keeps Keras Tuner's
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

    Every search starts from its space's defaults (fashion_lib.search.tuning). The seed space keeps Keras Tuner's
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


# The whitened space's weight decay (Keras' decoupled form; about PyTorch's coupled 5e-4 at rate 0.05 and
# momentum 0.9): probe W3 of docs/frontier.md against W2, which had none.
WHITENED_WEIGHT_DECAY = 0.005


class WhitenedCNNHyperModel(_SpaceHyperModel):
    """The "whitened" CNN space (issue 27, fashion_lib.models.whitened): a frozen patch-whitening stem, then
    three blocks of two convolutions whose widths double, trained with SGD and Nesterov momentum 0.9.

        width Choice {32, 48} (the first block's filters; 48/96/192 is the default); learning_rate Float
        [0.01, 0.2] log-sampled, default 0.05. The default is what the probes of docs/frontier.md trained; 64
        first-block filters are left out because they cost 1.8 times 48's per epoch, which a final training of the
        best profile's length cannot afford within its two hours on two cores. Every model of the space has
        the weight decay WHITENED_WEIGHT_DECAY, not searched.

    The stem's kernel comes from the images a model trains on: `fit` sets it from a trial's training images
    before training, as fashion_lib.training.fit.train_model does for the final training.
    """

    model_name = "cnn"

    def builder_arguments(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        """Declare the whitened space's hyperparameters in `hp` and return `build_whitened_cnn`'s arguments."""
        width = hp.Choice("width", [32, 48], default=48)
        return {
            "widths": (width, 2 * width, 4 * width),
            "learning_rate": hp.Float("learning_rate", min_value=0.01, max_value=0.2, sampling="log", default=0.05),
            "weight_decay": WHITENED_WEIGHT_DECAY,
        }

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """Build the whitened CNN that `hp` describes, its stem still to be set from the training images."""
        return build_whitened_cnn(**self.builder_arguments(hp))

    def fit(self, hp: keras_tuner.HyperParameters, model: keras.Model, x: Any, *args: Any, **kwargs: Any) -> Any:
        """Set the stem from the trial's training images, then train as Keras Tuner does."""
        adapt_whitening(model, x)
        return super().fit(hp, model, x, *args, **kwargs)


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


def make_hypermodel(model_name: str, space: str = "seed") -> MLPHyperModel | CNNHyperModel | WhitenedCNNHyperModel:
    """The hypermodel for "mlp" or "cnn" over the "seed" or "extended" search space, or the CNN's "whitened"."""
    check_choice("model name", model_name, MODEL_NAMES)
    if space == WHITENED_SPACE:
        if model_name != "cnn":
            raise ValueError(
                f"The {WHITENED_SPACE!r} search space is the CNN's; the {model_name.upper()} has "
                f"{', '.join(s for s in SEARCH_SPACES if s != WHITENED_SPACE)}."
            )
        return WhitenedCNNHyperModel(space)
    return MLPHyperModel(space) if model_name == "mlp" else CNNHyperModel(space)
