"""The report run: a profile's parameters, the four notebooks through papermill, then HTML, PDF and metrics."""

from __future__ import annotations

import platform
import shutil
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from fashion_lib import config, storage
from fashion_lib.machine import machine_identity
from fashion_lib.report import cache, history
from fashion_lib.report.execution import peak_memory_mib, run_notebook
from fashion_lib.report.locks import profile_lock
from fashion_lib.report.profiles import (
    NOTEBOOKS,
    RESERVED,
    ProfileError,
    apply_overrides,
    changed_parameters,
    declared_parameters,
    load_profile,
    notebook_index,
    notebook_parameters,
)
from fashion_lib.report.staging import Staging, check_space, intact_page, publish, verify_record
from fashion_lib.results import METRICS_FILE, read_results
from fashion_lib.storage import atomic_write_json, atomic_write_text

# What nbconvert's HTML template (its style sheets) adds to each page, measured: about 277 kB.
PAGE_TEMPLATE_BYTES = 300_000
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


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _quoted_runs(values: dict[str, Any], profile_name: str) -> dict[str, str]:
    """The other profile's run a notebook quotes (04's `replicate_profile`), so that a newer one reruns it."""
    quoted = values.get("replicate_profile")
    if not quoted or quoted == profile_name:
        return {}
    return {quoted: cache.quoted_metrics_digest(config.report_dir(quoted) / METRICS_FILE)}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _shown(moment: str) -> str:
    """A recorded time as the progress lines show it."""
    return moment.replace("T", " ")


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
    profile = apply_overrides(load_profile(profile_name), overrides)
    run_dir, report_dir = config.run_dir(profile_name), config.report_dir(profile_name)
    run_stage = run_dir.with_name(f".{profile_name}.partial")
    report_stage = report_dir.with_name(f".{profile_name}.partial")
    parameters = notebook_parameters(profile, profile_name=profile_name, run_dir=run_stage)
    first_forced = 0 if force else notebook_index(from_notebook) if from_notebook else len(NOTEBOOKS)
    keep = history.default_keep() if keep is None else keep
    if keep < 0:
        raise ProfileError(f"The number of earlier runs to keep must be 0 or more, got {keep}.")

    with profile_lock(profile_name) as stale:
        if stale is not None:
            print(f"Taking over the lock of process {stale.pid} (started {stale.started}), which no longer runs.")
        started_at, started = time.time(), time.perf_counter()
        run_id = history.new_run_id(profile_name, name, started=started_at)
        check_space(profile_name, run_stage, report_stage, fresh=fresh)
        staging = Staging.open(run_stage, report_stage, fresh=fresh, show_code=show_code)
        published = cache.read_state(run_dir) if report_dir.is_dir() else {"notebooks": {}}
        _say_what_forcing_discards(staging, first_forced, force=force)
        environment = {"code": cache.code_hash(), "versions": _versions(), "data": cache.data_fingerprint()}
        interrupted = staging.state.get("running") or {}

        timings: dict[str, float] = {}
        statuses: dict[str, dict[str, Any]] = {}
        # Whether each notebook, given the latest run's outputs of the ones before it, would have the latest run's
        # key: then this run repeats the latest (the same notebooks, parameters, code and data).
        as_latest: list[bool] = []
        for index, (_, notebook, title) in enumerate(NOTEBOOKS):
            settled = staging.state["notebooks"]
            key = _key(notebook, parameters, environment, settled, profile_name)
            previous = published["notebooks"].get(notebook)
            as_latest.append(
                previous is not None
                and previous.get("key") == _key(notebook, parameters, environment, published["notebooks"], profile_name)
            )
            line = f"[{index + 1}/{len(NOTEBOOKS)}] {notebook}: {title}"
            kept, damage = settled.get(notebook), ""
            if index < first_forced:
                damage = verify_record(kept, key, run_stage, report_stage, notebook)
                if damage is None:
                    print(f"{line} — kept from the interrupted run (finished {_shown(kept['finished'])})", flush=True)
                    statuses[notebook] = {"key": key, "status": "kept", "since": kept["finished"], "run": kept["run"]}
                    statuses[notebook]["seconds"] = kept["seconds"]
                    continue
            repair = False
            if index < first_forced:
                published_damage = verify_record(previous, key, run_dir, report_dir, notebook)
                if published_damage is None:
                    staging.discard(notebook)
                    if interrupted.get("notebook") == notebook:
                        staging.discard_partial()
                    # Recorded before the copy: a copy cut short then fails the check and is discarded next time.
                    settled[notebook] = previous
                    staging.save()
                    cache.copy_files(run_dir, run_stage, previous["files"])
                    shutil.copy2(report_dir / "notebooks" / f"{notebook}.ipynb", report_stage / "notebooks")
                    page = f"{notebook}.html"
                    if published.get("show_code") == show_code and intact_page(published, report_dir, page):
                        shutil.copy2(report_dir / page, report_stage)
                    print(f"{line} — reused (unchanged since {_shown(previous['finished'])})", flush=True)
                    statuses[notebook] = {"key": key, "status": "reused", "since": previous["finished"]}
                    statuses[notebook] |= {"run": previous["run"], "seconds": previous["seconds"]}
                    continue
                repair = bool(published_damage)
                damage = published_damage or damage

            resume = index < first_forced and interrupted.get("notebook") == notebook and interrupted["key"] == key
            staging.discard(notebook)
            if not resume:
                staging.discard_partial()
            if resume:
                print(f"{line} — resuming the interrupted run", flush=True)
            else:
                print(f"{line} — running again: {damage}" if damage else line, flush=True)
            staging.compose_metrics()
            before = cache.snapshot(run_stage)
            # The files the interrupted execution left count as written by this one.
            before = {path: status for path, status in before.items() if path not in staging.partial_files}
            metrics_before = read_results(run_stage)
            staging.state["running"] = {"notebook": notebook, "key": key, "started": _now()}
            staging.save()
            values = parameters[notebook]
            if resume and "overwrite_search" in declared_parameters(notebook):
                # Keras Tuner then reloads the search: finished trials are kept, the one cut short runs again.
                values = values | {"overwrite_search": False}
            output = report_stage / "notebooks" / f"{notebook}.ipynb"
            began = time.perf_counter()
            run_notebook(notebook, output, values)
            timings[f"{notebook}_s"] = round(time.perf_counter() - began, 1)
            files = cache.written_files(before, cache.snapshot(run_stage))
            written = cache.metrics_written(metrics_before, read_results(run_stage))
            settled[notebook] = {
                "key": key,
                "run": run_id,
                "finished": _now(),
                "seconds": timings[f"{notebook}_s"],
                "files": files,
                "metrics": written,
                **cache.output_digests(run_stage, files, output, written),
                "peak_memory_mib": peak_memory_mib(),
            }
            staging.partial_files = []
            staging.state.pop("running", None)
            staging.save()
            print(f"    done in {timings[f'{notebook}_s']:.0f} s", flush=True)
            status = "resumed" if resume else "repaired" if repair else "ran"
            statuses[notebook] = {"key": key, "status": status, "since": settled[notebook]["finished"], "run": run_id}
            statuses[notebook]["seconds"] = timings[f"{notebook}_s"]

        kinds = {status["status"] for status in statuses.values()}
        all_reused = kinds == {"reused"}
        # A run that repeats the latest one (its notebooks reused, or run again because outputs failed the check)
        # replaces it instead of pushing it into the history, so that reruns never evict real runs. --force and
        # --from ask for a new run.
        repeats = report_dir.is_dir() and first_forced == len(NOTEBOOKS) and all(as_latest)
        unchanged = _published_metrics(published) if all_reused and repeats else None
        try:
            from fashion_lib.report.rendering import index_html

            pages = _render_pages(staging, show_code=show_code)
            results = staging.compose_metrics()
            if unchanged is not None:
                metrics, run_id = unchanged, unchanged["run"]["id"]
                print(f"Nothing changed since run {run_id}: its outputs passed the check and it stays the latest run.")
            else:
                metrics = results | {
                    "profile": profile_name,
                    "description": profile.get("description", ""),
                    "seed": parameters["02_mlp"].get("seed"),
                    "parameters": {
                        notebook: {k: v for k, v in p.items() if k not in RESERVED}
                        for notebook, p in parameters.items()
                    },
                    "run": {
                        "id": run_id,
                        "name": name,
                        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started_at)),
                        "finished": _now(),
                        "overrides": overrides,
                        "changed_parameters": changed_parameters(profile_name, overrides),
                    },
                    "cache": environment | {"notebooks": statuses},
                    "timings": timings,
                    # Reused notebooks' kernels ran in an earlier run: their peak, measured there, counts too.
                    "peak_memory_mib": max(
                        [
                            peak_memory_mib(),
                            *(r.get("peak_memory_mib", 0.0) for r in staging.state["notebooks"].values()),
                        ]
                    ),
                    "versions": environment["versions"],
                    "machine": machine_identity(),
                }
                if repeats:
                    why = "whose outputs failed the check" if "repaired" in kinds else "which it repeats"
                    print(
                        f"Run {run_id} replaces run {history.latest_run_id(profile_name)}, {why}: same notebooks, "
                        "parameters, code and data, so the history gets no second copy of it."
                    )
            # The PDF's first page states the findings, so it is printed from the composed metrics; total_s still
            # counts the printing, as `timings` is the dict the metrics hold.
            pdf_name, pdf_note = _pdf(staging, published, report_dir, metrics, show_code=show_code, reuse=all_reused)
            timings["total_s"] = round(time.perf_counter() - started, 1)
            atomic_write_json(report_stage / METRICS_FILE, metrics)
            atomic_write_text(
                report_stage / "index.html", index_html(metrics, pages, pdf_name=pdf_name, pdf_note=pdf_note)
            )
            staging.state["published"] = {
                "metrics": metrics,
                "pages": {page: cache.file_digest(report_stage / page) for page in [*pages.values(), pdf_name] if page},
            }
            staging.save()
        except OSError:
            # Pages are rendered again by the next run: what a full disk cut short goes, the notebooks stay.
            staging.remove_pages()
            raise
        publish(profile_name, run_stage, report_stage, keep=keep, replace_latest=repeats)
    return ReportResult(report_dir, run_dir, metrics, pdf_note, timings, run_id=run_id, statuses=statuses)


