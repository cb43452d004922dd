"""Every notebook parameter checked before anything runs: one table of what each accepts, and the check.

The notebooks declare their parameters (name, type, default) in their `parameters` cell; this module
adds what a type cannot say: ranges, choices, and relations between parameters (`num_initial_points`
no more than `max_trials`, subsets no larger than the data, a `tuner_dir` that holds the model's search).
The report and tune commands check a profile with it before the first notebook starts, and each
notebook checks its own values with `check_notebook_parameters`, so a notebook run by hand gets the
same messages.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fashion_lib import config

# The training images a run can draw on: what the validation split leaves of the training set.
TRAIN_IMAGES = config.SPLIT_SIZES["train"]
TEST_IMAGES = config.SPLIT_SIZES["test"]
# numpy.random.seed takes 0 to 2**32 - 1, and Keras Tuner reads 0 as "no seed".
MAX_SEED = 2**32 - 1
# A stratified subset or split needs one image per class.
MIN_SUBSET = config.NUM_CLASSES
# The notebooks whose model a `tuner_dir` holds a search of.
MODEL_OF_NOTEBOOK = {"02_mlp": "mlp", "03_cnn": "cnn"}


class ParameterError(ValueError):
    """One or more notebook parameters have values the notebooks cannot run with."""


@dataclass(frozen=True)
class Constraint:
    """What one parameter accepts: a type and, where it matters, bounds, choices or a rule."""

    type: type
    low: float | None = None
    high: float | None = None
    # Whether the bound itself is excluded (validation_fraction lies strictly between 0 and 1).
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] = ()
    # 0 stands for "all of them" (train_subset=0), outside the range the other values must keep.
    zero_means_all: bool = False
    rule: Callable[[Any], bool] | None = None
    rule_text: str = ""
    # Why the bounds are what they are, when the name does not say.
    reason: str = ""

    def allowed(self) -> str:
        """What the parameter accepts, in words."""
        kind = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}[self.type]
        if self.choices:
            return "one of " + ", ".join(repr(choice) for choice in self.choices)
        parts = [kind]
        if self.low is not None and self.high is not None:
            parts.append(
                f"{'above' if self.low_open else 'from'} {_number(self.low)} "
                f"{'and below' if self.high_open else 'to'} {_number(self.high)}"
            )
        elif self.low is not None:
            parts.append(f"{'above' if self.low_open else 'of at least'} {_number(self.low)}")
        if self.zero_means_all:
            parts.append("or 0 for all")
        if self.rule_text:
            parts.append(self.rule_text)
        if self.reason:
            parts.append(f"({self.reason})")
        return " ".join(parts)

    def accepts(self, value: Any) -> bool:
        """Whether `value` has the right type and lies within the bounds, choices and rule."""
        if not _has_type(value, self.type):
            return False
        if self.choices:
            return value in self.choices
        if self.type in (int, float):
            if not math.isfinite(value):
                return False
            if self.zero_means_all and value == 0:
                return True
            if self.low is not None and (value <= self.low if self.low_open else value < self.low):
                return False
            if self.high is not None and (value >= self.high if self.high_open else value > self.high):
                return False
        return self.rule is None or self.rule(value)


def _number(bound: float) -> str:
    return f"{bound:,}" if isinstance(bound, int) else f"{bound:g}"


def _has_type(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


def _validation_images(fraction: float) -> int:
    """Images scikit-learn's split holds out for validation from the training set (it rounds up)."""
    return math.ceil(TRAIN_IMAGES * fraction)


def _leaves_both_sides(fraction: float) -> bool:
    held_out = _validation_images(fraction)
    return held_out >= MIN_SUBSET and TRAIN_IMAGES - held_out >= MIN_SUBSET


def _divides_one(step: float) -> bool:
    return math.isclose(1 / step, round(1 / step), abs_tol=1e-9)


def _is_folder_name(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) is not None


def parse_epoch_list(text: str) -> tuple[int, ...]:
    """ "5,10,30" -> (5, 10, 30); a ValueError unless whole numbers of at least 1, increasing, comma-separated."""
    parts = str(text).replace(" ", "").split(",")
    epochs = tuple(int(part) for part in parts) if all(part.isdigit() for part in parts) else ()
    if not epochs or min(epochs) < 1 or any(b <= a for a, b in zip(epochs, epochs[1:], strict=False)):
        raise ValueError(
            f"Epochs must be whole numbers of at least 1, increasing and separated by commas (e.g. '5,10,30'); "
            f"got {text!r}."
        )
    return epochs


