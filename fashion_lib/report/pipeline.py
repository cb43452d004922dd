"""The report run: a profile's parameters, the four notebooks through papermill, then HTML, PDF and metrics.

`run_report` takes its steps in order: it resolves the profile (fashion_lib.report.profiles), opens the run's
staging (fashion_lib.report.staging), settles each notebook (kept from an interrupted run, reused from the latest
run, or executed through fashion_lib.report.execution), writes the metrics, pages and PDF into the staging
(fashion_lib.report.pages), and publishes it.
"""

from __future__ import annotations

import platform
import shutil
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from fashion_lib import config
from fashion_lib.report import cache, history
from fashion_lib.report.execution import peak_memory_mib, run_notebook
from fashion_lib.report.locks import profile_lock
from fashion_lib.report.pages import write_report
from fashion_lib.report.profiles import (
    NOTEBOOKS,
    ProfileError,
    apply_overrides,
    declared_parameters,
    load_profile,
    notebook_index,
    notebook_parameters,
)
from fashion_lib.report.staging import (
    Run,
    Staging,
    check_space,
    intact_page,
    now,
    publish,
    stage_dirs,
    verify_record,
)
from fashion_lib.results import METRICS_FILE, read_results

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


@dataclass
class ReportResult:
    """What a finished report run produced."""

    report_dir: Path
    run_dir: Path
    metrics: dict[str, Any]
    pdf_note: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    run_id: str = ""
    # Per notebook: its cache key and whether it "ran", was "resumed", "reused" or "kept" from an interrupted run.
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)


def run_report(
    profile_name: str,
    overrides: list[str] | None = None,
    *,
    show_code: bool = False,
    force: bool = False,
    from_notebook: str | None = None,
    fresh: bool = False,
    name: str | None = None,
    keep: int | None = None,
) -> ReportResult:
    """Run the notebooks of a profile that need it and render report/<profile>/ (HTML pages, PDF, metrics.json).

    A notebook is executed only when its cache key (source, parameters, `fashion_lib` code, package versions, data,
    what it takes from the notebooks before it) differs from that of the latest run's copy, else that copy and its
    outputs are reused. Everything is written to staging folders first and moved into runs/<profile>/ and
    report/<profile>/ only when every notebook succeeded, so a failed run never damages the previous results; the
    previous run then moves to the history. An interrupted run's staging stays: the next run of the profile keeps
    its finished notebooks and resumes the one that was cut short (its finished search trials included).

    Args:
        force: execute every notebook.
        from_notebook: execute this notebook (`02_mlp`, `02` or `mlp`) and every one after it.
        fresh: discard an interrupted run's staging instead of resuming it.
        name: the run's id in the history (default: its start time).
        keep: earlier runs of the profile to keep (default: $FASHION_KEEP_RUNS, else history.DEFAULT_KEEP).

    Raises:
        ProfileError: a bad profile, override or notebook name. RunInProgress: the profile is running elsewhere.
        NotebookFailed: a notebook raised an error.
    """
    overrides = overrides or []
    profile, parameters = _resolve_profile(profile_name, overrides)
    first_forced = 0 if force else notebook_index(from_notebook) if from_notebook else len(NOTEBOOKS)
    keep = history.default_keep() if keep is None else keep
    if keep < 0:
        raise ProfileError(f"The number of earlier runs to keep must be 0 or more, got {keep}.")

    with profile_lock(profile_name) as stale:
        if stale is not None:
            print(f"Taking over the lock of process {stale.pid} (started {stale.started}), which no longer runs.")
        started_at, started = time.time(), time.perf_counter()
        run_id = history.new_run_id(profile_name, name, started=started_at)
        staging, published = _open_staging(profile_name, fresh=fresh, show_code=show_code)
        _say_what_forcing_discards(staging, first_forced, force=force)
        run = Run(
            profile_name=profile_name,
            profile=profile,
            overrides=overrides,
            parameters=parameters,
            name=name,
            show_code=show_code,
            run_id=run_id,
            started_at=started_at,
            started=started,
            staging=staging,
            published=published,
            environment={"code": cache.code_hash(), "versions": _versions(), "data": cache.data_fingerprint()},
        )
        as_latest = _settle_notebooks(run, first_forced)
        # A run that repeats the latest one (its notebooks reused, or run again because outputs failed the check)
        # replaces it instead of pushing it into the history, so that reruns never evict real runs. --force and
        # --from ask for a new run.
        repeats = run.report_dir.is_dir() and first_forced == len(NOTEBOOKS) and as_latest
        metrics, pdf_note = write_report(run, repeats=repeats)
        publish(profile_name, staging.run_dir, staging.report_dir, keep=keep, replace_latest=repeats)
    return ReportResult(
        run.report_dir, run.run_dir, metrics, pdf_note, run.timings, run_id=run.run_id, statuses=run.statuses
    )


