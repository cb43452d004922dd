"""A report run's staging: the folders it writes before it publishes, the checks of what it reuses, the room it needs.

A run writes into runs/.<profile>.partial and report/.<profile>.partial, whose state file says which notebooks
they hold, finished; `publish` moves them into the profile's latest place once every notebook succeeded. A `Run`
is a run under way: what it runs with, its staging, and the state of the latest run it may reuse.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fashion_lib import config, storage
from fashion_lib.report import cache, history
from fashion_lib.report.profiles import NOTEBOOKS
from fashion_lib.results import METRICS_FILE
from fashion_lib.storage import atomic_write_json

# The room a profile's first run is asked for, having no last run to go by: about half of what a quick run
# (with smaller subsets still) wrote on 2026-12-03, 9.5 MB of pages and 45 MB of models, trials and logs.
FIRST_RUN_BYTES = {"report": 5_000_000, "runs": 10_000_000}


def now() -> str:
    """The time as the state file records it: when a notebook started, when it finished."""
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def stage_dirs(profile_name: str) -> tuple[Path, Path]:
    """A profile's staging folders, beside its latest ones: runs/.<profile>.partial and report/.<profile>.partial."""
    run_dir, report_dir = config.run_dir(profile_name), config.report_dir(profile_name)
    return run_dir.with_name(f".{profile_name}.partial"), report_dir.with_name(f".{profile_name}.partial")