def _is_epoch_list(text: str) -> bool:
    try:
        parse_epoch_list(text)
    except ValueError:
        return False
    return True


def _subset(high: int = TRAIN_IMAGES) -> Constraint:
    """A number of images drawn as a class-balanced subset: 0 for all, else one per class at least."""
    return Constraint(int, low=MIN_SUBSET, high=high, zero_means_all=True)


def _at_least(low: float, kind: type = int) -> Constraint:
    return Constraint(kind, low=low)


# What every parameter that a notebook declares accepts. A parameter means the same in every notebook
# that declares it. A test checks that every declared parameter has an entry here.
CONSTRAINTS: dict[str, Constraint] = {
    # Set by the report command; a notebook run by hand may set them.
    "profile": Constraint(
        str, rule=_is_folder_name, rule_text="usable as a folder name (letters, digits, '.', '_', '-')"
    ),
    "run_dir": Constraint(str),
    "seed": Constraint(int, low=1, high=MAX_SEED, reason="Keras Tuner reads 0 as 'no seed'"),
    "validation_fraction": Constraint(
        float,
        low=0,
        high=1,
        low_open=True,
        high_open=True,
        rule=_leaves_both_sides,
        rule_text=f"leaving at least {MIN_SUBSET} of the {TRAIN_IMAGES:,} training images on each side",
    ),
    # The MLP and the CNN.
    "train_subset": _subset(),
    "search_subset": _subset(),
    "search_space": Constraint(str, choices=config.SEARCH_SPACES),
    "max_trials": _at_least(1),
    "num_initial_points": _at_least(1),
    "epochs_per_trial": _at_least(1),
    "final_epochs": _at_least(1),
    "training_seeds": _at_least(1),
    "search_minutes": _at_least(0, float),
    "batch_size": _at_least(1),
    "constant_epochs": _at_least(0),
    "decay_rate": _at_least(0, float),
    "patience": _at_least(0),
    "final_schedule": Constraint(str, choices=config.SCHEDULES),
    "augment_shift": Constraint(int, low=0, high=8, reason="pixels each way; a larger shift leaves little of the item"),
    "augment_flip": Constraint(bool),
    "augment_erase": Constraint(float, low=0, high=1, reason="a probability"),
    "overwrite_search": Constraint(bool),
    "tuner_dir": Constraint(str),
    "mirrored": Constraint(bool),
    # The CNN's architecture study (fashion_lib.analysis.architecture_study).
    "study_architectures": Constraint(bool),
    "study_epochs": _at_least(1),
    "study_subset": _subset(),
    "study_ranking_epochs": Constraint(
        str, rule=_is_epoch_list, rule_text="of whole epochs, increasing and separated by commas (e.g. '5,10,30')"
    ),
    # The comparison.
    "bootstrap_resamples": _at_least(1),
    "confidence_level": Constraint(float, low=0, high=1, low_open=True, high_open=True),
    "vote_weight_step": Constraint(
        float, low=0, high=0.5, low_open=True, rule=_divides_one, rule_text="that divides 1 into whole parts"
    ),
    "calibration_bins": _at_least(1),
    "baseline_train_subset": _subset(),
    "baseline_max_iter": _at_least(1),
    "gradcam_examples": Constraint(int, low=1, high=16, reason="one figure column each; more do not fit a page"),
    "tsne_samples": Constraint(
        int,
        low=math.floor(config.TSNE_PERPLEXITY) + 1,
        high=TEST_IMAGES,
        reason=f"t-SNE needs more images than its perplexity, {config.TSNE_PERPLEXITY:g}; the test set has "
        f"{TEST_IMAGES:,}",
    ),
    "compare_search_strategies": Constraint(bool),
    "strategy_model": Constraint(str, choices=config.MODEL_NAMES),
    "strategy_train_subset": _subset(),
    "strategy_epochs_per_trial": _at_least(1),
    "strategy_batch_size": _at_least(1),
    "replicate_profile": Constraint(
        str, rule=lambda name: name == "" or _is_folder_name(name), rule_text="naming a profile, or empty for none"
    ),
}


