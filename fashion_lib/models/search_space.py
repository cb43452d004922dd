"""The search spaces as Keras Tuner declares them: their hyperparameters, defaults and a readable table.

The hypermodels of fashion_lib.models declare the spaces; this module reads them back through Keras
Tuner's `HyperParameters` (public API only): the whole space at once, its reference configuration (every
hyperparameter at its default), a table for the notebooks, and the model a dict of values describes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import keras_tuner
import numpy as np
import pandas as pd

from fashion_lib.models import hypermodels
from fashion_lib.storage import to_builtin

HyperModel = hypermodels.MLPHyperModel | hypermodels.CNNHyperModel
HyperParameter = keras_tuner.engine.hyperparameters.HyperParameter


def declare_search_space(hypermodel: HyperModel) -> keras_tuner.HyperParameters:
    """A `HyperParameters` holding every hyperparameter of the hypermodel's space, conditional ones included.

    The builders declare each conditional hyperparameter whether or not its branch is active, so one
    pass over `builder_arguments` registers the whole space without building a model.
    """
    hp = keras_tuner.HyperParameters()
    hypermodel.builder_arguments(hp)
    return hp


def default_values(space: keras_tuner.HyperParameters) -> dict[str, Any]:
    """The space's reference configuration: every active hyperparameter at its declared default."""
    configuration = keras_tuner.HyperParameters()
    # Registering a hyperparameter sets its default when its conditions hold under the values set so far;
    # parents are declared before their conditional children, so the conditions resolve in order.
    configuration.merge(space.space)
    return dict(configuration.values)


def check_same_space(found: keras_tuner.HyperParameters, model_name: str, space: str, directory: str | Path) -> None:
    """Refuse a stored search whose hyperparameters are not those of `model_name`'s `space`.

    A reloaded search keeps the space it was started with; resuming or reading it with another space
    would mix two spaces in one table.
    """
    found_names = {parameter.name for parameter in found.space}
    expected = {
        parameter.name for parameter in declare_search_space(hypermodels.make_hypermodel(model_name, space)).space
    }
    if found_names != expected:
        raise ValueError(
            f"The search in {Path(directory) / model_name} has hyperparameters {sorted(found_names)}, which are not "
            f"those of the {space!r} space of {model_name!r} ({sorted(expected)}). Pass the space it was run "
            "with, or another directory, or overwrite=True to start afresh."
        )


def _format_number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return str(value)
    return f"{value:g}"


def _describe_values(parameter: HyperParameter) -> str:
    """A readable description of a hyperparameter's possible values: choices or a range."""
    config_ = parameter.get_config()
    kind = type(parameter).__name__
    if kind == "Choice":
        return ", ".join(_format_number(v) for v in config_["values"])
    if kind == "Boolean":
        return "False, True"
    if kind == "Fixed":
        return _format_number(config_["value"])
    text = f"{_format_number(config_['min_value'])} - {_format_number(config_['max_value'])}"
    step = config_.get("step")
    if step is not None and not (kind == "Int" and step == 1):
        text += f", step {_format_number(step)}"
    if config_.get("sampling", "linear") != "linear":
        text += f" ({config_['sampling']})"
    return text


def _describe_conditions(parameter: HyperParameter) -> str:
    """Which parent values make the hyperparameter exist; "" when it always exists."""
    parts = []
    for condition in parameter.conditions:
        values = ", ".join(_format_number(v) for v in condition.values)
        parts.append(f"{condition.name} in {{{values}}}")
    return " and ".join(parts)


def search_space_table(hypermodel: HyperModel) -> pd.DataFrame:
    """One row per hyperparameter: name, kind, values (choices or range) and condition (empty: always)."""
    rows = [
        {
            "name": parameter.name,
            "kind": type(parameter).__name__,
            "values": _describe_values(parameter),
            "condition": _describe_conditions(parameter),
        }
        for parameter in declare_search_space(hypermodel).space
    ]
    return pd.DataFrame(rows, columns=["name", "kind", "values", "condition"])


def build_from_hyperparameters(model_name: str, values: dict[str, Any], space: str = "seed") -> keras.Model:
    """Build the model that a dict of hyperparameter values (e.g. a search's best) describes, for retraining.

    Missing (None or NaN) entries are dropped, so a row of the trials table works too. Raises ValueError
    for a name the space does not have or an active hyperparameter without a value.
    """
    hypermodel = hypermodels.make_hypermodel(model_name, space)
    cleaned = {}
    for name, value in dict(values).items():
        missing = pd.isna(value)
        if isinstance(missing, (bool, np.bool_)) and missing:
            continue
        cleaned[name] = to_builtin(value)
    declared = declare_search_space(hypermodel)
    unknown = sorted(set(cleaned) - {p.name for p in declared.space})
    if unknown:
        raise ValueError(
            f"{unknown} are not hyperparameters of the {model_name!r} {space!r} search space; it has "
            f"{[p.name for p in declared.space]}. Was the search run with another space?"
        )
    for parameter in declared.space:
        if parameter.name not in cleaned:
            continue
        # A table row holds integer hyperparameters as floats (NaN forces a float column); the builders need
        # integers there, and floats where the space declares floats.
        if type(parameter).__name__ == "Float":
            cleaned[parameter.name] = float(cleaned[parameter.name])
        elif isinstance(cleaned[parameter.name], float) and cleaned[parameter.name].is_integer():
            cleaned[parameter.name] = int(cleaned[parameter.name])
    hp = keras_tuner.HyperParameters()
    hp.values.update(cleaned)
    hypermodel.builder_arguments(hp)
    missing = [p.name for p in hp.space if hp.is_active(p) and p.name not in cleaned]
    if missing:
        raise ValueError(
            f"No value for the active hyperparameters {missing} of the {model_name!r} {space!r} space: "
            "pass the complete best-hyperparameter dict of the search."
        )
    return hypermodel.build(hp)
