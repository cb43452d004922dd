"""The report run: a profile's parameters, the four notebooks through papermill, then HTML, PDF and metrics."""

from __future__ import annotations

import os
import platform
import resource
import shutil
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from fashion_lib import config, progress
from fashion_lib.machine import machine_identity
from fashion_lib.parameters import check_profile
from fashion_lib.rendering import combine_notebooks, index_html, notebook_to_html, print_pdf, write_notebook_html
from fashion_lib.results import METRICS_FILE, read_results
from fashion_lib.storage import atomic_write_json, atomic_write_text

# The notebooks in the order they run, each under the profile section that parameterises it.
NOTEBOOKS: tuple[tuple[str, str, str], ...] = (
    ("explore", "01_explore", "Data exploration"),
    ("mlp", "02_mlp", "The MLP"),
    ("cnn", "03_cnn", "The CNN"),
    ("compare", "04_compare", "Comparison and ensembles"),
)
# Parameters the pipeline sets itself; a profile cannot.
RESERVED = {"profile", "run_dir"}
VERSIONED_PACKAGES = (
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "keras-tuner",
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "matplotlib",
    "papermill",
    "nbconvert",
)


class ProfileError(ValueError):
    """A profile name, profile file or parameter override is not valid."""


class NotebookFailed(RuntimeError):
    """A notebook raised an error while the report was running."""


@dataclass
class ReportResult:
    """What a finished report run produced."""

    report_dir: Path
    run_dir: Path
    metrics: dict[str, Any]
    pdf_note: str = ""
    timings: dict[str, float] = field(default_factory=dict)


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
    import papermill

    inspected = papermill.inspect_notebook(str(config.NOTEBOOKS_DIR / f"{notebook}.ipynb"))
    return {name: info["inferred_type_name"] for name, info in inspected.items()}


def notebook_parameters(profile: dict[str, Any], *, profile_name: str, run_dir: Path) -> dict[str, dict[str, Any]]:
    """Each notebook's papermill parameters, checked against what the notebook declares.

    Raises:
        ProfileError: a parameter no notebook declares, or a reserved one.
        ParameterError: a value the notebook cannot run with (fashion_lib.parameters says why).
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


def _kernel_name() -> str:
    """The project's kernel when registered (`make setup`), else the current interpreter's."""
    from jupyter_client.kernelspec import KernelSpecManager

    return config.KERNEL_NAME if config.KERNEL_NAME in KernelSpecManager().find_kernel_specs() else "python3"


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _replace_dir(staging: Path, target: Path) -> None:
    """Move a finished staging folder into place, replacing the previous one only now."""
    previous = target.with_name(f".{target.name}.previous")
    shutil.rmtree(previous, ignore_errors=True)
    if target.exists():
        os.replace(target, previous)
    os.replace(staging, target)
    shutil.rmtree(previous, ignore_errors=True)


def execute_notebook(notebook: str, output: Path, parameters: dict[str, Any]) -> None:
    """Run one notebook with papermill; a failing cell raises NotebookFailed naming the notebook and cell.

    The library's progress lines (search trials, training epochs) come to this terminal as the kernel
    sends them, in place of papermill's bar of executed cells.
    """
    import papermill

    try:
        with progress.relay():
            papermill.execute_notebook(
                str(config.NOTEBOOKS_DIR / f"{notebook}.ipynb"),
                str(output),
                parameters=parameters,
                kernel_name=_kernel_name(),
                progress_bar=False,
                cwd=str(config.NOTEBOOKS_DIR),
            )
    except papermill.PapermillExecutionError as error:
        raise NotebookFailed(
            f"{notebook}.ipynb failed in cell {error.exec_count} with {error.ename}: {error.evalue}. "
            f"Its executed copy, error included, is kept at {output}; earlier results are untouched."
        ) from None


def run_report(profile_name: str, overrides: list[str] | None = None, *, show_code: bool = False) -> ReportResult:
    """Run the four notebooks of a profile and render report/<profile>/ (HTML pages, PDF, metrics.json).

    Everything is written to staging folders first and moved into runs/<profile>/ and report/<profile>/
    only when every notebook succeeded, so a failed run never damages the previous results.
    """
    profile = apply_overrides(load_profile(profile_name), overrides or [])
    run_dir, report_dir = config.run_dir(profile_name), config.report_dir(profile_name)
    run_stage = run_dir.with_name(f".{profile_name}.partial")
    report_stage = report_dir.with_name(f".{profile_name}.partial")
    parameters = notebook_parameters(profile, profile_name=profile_name, run_dir=run_stage)
    for stage in (run_stage, report_stage):
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)

    timings: dict[str, float] = {}
    started = time.perf_counter()
    executed = []
    for index, (_, notebook, title) in enumerate(NOTEBOOKS, start=1):
        print(f"[{index}/{len(NOTEBOOKS)}] {notebook}: {title}", flush=True)
        output = report_stage / "notebooks" / f"{notebook}.ipynb"
        output.parent.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        execute_notebook(notebook, output, parameters[notebook])
        timings[f"{notebook}_s"] = round(time.perf_counter() - began, 1)
        print(f"    done in {timings[f'{notebook}_s']:.0f} s", flush=True)
        executed.append(output)

    print("Rendering HTML and PDF", flush=True)
    pages = {}
    for (_, notebook, title), path in zip(NOTEBOOKS, executed, strict=True):
        write_notebook_html(path, report_stage / f"{notebook}.html", title=title, show_code=show_code)
        pages[title] = f"{notebook}.html"
    pdf_name, pdf_note = _write_pdf(executed, report_stage, show_code=show_code)
    timings["total_s"] = round(time.perf_counter() - started, 1)

    metrics = read_results(run_stage) | {
        "profile": profile_name,
        "description": profile.get("description", ""),
        "seed": parameters["02_mlp"].get("seed"),
        "parameters": {
            notebook: {k: v for k, v in p.items() if k not in RESERVED} for notebook, p in parameters.items()
        },
        "timings": timings,
        # The largest resident set of any finished child process: the notebook kernels.
        "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "versions": _versions(),
        "machine": machine_identity(),
    }
    atomic_write_json(report_stage / METRICS_FILE, metrics)
    atomic_write_text(report_stage / "index.html", index_html(metrics, pages, pdf_name=pdf_name, pdf_note=pdf_note))
    _replace_dir(run_stage, run_dir)
    _replace_dir(report_stage, report_dir)
    return ReportResult(report_dir, run_dir, metrics, pdf_note, timings)


def _write_pdf(executed: list[Path], report_stage: Path, *, show_code: bool) -> tuple[str | None, str]:
    """Print the four notebooks as one PDF; without Chromium, return a note saying how to get it."""
    combined = report_stage / "notebooks" / "report.html"
    atomic_write_text(combined, notebook_to_html(combine_notebooks(executed), title="Report", show_code=show_code))
    try:
        print_pdf(combined, report_stage / "report.pdf")
    except RuntimeError as error:
        print(f"warning: {error}", flush=True)
        return None, str(error)
    return "report.pdf", ""