@dataclass(frozen=True)
class Problem:
    """One refused value: which notebook, which parameter, the value, and what is allowed."""

    notebook: str
    name: str
    value: Any
    allowed: str

    def describe(self, key: str | None = None) -> str:
        """`key = value: allowed`, with `key` the name the user set it by (default: the parameter's name)."""
        return f"{key or self.name} = {self.value!r} is not allowed: {self.allowed}"


def _images_for_training(values: Mapping[str, Any]) -> int:
    return TRAIN_IMAGES - _validation_images(values["validation_fraction"])


def _subset_fits(name: str) -> Callable[[Mapping[str, Any], str], str | None]:
    """A relation: the subset `name` is no larger than the training images the validation split leaves."""

    def check(values: Mapping[str, Any], notebook: str) -> str | None:
        available = _images_for_training(values)
        if values[name] > available:
            return (
                f"at most the {available:,} training images that validation_fraction="
                f"{values['validation_fraction']} leaves (or 0 for all)"
            )
        return None

    return check


def _within_train_subset(name: str) -> Callable[[Mapping[str, Any], str], str | None]:
    """A relation: the subset `name` (search_subset, study_subset) is drawn from train_subset's images."""

    def check(values: Mapping[str, Any], notebook: str) -> str | None:
        available = values["train_subset"] or _images_for_training(values)
        if values[name] > available:
            return f"at most train_subset's {available:,} images (or 0 for all of them)"
        return None

    return check


def _batch_fits(subset: str, batch: str) -> Callable[[Mapping[str, Any], str], str | None]:
    """A relation: the batch `batch` holds no more images than the training images it batches (`subset`).

    For a model notebook the smallest such set is the one each search trial trains on (search_subset), if set.
    """

    def check(values: Mapping[str, Any], notebook: str) -> str | None:
        images, source = values[subset] or _images_for_training(values), subset
        if values.get("search_subset") and values["search_subset"] < images:
            images, source = values["search_subset"], "search_subset"
        if values[batch] > images:
            return f"at most the {images:,} images of {source} that it batches"
        return None

    return check


def _initial_points_fit(values: Mapping[str, Any], notebook: str) -> str | None:
    if values["num_initial_points"] > values["max_trials"]:
        return f"at most max_trials ({values['max_trials']}): the initial points are trials of the search"
    return None


def _space_of_model(values: Mapping[str, Any], notebook: str) -> str | None:
    if values["search_space"] == config.WHITENED_SPACE and MODEL_OF_NOTEBOOK[notebook] != "cnn":
        others = ", ".join(repr(space) for space in config.SEARCH_SPACES if space != config.WHITENED_SPACE)
        return f"one of {others}: the {config.WHITENED_SPACE!r} space is the CNN's"
    return None


def tuner_path(tuner_dir: str) -> Path:
    """Where a notebook reads `tuner_dir` from: a relative path starts at the project root, where `tune` writes."""
    return config.PROJECT_ROOT / tuner_dir


def _tuner_dir_holds_search(values: Mapping[str, Any], notebook: str) -> str | None:
    if not values["tuner_dir"]:
        return None
    model = MODEL_OF_NOTEBOOK[notebook]
    oracle = tuner_path(values["tuner_dir"]) / model / "oracle.json"
    try:
        json.loads(oracle.read_text())
    except (OSError, ValueError):
        return (
            f"empty, or a folder holding a finished {model} search ({oracle} is missing or unreadable; "
            f"run `python -m fashion_lib tune --model {model}` first)"
        )
    return None


# Relations between parameters of one notebook: (the parameter a problem is reported on, the parameters
# the relation reads, the check returning what is allowed when the values break it).
RELATIONS: tuple[tuple[str, tuple[str, ...], Callable[[Mapping[str, Any], str], str | None]], ...] = (
    ("num_initial_points", ("num_initial_points", "max_trials"), _initial_points_fit),
    ("search_space", ("search_space",), _space_of_model),
    ("train_subset", ("train_subset", "validation_fraction"), _subset_fits("train_subset")),
    ("search_subset", ("search_subset", "train_subset", "validation_fraction"), _within_train_subset("search_subset")),
    ("study_subset", ("study_subset", "train_subset", "validation_fraction"), _within_train_subset("study_subset")),
    ("baseline_train_subset", ("baseline_train_subset", "validation_fraction"), _subset_fits("baseline_train_subset")),
    ("strategy_train_subset", ("strategy_train_subset", "validation_fraction"), _subset_fits("strategy_train_subset")),
    ("tuner_dir", ("tuner_dir",), _tuner_dir_holds_search),
    (
        "batch_size",
        ("batch_size", "train_subset", "search_subset", "validation_fraction"),
        _batch_fits("train_subset", "batch_size"),
    ),
    (
        "strategy_batch_size",
        ("strategy_batch_size", "strategy_train_subset", "validation_fraction"),
        _batch_fits("strategy_train_subset", "strategy_batch_size"),
    ),
)


