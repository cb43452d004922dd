"""What a report run writes into its staging once its notebooks are settled: metrics, HTML pages, PDF and index."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from fashion_lib import storage
from fashion_lib.machine import machine_identity
from fashion_lib.report import cache, history
from fashion_lib.report.execution import peak_memory_mib
from fashion_lib.report.profiles import NOTEBOOKS, RESERVED, changed_parameters
from fashion_lib.report.staging import Run, Staging, intact_page, now
from fashion_lib.results import METRICS_FILE
from fashion_lib.storage import atomic_write_json, atomic_write_text

# What nbconvert's HTML template (its style sheets) adds to each page, measured: about 277 kB.
PAGE_TEMPLATE_BYTES = 300_000


def write_report(run: Run, *, repeats: bool) -> tuple[dict[str, Any], str]:
    """Render the pages, compose the metrics, print the PDF and write the index into the staging.

    Returns the metrics and the PDF's note.
    """
    from fashion_lib.report.landing import index_html

    staging = run.staging
    kinds = {status["status"] for status in run.statuses.values()}
    try:
        pages = _render_pages(staging, show_code=run.show_code)
        metrics = _run_metrics(run, kinds, repeats=repeats)
        # The PDF's first page states the findings, so it is printed from the composed metrics; total_s still
        # counts the printing, as `timings` is the dict the metrics hold.
        pdf_name, pdf_note = _pdf(run, metrics, reuse=kinds == {"reused"})
        run.timings["total_s"] = round(time.perf_counter() - run.started, 1)
        atomic_write_json(staging.report_dir / METRICS_FILE, metrics)
        atomic_write_text(
            staging.report_dir / "index.html", index_html(metrics, pages, pdf_name=pdf_name, pdf_note=pdf_note)
        )
        staging.state["published"] = {
            "metrics": metrics,
            "pages": {
                page: cache.file_digest(staging.report_dir / page) for page in [*pages.values(), pdf_name] if page
            },
        }
        staging.save()
    except OSError:
        # Pages are rendered again by the next run: what a full disk cut short goes, the notebooks stay.
        staging.remove_pages()
        raise
    return metrics, pdf_note


def _run_metrics(run: Run, kinds: set[str], *, repeats: bool) -> dict[str, Any]:
    """The report's metrics: the notebooks' results and the run's record, or the latest run's if nothing changed.

    When every notebook was reused and the run repeats the latest, it is the latest run still: it takes its id.
    """
    results = run.staging.compose_metrics()
    unchanged = _published_metrics(run.published) if kinds == {"reused"} and repeats else None
    if unchanged is not None:
        run.run_id = unchanged["run"]["id"]
        print(f"Nothing changed since run {run.run_id}: its outputs passed the check and it stays the latest run.")
        return unchanged
    metrics = results | {
        "profile": run.profile_name,
        "description": run.profile.get("description", ""),
        "seed": run.parameters["02_mlp"].get("seed"),
        "parameters": {
            notebook: {k: v for k, v in p.items() if k not in RESERVED} for notebook, p in run.parameters.items()
        },
        "run": {
            "id": run.run_id,
            "name": run.name,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(run.started_at)),
            "finished": now(),
            "overrides": run.overrides,
            "changed_parameters": changed_parameters(run.profile_name, run.overrides),
        },
        "cache": run.environment | {"notebooks": run.statuses},
        "timings": run.timings,
        # Reused notebooks' kernels ran in an earlier run: their peak, measured there, counts too.
        "peak_memory_mib": max(
            [peak_memory_mib(), *(r.get("peak_memory_mib", 0.0) for r in run.staging.state["notebooks"].values())]
        ),
        "versions": run.environment["versions"],
        "machine": machine_identity(),
    }
    if repeats:
        why = "whose outputs failed the check" if "repaired" in kinds else "which it repeats"
        print(
            f"Run {run.run_id} replaces run {history.latest_run_id(run.profile_name)}, {why}: same notebooks, "
            "parameters, code and data, so the history gets no second copy of it."
        )
    return metrics


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


def _pdf(run: Run, metrics: dict[str, Any], *, reuse: bool) -> tuple[str | None, str]:
    """The published PDF when `reuse` and it is intact, else a new one printed; returns its name and a note."""
    staging, published, report_dir = run.staging, run.published, run.report_dir
    if reuse and published.get("show_code") == run.show_code and intact_page(published, report_dir, "report.pdf"):
        shutil.copy2(report_dir / "report.pdf", staging.report_dir)
        return "report.pdf", ""
    executed = [staging.report_dir / "notebooks" / f"{notebook}.ipynb" for _, notebook, _ in NOTEBOOKS]
    return _write_pdf(executed, staging.report_dir, metrics, show_code=run.show_code)


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