def _key(
    notebook: str,
    parameters: dict[str, dict[str, Any]],
    environment: dict[str, Any],
    upstream: dict[str, dict[str, Any]],
    profile_name: str,
) -> str:
    """A notebook's cache key, given the records of the notebooks before it (their outputs' digests)."""
    return cache.notebook_key(
        notebook,
        parameters,
        source=cache.notebook_source_hash(config.NOTEBOOKS_DIR / f"{notebook}.ipynb"),
        environment=environment,
        upstream_outputs={name: (upstream.get(name) or {}).get("outputs") for _, name, _ in NOTEBOOKS},
        quoted_runs=_quoted_runs(parameters[notebook], profile_name),
    )["key"]


def _published_metrics(published: dict[str, Any]) -> dict[str, Any] | None:
    """The latest run's metrics as it published them, kept in its state file, or None if that copy is missing."""
    metrics = (published.get("published") or {}).get("metrics")
    return metrics if isinstance(metrics, dict) and (metrics.get("run") or {}).get("id") else None


def _render_pages(staging: Staging, *, show_code: bool) -> dict[str, str]:
    """Render the notebook pages the staging lacks (after checking the room they need); returns title -> page."""
    from fashion_lib.report.rendering import write_notebook_html

    print("Rendering HTML and PDF", flush=True)
    executed = [staging.report_dir / "notebooks" / f"{notebook}.ipynb" for _, notebook, _ in NOTEBOOKS]
    # Each page holds about its notebook's size (the figures embedded) and nbconvert's template; the combined page
    # and the PDF take as much again.
    notebooks = sum(path.stat().st_size for path in executed)
    need = 3 * notebooks + (len(executed) + 1) * PAGE_TEMPLATE_BYTES
    storage.check_free_space({staging.report_dir: need}, what="the report's pages")
    pages = {}
    for (_, notebook, title), path in zip(NOTEBOOKS, executed, strict=True):
        page = staging.report_dir / f"{notebook}.html"
        if not page.is_file():
            write_notebook_html(path, page, title=title, show_code=show_code)
        pages[title] = page.name
    return pages