@dataclass(frozen=True)
class Declared:
    """One parameter as a notebook's `parameters` cell declares it: `name: type_name = default  # help`."""

    type_name: str
    default: Any


def declarations(notebook: str) -> dict[str, Declared]:
    """The parameters of a notebook's `parameters` cell, in order, read with `ast` (papermill reads the same).

    Read from the notebook's JSON directly rather than through papermill, whose import (nbformat, jsonschema)
    costs seconds: a command refuses a bad value before it imports anything heavy.
    """
    path = config.NOTEBOOKS_DIR / f"{notebook}.ipynb"
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    tagged = [cell for cell in cells if "parameters" in cell.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"{path} must have exactly one cell tagged 'parameters', found {len(tagged)}.")
    source = tagged[0]["source"]
    declared = {}
    for statement in ast.parse("".join(source) if isinstance(source, list) else source).body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and statement.value:
            type_name = ast.unparse(statement.annotation)
            declared[statement.target.id] = Declared(type_name, ast.literal_eval(statement.value))
    return declared


def notebook_defaults(notebook: str) -> dict[str, Any]:
    """The parameters a notebook's `parameters` cell declares, with their default values."""
    return {name: declared.default for name, declared in declarations(notebook).items()}


def find_problems(notebook: str, values: Mapping[str, Any]) -> list[Problem]:
    """Every value of `values` (a notebook's full set of parameters) that the notebook cannot run with.

    A relation is checked only when each value it reads is valid on its own, so that one bad value
    gives one problem.
    """
    problems = []
    for name, value in values.items():
        constraint = CONSTRAINTS.get(name)
        # A parameter without an entry is left to its notebook; tests/test_parameters.py keeps the table complete.
        if constraint is not None and not constraint.accepts(value):
            problems.append(Problem(notebook, name, value, constraint.allowed()))
    refused = {problem.name for problem in problems}
    for name, reads, relation in RELATIONS:
        if set(reads) <= set(values) and not set(reads) & refused:
            allowed = relation(values, notebook)
            if allowed:
                problems.append(Problem(notebook, name, values[name], allowed))
    return problems


def describe_problems(lines: list[str]) -> str:
    """One line for one problem; a count and one indented line each for several."""
    if len(lines) == 1:
        return f"{lines[0]}."
    return f"{len(lines)} parameter values are not allowed (nothing was run):\n" + "\n".join(
        f"  {line}" for line in lines
    )


def check_notebook_parameters(notebook: str, namespace: Mapping[str, Any]) -> None:
    """Refuse, with a ParameterError naming each bad value, the parameters a notebook runs with.

    Called in each notebook's first cell after `parameters` with `globals()`, so that a notebook run by
    hand (or with papermill's own command line) is checked as the report command checks it.
    """
    values = {name: namespace[name] for name in notebook_defaults(notebook) if name in namespace}
    problems = find_problems(notebook, values)
    if problems:
        raise ParameterError(describe_problems([problem.describe() for problem in problems]))


def check_profile(profile: Mapping[str, Any], notebooks: Sequence[tuple[str, str]]) -> None:
    """Refuse, with one ParameterError listing every bad value, a profile that a notebook cannot run with.

    Args:
        profile: the profile with its overrides applied: common values under "parameters", each notebook's
            own under its section.
        notebooks: (section, notebook) pairs, e.g. ("mlp", "02_mlp").
    """
    common = profile.get("parameters") or {}
    lines = []
    for section, notebook in notebooks:
        own = profile.get(section) or {}
        defaults = notebook_defaults(notebook)
        values = defaults | {k: v for k, v in common.items() if k in defaults} | dict(own)
        for problem in find_problems(notebook, values):
            # Name the value as the user set it: `mlp.final_epochs` for a notebook's own, `seed` for a common one.
            common_value = problem.name in common and problem.name not in own
            lines.append(problem.describe(problem.name if common_value else f"{section}.{problem.name}"))
    if lines:
        raise ParameterError(describe_problems(list(dict.fromkeys(lines))))
