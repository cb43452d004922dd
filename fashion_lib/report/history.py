"""Finished report runs kept side by side: ids, the history folders, retention, the list and its comparison page.

`report/<profile>/` and `runs/<profile>/` always hold a profile's latest run. When a newer run is published, the
earlier one moves, whole (pages, metrics.json, models, tuner folders), to `report/history/<profile>/<id>/` and
`runs/history/<profile>/<id>/`, where it stays readable until the retention setting removes it.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fashion_lib import config
from fashion_lib.report import cache, locks
from fashion_lib.results import METRICS_FILE
from fashion_lib.storage import atomic_write_json, atomic_write_text

HISTORY = "history"
RUNS_PAGE = "runs.html"
# How many earlier runs of each profile are kept (the latest is not counted); each keeps its search trials'
# checkpoints, which add up over the runs of a large profile.
DEFAULT_KEEP = 5
KEEP_ENV_VAR = "FASHION_KEEP_RUNS"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class RunNameError(ValueError):
    """A run name that cannot be used."""


@dataclass
class RunEntry:
    """One finished run as the list shows it."""

    profile: str
    run_id: str
    name: str | None
    finished: str
    duration_s: float | None
    accuracies: dict[str, float | None]
    best_ensemble: str | None
    changed_parameters: dict[str, Any]
    # The notebooks this run executed (the others were reused from an earlier run).
    executed: list[str]
    report_dir: Path
    latest: bool
    # The notebooks whose outputs failed the check when the run moved to the history, and were removed.
    damaged: list[str] = field(default_factory=list)


def history_dirs(profile: str) -> tuple[Path, Path]:
    """The folders holding a profile's earlier runs: (report pages and metrics, models and tuner folders)."""
    return config.REPORT_DIR / HISTORY / profile, config.RUNS_DIR / HISTORY / profile


def default_keep() -> int:
    """The retention setting: $FASHION_KEEP_RUNS, else DEFAULT_KEEP."""
    raw = os.environ.get(KEEP_ENV_VAR, "")
    if not raw:
        return DEFAULT_KEEP
    if not raw.isdigit():
        raise RunNameError(f"${KEEP_ENV_VAR} must be a whole number of runs to keep (0 keeps none), got {raw!r}.")
    return int(raw)


def _run_id_of(report_dir: Path) -> str:
    """The id a published run was given, or one made from its time for a run published before ids existed."""
    metrics = _read_metrics(report_dir)
    run_id = (metrics.get("run") or {}).get("id")
    if run_id:
        return str(run_id)
    return time.strftime("%Y%m%d-%H%M%S", time.localtime((report_dir / METRICS_FILE).stat().st_mtime))


def _taken_ids(profile: str) -> set[str]:
    report_history, _ = history_dirs(profile)
    taken = {path.name for path in report_history.iterdir()} if report_history.is_dir() else set()
    if (config.report_dir(profile) / METRICS_FILE).is_file():
        taken.add(_run_id_of(config.report_dir(profile)))
    return taken


def new_run_id(profile: str, name: str | None, *, started: float) -> str:
    """The id of a new run: its name, or its start time (YYYYmmdd-HHMMSS), unique within the profile.

    Raises:
        RunNameError: the name has characters a folder name should not, or a kept run of the profile has it.
    """
    taken = _taken_ids(profile)
    if name is not None:
        if not _NAME.match(name):
            raise RunNameError(
                f"Run name {name!r} is not usable: use up to 64 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit."
            )
        if name in taken:
            raise RunNameError(
                f"A kept run of profile '{profile}' is already named {name!r}; choose another --name "
                f"(`python -m fashion_lib runs --profile {profile}` lists them)."
            )
        return name
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    run_id, number = stamp, 2
    while run_id in taken:
        run_id, number = f"{stamp}-{number}", number + 1
    return run_id