def _pdf(
    staging: Staging,
    published: dict[str, Any],
    report_dir: Path,
    metrics: dict[str, Any],
    *,
    show_code: bool,
    reuse: bool,
) -> tuple[str | None, str]:
    """The published PDF when `reuse` and it is intact, else a new one printed; returns its name and a note."""
    if reuse and published.get("show_code") == show_code and intact_page(published, report_dir, "report.pdf"):
        shutil.copy2(report_dir / "report.pdf", staging.report_dir)
        return "report.pdf", ""
    executed = [staging.report_dir / "notebooks" / f"{notebook}.ipynb" for _, notebook, _ in NOTEBOOKS]
    return _write_pdf(executed, staging.report_dir, metrics, show_code=show_code)


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


def _write_pdf(
    executed: list[Path], report_stage: Path, metrics: dict[str, Any], *, show_code: bool
) -> tuple[str | None, str]:
    """Print the front matter and the four notebooks as one PDF; without Chromium, a note saying how to get it."""
    from fashion_lib.report.rendering import combine_notebooks, write_report_pdf

    combined = report_stage / "notebooks" / "report.html"
    try:
        write_report_pdf(
            combine_notebooks(executed), metrics, combined, report_stage / "report.pdf", show_code=show_code
        )
    except RuntimeError as error:
        print(f"warning: {error}", flush=True)
        return None, str(error)
    return "report.pdf", ""