def _resolve_profile(profile_name: str, overrides: list[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The profile with its overrides applied, and each notebook's parameters (whose run_dir is the staging)."""
    profile = apply_overrides(load_profile(profile_name), overrides)
    run_stage, _ = stage_dirs(profile_name)
    return profile, notebook_parameters(profile, profile_name=profile_name, run_dir=run_stage)


def _open_staging(profile_name: str, *, fresh: bool, show_code: bool) -> tuple[Staging, dict[str, Any]]:
    """The run's staging, once the room it needs is checked, and the state of the profile's latest run."""
    run_stage, report_stage = stage_dirs(profile_name)
    check_space(profile_name, run_stage, report_stage, fresh=fresh)
    staging = Staging.open(run_stage, report_stage, fresh=fresh, show_code=show_code)
    run_dir, report_dir = config.run_dir(profile_name), config.report_dir(profile_name)
    published = cache.read_state(run_dir) if report_dir.is_dir() else {"notebooks": {}}
    return staging, published


def _say_what_forcing_discards(staging: Staging, first_forced: int, *, force: bool) -> None:
    """Name what --force or --from discards of an interrupted run that a plain rerun would keep."""
    forced = [notebook for _, notebook, _ in NOTEBOOKS[first_forced:]]
    finished = [notebook for notebook in forced if notebook in staging.state["notebooks"]]
    cut_short = (staging.state.get("running") or {}).get("notebook")
    parts = [f"the finished {', '.join(finished)}"] if finished else []
    if cut_short in forced and staging.partial_files:
        parts.append(f"the {len(staging.partial_files)} files {cut_short} had written (its finished search trials)")
    if parts:
        option = "--force" if force else "--from"
        print(f"{option} discards what the interrupted run would have kept: {' and '.join(parts)}.", flush=True)


def _settle_notebooks(run: Run, first_forced: int) -> bool:
    """Keep, reuse or execute each notebook in turn; notebooks from `first_forced` on are executed whatever they are.

    Returns whether each notebook, given the latest run's outputs of the ones before it, would have the latest run's
    key: then this run repeats the latest (the same notebooks, parameters, code and data).
    """
    interrupted = run.staging.state.get("running") or {}
    as_latest: list[bool] = []
    for index, (_, notebook, title) in enumerate(NOTEBOOKS):
        key = _key(run, notebook, run.staging.state["notebooks"])
        previous = run.published["notebooks"].get(notebook)
        as_latest.append(
            previous is not None and previous.get("key") == _key(run, notebook, run.published["notebooks"])
        )
        line = f"[{index + 1}/{len(NOTEBOOKS)}] {notebook}: {title}"
        damage, repair = "", False
        if index < first_forced:
            damage = _keep_interrupted(run, notebook, key, line)
            if damage is None:
                continue
            published_damage = _reuse_latest(run, notebook, key, line, interrupted)
            if published_damage is None:
                continue
            repair = bool(published_damage)
            damage = published_damage or damage
        resume = index < first_forced and interrupted.get("notebook") == notebook and interrupted["key"] == key
        _execute(run, notebook, key, line, damage=damage, resume=resume, repair=repair)
    return all(as_latest)


def _keep_interrupted(run: Run, notebook: str, key: str, line: str) -> str | None:
    """Keep what the interrupted run finished of `notebook` if it has `key` and passes the check.

    Returns None when kept, else why not: "" for another key (or none), else what failed the check.
    """
    kept = run.staging.state["notebooks"].get(notebook)
    damage = verify_record(kept, key, run.staging.run_dir, run.staging.report_dir, notebook)
    if damage is None:
        print(f"{line} — kept from the interrupted run (finished {_shown(kept['finished'])})", flush=True)
        run.statuses[notebook] = {"key": key, "status": "kept", "since": kept["finished"], "run": kept["run"]}
        run.statuses[notebook]["seconds"] = kept["seconds"]
    return damage


def _reuse_latest(run: Run, notebook: str, key: str, line: str, interrupted: dict[str, Any]) -> str | None:
    """Copy the latest run's `notebook` and its outputs into the staging if it has `key` and passes the check.

    Returns None when reused, else why not: "" for another key (or none), else what failed the check.
    """
    staging, published = run.staging, run.published
    previous = published["notebooks"].get(notebook)
    damage = verify_record(previous, key, run.run_dir, run.report_dir, notebook)
    if damage is not None:
        return damage
    staging.discard(notebook)
    if interrupted.get("notebook") == notebook:
        staging.discard_partial()
    # Recorded before the copy: a copy cut short then fails the check and is discarded next time.
    staging.state["notebooks"][notebook] = previous
    staging.save()
    cache.copy_files(run.run_dir, staging.run_dir, previous["files"])
    shutil.copy2(run.report_dir / "notebooks" / f"{notebook}.ipynb", staging.report_dir / "notebooks")
    page = f"{notebook}.html"
    if published.get("show_code") == run.show_code and intact_page(published, run.report_dir, page):
        shutil.copy2(run.report_dir / page, staging.report_dir)
    print(f"{line} — reused (unchanged since {_shown(previous['finished'])})", flush=True)
    run.statuses[notebook] = {"key": key, "status": "reused", "since": previous["finished"]}
    run.statuses[notebook] |= {"run": previous["run"], "seconds": previous["seconds"]}
    return None


def _execute(run: Run, notebook: str, key: str, line: str, *, damage: str, resume: bool, repair: bool) -> None:
    """Execute `notebook` into the staging (resuming the interrupted execution) and record what it wrote."""
    staging = run.staging
    staging.discard(notebook)
    if not resume:
        staging.discard_partial()
    if resume:
        print(f"{line} — resuming the interrupted run", flush=True)
    else:
        print(f"{line} — running again: {damage}" if damage else line, flush=True)
    staging.compose_metrics()
    before = cache.snapshot(staging.run_dir)
    # The files the interrupted execution left count as written by this one.
    before = {path: status for path, status in before.items() if path not in staging.partial_files}
    metrics_before = read_results(staging.run_dir)
    staging.state["running"] = {"notebook": notebook, "key": key, "started": now()}
    staging.save()
    values = run.parameters[notebook]
    if resume and "overwrite_search" in declared_parameters(notebook):
        # Keras Tuner then reloads the search: finished trials are kept, the one cut short runs again.
        values = values | {"overwrite_search": False}
    output = staging.report_dir / "notebooks" / f"{notebook}.ipynb"
    began = time.perf_counter()
    run_notebook(notebook, output, values)
    run.timings[f"{notebook}_s"] = round(time.perf_counter() - began, 1)
    files = cache.written_files(before, cache.snapshot(staging.run_dir))
    written = cache.metrics_written(metrics_before, read_results(staging.run_dir))
    record = {
        "key": key,
        "run": run.run_id,
        "finished": now(),
        "seconds": run.timings[f"{notebook}_s"],
        "files": files,
        "metrics": written,
        **cache.output_digests(staging.run_dir, files, output, written),
        "peak_memory_mib": peak_memory_mib(),
    }
    staging.state["notebooks"][notebook] = record
    staging.partial_files = []
    staging.state.pop("running", None)
    staging.save()
    print(f"    done in {run.timings[f'{notebook}_s']:.0f} s", flush=True)
    status = "resumed" if resume else "repaired" if repair else "ran"
    run.statuses[notebook] = {"key": key, "status": status, "since": record["finished"], "run": run.run_id}
    run.statuses[notebook]["seconds"] = run.timings[f"{notebook}_s"]


def _key(run: Run, notebook: str, upstream: dict[str, dict[str, Any]]) -> str:
    """A notebook's cache key, given the records of the notebooks before it (their outputs' digests)."""
    return cache.notebook_key(
        notebook,
        run.parameters,
        source=cache.notebook_source_hash(config.NOTEBOOKS_DIR / f"{notebook}.ipynb"),
        environment=run.environment,
        upstream_outputs={name: (upstream.get(name) or {}).get("outputs") for _, name, _ in NOTEBOOKS},
        quoted_runs=_quoted_runs(run.parameters[notebook], run.profile_name),
    )["key"]


def _quoted_runs(values: dict[str, Any], profile_name: str) -> dict[str, str]:
    """The other profile's run a notebook quotes (04's `replicate_profile`), so that a newer one reruns it."""
    quoted = values.get("replicate_profile")
    if not quoted or quoted == profile_name:
        return {}
    return {quoted: cache.quoted_metrics_digest(config.report_dir(quoted) / METRICS_FILE)}


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _shown(moment: str) -> str:
    """A recorded time as the progress lines show it."""
    return moment.replace("T", " ")