def latest_metrics(profile: str) -> dict[str, Any]:
    """The latest run's metrics.json, or, when that is missing or unreadable, the copy its state file keeps."""
    metrics = _read_metrics(config.report_dir(profile))
    if metrics:
        return metrics
    kept = (cache.read_state(config.run_dir(profile)).get("published") or {}).get("metrics")
    return kept if isinstance(kept, dict) else {}


def latest_run_id(profile: str) -> str | None:
    """The id of the profile's latest run, or None when it has none (or none that says its id)."""
    run_id = (latest_metrics(profile).get("run") or {}).get("id")
    return str(run_id) if run_id else None


def latest_history_id(profile: str) -> str | None:
    """The id of the profile's most recently finished earlier run, or None when its history is empty."""
    report_history, _ = history_dirs(profile)
    if not report_history.is_dir():
        return None
    entries = [path for path in report_history.iterdir() if path.is_dir()]
    return max(entries, key=_finished_of).name if entries else None


def archive_latest(profile: str) -> tuple[str | None, dict[str, str]]:
    """Move the profile's latest run (pages and run folder) into its history, keeping only outputs that pass the check.

    A latest run whose metrics.json went missing gets it back from its state file's copy first, so that it keeps its
    id and numbers in the history. The outputs of a notebook that fail the check (a file changed or missing since
    the notebook wrote it) are removed from the run, which records that under `run.damaged` in its metrics.json.

    Returns:
        The run's id (None if there was no latest run) and, per damaged notebook, what failed the check.
    """
    report_dir, run_dir = config.report_dir(profile), config.run_dir(profile)
    if not report_dir.is_dir():
        # A run folder without a report is a run that was never published whole: nothing to keep.
        shutil.rmtree(run_dir, ignore_errors=True)
        return None, {}
    metrics = latest_metrics(profile)
    if metrics and not _read_metrics(report_dir):
        atomic_write_json(report_dir / METRICS_FILE, metrics)
    damaged = _remove_damaged_outputs(run_dir, report_dir)
    if damaged and metrics:
        metrics.setdefault("run", {})["damaged"] = damaged
        atomic_write_json(report_dir / METRICS_FILE, metrics)
    run_id = _run_id_of(report_dir) if (report_dir / METRICS_FILE).is_file() else "unnamed"
    report_history, runs_history = history_dirs(profile)
    for source, target in ((report_dir, report_history / run_id), (run_dir, runs_history / run_id)):
        if source.is_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(target, ignore_errors=True)
            shutil.move(source, target)
    return run_id, damaged


def _remove_damaged_outputs(run_dir: Path, report_dir: Path) -> dict[str, str]:
    """Remove the files, executed copy and page of each notebook of a run whose outputs fail the check."""
    damaged = {}
    for notebook, record in cache.read_state(run_dir)["notebooks"].items():
        # A record without digests (a run made before they were kept) cannot be checked; it is kept as it is.
        if "digests" not in record:
            continue
        executed = report_dir / "notebooks" / f"{notebook}.ipynb"
        reason = cache.damaged_output(record, run_dir, executed)
        if reason is not None:
            damaged[notebook] = reason
            cache.remove_files(run_dir, record["files"])
            executed.unlink(missing_ok=True)
            (report_dir / f"{notebook}.html").unlink(missing_ok=True)
    return damaged


def prune(profile: str, keep: int) -> list[str]:
    """Delete the profile's oldest earlier runs beyond `keep`; returns the ids deleted."""
    report_history, runs_history = history_dirs(profile)
    if not report_history.is_dir():
        return []
    entries = sorted(report_history.iterdir(), key=lambda path: _finished_of(path), reverse=True)
    removed = []
    for path in entries[keep:]:
        shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(runs_history / path.name, ignore_errors=True)
        removed.append(path.name)
    return removed


