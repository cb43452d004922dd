"""A report's profiles: profiles/<name>.yaml, the `--set` overrides, and the parameters each notebook runs with.

The `tune` command reads its search's settings from the same profiles (`search_settings`), so that a search run
by hand is the one the model's notebook would run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from fashion_lib import config
from fashion_lib.report.parameters import check_profile, declarations, notebook_defaults
from fashion_lib.search.distributed import SearchSettings

# The notebooks in the order they run, each under the profile section that parameterises it.
NOTEBOOKS: tuple[tuple[str, str, str], ...] = (
    ("explore", "01_explore", "Data exploration"),
    ("mlp", "02_mlp", "The MLP"),
    ("cnn", "03_cnn", "The CNN"),
    ("compare", "04_compare", "Comparison and ensembles"),
)
# Parameters the pipeline sets itself; a profile cannot.
RESERVED = {"profile", "run_dir"}


class ProfileError(ValueError):
    """A profile name, profile file or parameter override is not valid."""


def available_profiles() -> list[str]:
    """Names of the profiles in the repository's profiles/ folder."""
    return sorted(path.stem for path in config.PROFILES_DIR.glob("*.yaml"))


def load_profile(name: str) -> dict[str, Any]:
    """Read profiles/<name>.yaml into {"description": str, section: {parameter: value}}."""
    path = config.PROFILES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ProfileError(f"Unknown profile '{name}'. Available profiles: {', '.join(available_profiles())}.")
    try:
        profile = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ProfileError(f"{path} is not valid YAML: {error}") from None
    sections = {"description", "parameters", *(section for section, _, _ in NOTEBOOKS)}
    unknown = set(profile) - sections
    if unknown:
        raise ProfileError(f"{path}: unknown sections {sorted(unknown)}; allowed: {sorted(sections)}.")
    return profile


def apply_overrides(profile: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key=value` overrides: `seed=3` for every notebook, `cnn.max_trials=5` for one."""
    profile = {key: dict(value) if isinstance(value, dict) else value for key, value in profile.items()}
    sections = {section for section, _, _ in NOTEBOOKS}
    for override in overrides:
        key, separator, raw = override.partition("=")
        if not separator or not key:
            raise ProfileError(f"Override '{override}' is not of the form key=value (e.g. cnn.max_trials=5).")
        section, _, name = key.rpartition(".")
        section = section or "parameters"
        if section != "parameters" and section not in sections:
            raise ProfileError(f"Override '{override}': unknown notebook '{section}'; use one of {sorted(sections)}.")
        profile.setdefault(section, {})[name] = yaml.safe_load(raw)
    return profile


def declared_parameters(notebook: str) -> dict[str, str]:
    """The parameters a notebook's `parameters` cell declares, with their type names."""
    return {name: declared.type_name for name, declared in declarations(notebook).items()}


def notebook_parameters(profile: dict[str, Any], *, profile_name: str, run_dir: Path) -> dict[str, dict[str, Any]]:
    """Each notebook's papermill parameters, checked against what the notebook declares.

    Raises:
        ProfileError: a parameter no notebook declares, or a reserved one.
        ParameterError: a value the notebook cannot run with (fashion_lib.report.parameters says why).
    """
    common = profile.get("parameters", {}) or {}
    reserved = RESERVED & (set(common) | {k for s, _, _ in NOTEBOOKS for k in (profile.get(s) or {})})
    if reserved:
        raise ProfileError(f"{sorted(reserved)} are set by the report command itself; remove them from the profile.")
    declared = {notebook: declared_parameters(notebook) for _, notebook, _ in NOTEBOOKS}
    unknown_common = set(common) - set().union(*(set(d) for d in declared.values()))
    if unknown_common:
        raise ProfileError(f"Unknown parameters {sorted(unknown_common)}: no notebook declares them.")
    result = {}
    for section, notebook, _ in NOTEBOOKS:
        own = profile.get(section) or {}
        unknown = set(own) - set(declared[notebook])
        if unknown:
            raise ProfileError(
                f"Unknown parameters {sorted(unknown)} for {notebook}; it declares {sorted(declared[notebook])}."
            )
        values = {k: v for k, v in common.items() if k in declared[notebook]} | own
        result[notebook] = values | {"profile": profile_name, "run_dir": str(run_dir)}
    check_profile(profile, [(section, notebook) for section, notebook, _ in NOTEBOOKS])
    return result


def notebook_index(name: str) -> int:
    """The position (0-3) of a notebook given as `02_mlp`, `02` or `mlp`.

    Raises:
        ProfileError: no notebook has that name.
    """
    for index, (section, notebook, _) in enumerate(NOTEBOOKS):
        if name in (notebook, notebook.split("_")[0], section, f"{notebook}.ipynb"):
            return index
    raise ProfileError(f"Unknown notebook '{name}'; use one of {[notebook for _, notebook, _ in NOTEBOOKS]}.")


def changed_parameters(profile_name: str, overrides: list[str]) -> dict[str, Any]:
    """The overrides whose value differs from the profile's own (`{"compare.tsne_samples": 300}`)."""
    profile = load_profile(profile_name)
    common = profile.get("parameters") or {}
    changed: dict[str, Any] = {}
    for override in overrides:
        key, _, raw = override.partition("=")
        section, _, name = key.rpartition(".")
        own = (profile.get(section) or {}) if section else {}
        value = yaml.safe_load(raw)
        if name in own and own[name] == value or name not in own and name in common and common[name] == value:
            changed.pop(key, None)
        else:
            changed[key] = value
    return changed


def search_settings(model: str, profile_name: str, overrides: Sequence[str] = ()) -> SearchSettings:
    """The search parameters of `model` ("mlp" or "cnn") in a profile, with `key=value` overrides applied.

    The values are those the model's notebook would run with: its own defaults, then the profile's common
    `parameters:` and the model's section, then the overrides; they are checked as the report checks them.
    """
    notebooks = {section: notebook for section, notebook, _ in NOTEBOOKS}
    if model not in config.MODEL_NAMES:
        raise ValueError(f"Unknown model {model!r}; use one of {', '.join(config.MODEL_NAMES)}.")
    profile = apply_overrides(load_profile(profile_name), list(overrides))
    parameters = notebook_parameters(profile, profile_name=profile_name, run_dir=config.run_dir(profile_name))[
        notebooks[model]
    ]
    values = notebook_defaults(notebooks[model]) | parameters
    return SearchSettings(
        model=model,
        space=values["search_space"],
        max_trials=int(values["max_trials"]),
        epochs_per_trial=int(values["epochs_per_trial"]),
        num_initial_points=int(values["num_initial_points"]),
        batch_size=int(values["batch_size"]),
        seed=int(values["seed"]),
        train_subset=int(values["train_subset"]),
        validation_fraction=float(values["validation_fraction"]),
        search_subset=int(values["search_subset"]),
        search_minutes=float(values.get("search_minutes", 0.0)),
    )