@dataclass
class Staging:
    """The staging folders of a profile's run and the state that says which notebooks they hold, finished."""

    run_dir: Path
    report_dir: Path
    state: dict[str, Any]
    # Files an interrupted notebook left (e.g. its finished search trials), kept only to resume that notebook.
    partial_files: list[str]

    @classmethod
    def open(cls, run_dir: Path, report_dir: Path, *, fresh: bool, show_code: bool) -> Staging:
        """The staging of an interrupted run (unless `fresh`), or new empty folders."""
        state = cache.read_state(run_dir)
        if fresh or not report_dir.is_dir() or not (state["notebooks"] or state.get("running")):
            for stage in (run_dir, report_dir):
                shutil.rmtree(stage, ignore_errors=True)
            state = {"notebooks": {}}
        (report_dir / "notebooks").mkdir(parents=True, exist_ok=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        owned = {name for record in state["notebooks"].values() for name in record["files"]}
        partial = sorted(set(cache.snapshot(run_dir)) - owned)
        staging = cls(run_dir, report_dir, state | {"show_code": show_code}, partial)
        # Pages are rendered at the end of a run, from the notebooks; an interrupted run's pages may be stale.
        staging.remove_pages()
        return staging

    def save(self) -> None:
        """Write the state, so that an interruption from here on finds it."""
        cache.write_state(self.run_dir, self.state)

    def discard(self, notebook: str) -> None:
        """Remove what an earlier, different execution of `notebook` left in the staging."""
        record = self.state["notebooks"].pop(notebook, None)
        if record is not None:
            cache.remove_files(self.run_dir, record["files"])
            self.save()
        (self.report_dir / "notebooks" / f"{notebook}.ipynb").unlink(missing_ok=True)

    def discard_partial(self) -> None:
        """Remove the files an interrupted notebook left, when that notebook is not being resumed."""
        cache.remove_files(self.run_dir, self.partial_files)
        self.partial_files = []
        self.state.pop("running", None)
        self.save()

    def remove_pages(self) -> None:
        """Delete the rendered pages, the PDF and the report's metrics.json, which only a finished run renders."""
        for page in [*self.report_dir.glob("*.html"), self.report_dir / "report.pdf", self.report_dir / METRICS_FILE]:
            page.unlink(missing_ok=True)
        (self.report_dir / "notebooks" / "report.html").unlink(missing_ok=True)

    def compose_metrics(self) -> dict[str, Any]:
        """Write the staging's metrics.json from what its finished notebooks recorded, in order; returns it."""
        metrics: dict[str, Any] = {}
        for _, notebook, _ in NOTEBOOKS:
            if notebook in self.state["notebooks"]:
                cache.merge_metrics(metrics, self.state["notebooks"][notebook]["metrics"])
        atomic_write_json(self.run_dir / METRICS_FILE, metrics)
        return metrics


@dataclass
class Run:
    """A report run under way: what it runs with, the staging it writes, the latest run it may reuse, what it did."""

    profile_name: str
    profile: dict[str, Any]
    overrides: list[str]
    parameters: dict[str, dict[str, Any]]
    name: str | None
    show_code: bool
    run_id: str
    # When it started: the time the metrics state, and the counter that total_s is measured from.
    started_at: float
    started: float
    staging: Staging
    # The latest run's state file (its notebooks' records, what it published); {"notebooks": {}} without one.
    published: dict[str, Any]
    # The code, package versions and data that every notebook's cache key includes.
    environment: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        """The profile's latest runs/ folder, which the staging replaces when published."""
        return config.run_dir(self.profile_name)

    @property
    def report_dir(self) -> Path:
        """The profile's latest report/ folder."""
        return config.report_dir(self.profile_name)


def verify_record(
    record: dict[str, Any] | None, key: str, run_dir: Path, report_dir: Path, notebook: str
) -> str | None:
    """Why a finished notebook's record cannot be reused with `key`: "" for another key, else what failed the check.

    Returns None when the record carries `key` and every output it lists (files, executed copy, metrics) still has
    the content digest recorded when the notebook finished.
    """
    if record is None or record.get("key") != key:
        return ""
    return cache.damaged_output(record, run_dir, report_dir / "notebooks" / f"{notebook}.ipynb")


def intact_page(published: dict[str, Any], report_dir: Path, name: str) -> bool:
    """Whether a page of the published run (an HTML page, the PDF) is there as that run wrote it."""
    digest = cache.file_digest(report_dir / name)
    return digest is not None and digest == (published.get("published") or {}).get("pages", {}).get(name)


def check_space(profile_name: str, run_stage: Path, report_stage: Path, *, fresh: bool) -> None:
    """Refuse to start a run whose outputs would not fit: a run needs about the room the profile's last run takes.

    A profile's first run is asked for FIRST_RUN_BYTES. What the staging already holds (an interrupted run's
    finished notebooks, unless `fresh`) counts as written.
    """
    run_dir, report_dir = config.run_dir(profile_name), config.report_dir(profile_name)
    what = f"a run of profile '{profile_name}' (as large as its last run)"
    if not report_dir.is_dir():
        report_history, runs_history = history.history_dirs(profile_name)
        latest = history.latest_history_id(profile_name)
        run_dir, report_dir = (runs_history / latest, report_history / latest) if latest else (None, None)
    if run_dir is None or report_dir is None:
        sizes = {run_stage: FIRST_RUN_BYTES["runs"], report_stage: FIRST_RUN_BYTES["report"]}
        what = f"a first run of profile '{profile_name}' (at least what a quick run writes)"
    else:
        sizes = {run_stage: storage.folder_size(run_dir), report_stage: storage.folder_size(report_dir)}
    needs = {stage: max(size - (0 if fresh else storage.folder_size(stage)), 0) for stage, size in sizes.items()}
    storage.check_free_space(needs, what=what)


def publish(profile_name: str, run_stage: Path, report_stage: Path, *, keep: int, replace_latest: bool) -> None:
    """Move the finished staging into the profile's latest place; the latest run goes to the history or, if the
    staging repeats it (`replace_latest`), away."""
    run_dir, report_dir = config.run_dir(profile_name), config.report_dir(profile_name)
    if replace_latest:
        replaced = [(latest, latest.with_name(f".{profile_name}.replaced")) for latest in (run_dir, report_dir)]
        for latest, aside in replaced:
            shutil.rmtree(aside, ignore_errors=True)
            if latest.is_dir():
                os.replace(latest, aside)
    else:
        archived, damaged = history.archive_latest(profile_name)
        for notebook, reason in damaged.items():
            print(f"Run {archived} moves to the history without the outputs of {notebook}: {reason}.", flush=True)
    os.replace(run_stage, run_dir)
    os.replace(report_stage, report_dir)
    if replace_latest:
        for _, aside in replaced:
            shutil.rmtree(aside, ignore_errors=True)
    history.prune(profile_name, keep)
    history.write_runs_page()