def _read_metrics(report_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((report_dir / METRICS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _finished_of(report_dir: Path) -> str:
    finished = (_read_metrics(report_dir).get("run") or {}).get("finished")
    if finished:
        return str(finished)
    path = report_dir / METRICS_FILE
    stamp = path.stat().st_mtime if path.is_file() else report_dir.stat().st_mtime
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(stamp))


def _entry(profile: str, report_dir: Path, *, latest: bool) -> RunEntry:
    metrics = latest_metrics(profile) if latest else _read_metrics(report_dir)
    run = metrics.get("run") or {}
    models = metrics.get("models") or {}
    ensembles = metrics.get("ensembles") or {}
    best = max(ensembles.values(), key=lambda e: e.get("test_accuracy", -1.0), default=None)
    return RunEntry(
        profile=profile,
        run_id=str(run.get("id") or report_dir.name),
        name=run.get("name"),
        finished=str(run.get("finished") or _finished_of(report_dir)),
        duration_s=(metrics.get("timings") or {}).get("total_s"),
        accuracies={
            "MLP": (models.get("mlp") or {}).get("test_accuracy"),
            "CNN": (models.get("cnn") or {}).get("test_accuracy"),
            "best ensemble": best.get("test_accuracy") if best else None,
        },
        best_ensemble=best.get("label") if best else None,
        changed_parameters=run.get("changed_parameters") or {},
        executed=[
            notebook
            for notebook, status in ((metrics.get("cache") or {}).get("notebooks") or {}).items()
            if status.get("status") in ("ran", "resumed", "repaired")
        ],
        report_dir=report_dir,
        latest=latest,
        damaged=sorted(run.get("damaged") or {}),
    )


def list_runs(profile: str | None = None) -> list[RunEntry]:
    """Every kept run (latest and earlier) of one profile, or of all, newest first within each profile."""
    if not config.REPORT_DIR.is_dir():
        return []
    folders = [*config.REPORT_DIR.iterdir(), *(config.REPORT_DIR / HISTORY).glob("*")]
    names = {path.name for path in folders if path.is_dir() and not path.name.startswith(".")}
    entries = []
    for name in [profile] if profile else sorted(names - {HISTORY}):
        runs = []
        if config.report_dir(name).is_dir() and latest_metrics(name):
            runs.append(_entry(name, config.report_dir(name), latest=True))
        report_history, _ = history_dirs(name)
        if report_history.is_dir():
            runs += [_entry(name, path, latest=False) for path in report_history.iterdir() if path.is_dir()]
        entries += sorted(runs, key=lambda entry: entry.finished, reverse=True)
    return entries


def unfinished_runs(profile: str | None = None) -> list[str]:
    """One line per run of a profile (or of every profile) that is in progress, or was interrupted and resumes."""
    if profile is not None:
        profiles = [profile]
    elif config.RUNS_DIR.is_dir():
        names = [path.name for path in config.RUNS_DIR.iterdir() if path.name.startswith(".")]
        profiles = sorted({name[1:].rsplit(".", 1)[0] for name in names if name.endswith((".lock", ".partial"))})
    else:
        profiles = []
    lines = []
    for name in profiles:
        state = cache.read_state(config.run_dir(name).with_name(f".{name}.partial"))
        finished = list(state["notebooks"])
        running = state.get("running") or {}
        done = f"finished: {', '.join(finished)}" if finished else "no notebook finished yet"
        holder = locks.current_holder(name)
        if holder is not None:
            now = f"; running {running['notebook']} since {running['started'].replace('T', ' ')}" if running else ""
            lines.append(f"{name}: a run is in progress (process {holder.pid}, started {holder.started}; {done}{now})")
        elif finished or running:
            cut_short = f"; {running['notebook']} was cut short" if running else ""
            lines.append(
                f"{name}: an interrupted run ({done}{cut_short}); `python -m fashion_lib report --profile {name}` "
                "resumes it, `--fresh` discards it"
            )
    return lines


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"


def _changes(entry: RunEntry) -> str:
    changes = ", ".join(f"{key}={value}" for key, value in sorted(entry.changed_parameters.items())) or "as profile"
    if entry.damaged:
        changes += f" (outputs of {', '.join(entry.damaged)} failed the check and were removed)"
    return changes


def format_runs(entries: list[RunEntry], unfinished: list[str] | None = None) -> str:
    """The runs as a plain-text table, one line each, then the unfinished ones (`unfinished_runs`)."""
    unfinished = unfinished or []
    if not entries:
        if unfinished:
            return "\n".join(["No finished runs yet.", *unfinished])
        return "No finished runs yet: `python -m fashion_lib report --profile quick` makes one."
    header = f"{'profile':<10} {'run':<22} {'finished':<19} {'time':>7} {'MLP':>7} {'CNN':>7} {'ensemble':>8}  changes"
    lines = [header]
    for entry in entries:
        duration = "–" if entry.duration_s is None else f"{entry.duration_s:.0f} s"
        run = entry.run_id + (" *" if entry.latest else "")
        lines.append(
            f"{entry.profile:<10} {run:<22} {entry.finished.replace('T', ' '):<19} {duration:>7} "
            f"{_percent(entry.accuracies['MLP']):>7} {_percent(entry.accuracies['CNN']):>7} "
            f"{_percent(entry.accuracies['best ensemble']):>8}  {_changes(entry)}"
        )
    lines.append("* the latest run, in report/<profile>/; earlier ones are in report/history/<profile>/<run>/")
    return "\n".join([*lines, *unfinished])


def runs_page(entries: list[RunEntry]) -> str:
    """The comparison page: per profile, one column per run, rows for the accuracies, duration and parameters."""
    sections = []
    for profile in dict.fromkeys(entry.profile for entry in entries):
        runs = [entry for entry in entries if entry.profile == profile]
        changed = sorted({key for entry in runs for key in entry.changed_parameters})
        links = [os.path.relpath(entry.report_dir / "index.html", config.REPORT_DIR) for entry in runs]
        head = "".join(
            f'<th scope="col"><a href="{html.escape(link)}">{html.escape(entry.run_id)}</a>'
            f"{' (latest)' if entry.latest else ''}</th>"
            for entry, link in zip(runs, links, strict=True)
        )
        rows = [
            ("Finished", [entry.finished.replace("T", " ") for entry in runs]),
            ("Duration", ["–" if e.duration_s is None else f"{e.duration_s:,.0f} s" for e in runs]),
            ("Notebooks executed", [", ".join(e.executed) or "none (all reused)" for e in runs]),
            *((f"{label} test accuracy", [_percent(e.accuracies[label]) for e in runs]) for label in ("MLP", "CNN")),
            ("Best ensemble", [f"{_percent(e.accuracies['best ensemble'])} {e.best_ensemble or ''}" for e in runs]),
            *((key, [str(e.changed_parameters.get(key, "(profile)")) for e in runs]) for key in changed),
        ]
        body = "\n".join(
            f'<tr><th scope="row">{html.escape(label)}</th>'
            + "".join(f"<td>{html.escape(value)}</td>" for value in values)
            + "</tr>"
            for label, values in rows
        )
        sections.append(
            f"<h2>Profile {html.escape(profile)}</h2>\n<table>\n<thead><tr><th></th>{head}</tr></thead>\n"
            f"<tbody>\n{body}\n</tbody>\n</table>"
        )
    content = "\n".join(sections) or "<p>No finished runs yet.</p>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Fashion-MNIST report runs</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; padding: 0 1rem; color: #222; max-width: 80rem; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 0.35rem 0.8rem; text-align: left; }}
td {{ font-variant-numeric: tabular-nums; }}
</style>
</head>
<body>
<h1>Report runs side by side</h1>
<p>Each kept run of each profile: its accuracies on the test set, its duration, and the parameters it set apart
from its profile (<code>--set</code>). Rows of parameters show "(profile)" where a run kept the profile's value.</p>
{content}
</body>
</html>
"""


def write_runs_page() -> Path:
    """Write report/runs.html from every kept run; returns its path."""
    path = config.REPORT_DIR / RUNS_PAGE
    atomic_write_text(path, runs_page(list_runs()))
    return path
