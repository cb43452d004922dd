"""Executed notebooks to self-contained HTML pages, one PDF, and the report's landing page."""

from __future__ import annotations

import copy
import html
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import nbformat
from nbconvert import HTMLExporter

from fashion_lib import replication
from fashion_lib.storage import atomic_path, atomic_write_text

# nbconvert's lab template loads require.js and MathJax from a CDN. The report uses neither (no
# widgets, formulas in Unicode), and offline they only produce console errors, so they are removed.
_CDN_SCRIPT = re.compile(r'<script[^>]*src="https?://[^"]*"[^>]*>\s*</script>\s*')

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")

# TensorFlow's C++ start-up notices (absl log lines), which the kernel's stderr carries into the notebook
# whatever TF_CPP_MIN_LOG_LEVEL says; they tell a reader of the report nothing.
_TENSORFLOW_LOG_LINE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+\.cc:\d+\] .*)$"
)

# The tables of the report's pages. On screen a table wider than the page scrolls; on paper nothing
# scrolls: fashion_lib.display prints a wide table as several narrower ones, and the print styles shrink
# the type and let the column names wrap (a number never breaks), so every column fits the page's width.
TABLE_STYLES = """<style>
.jp-RenderedHTMLCommon table { font-variant-numeric: tabular-nums; }
.jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { text-align: right; }
@media print {
  @page { size: A4; margin: 12mm; }
  .jp-OutputArea-output, .jp-RenderedHTMLCommon, .jp-RenderedHTML {
    overflow: visible !important;
    max-width: 100% !important;
  }
  .jp-RenderedHTMLCommon table { table-layout: auto; width: auto; max-width: 100%; font-size: 7pt; }
  .jp-RenderedHTMLCommon th, .jp-RenderedHTMLCommon td { padding: 0.15em 0.35em; }
  .jp-RenderedHTMLCommon th { white-space: normal; overflow-wrap: anywhere; }
  .jp-RenderedHTMLCommon tr { break-inside: avoid; }
}
</style>
"""


def without_tensorflow_notices(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `notebook` whose stderr outputs keep every line except TensorFlow's C++ log notices."""
    cleaned = copy.deepcopy(notebook)
    for cell in cleaned.cells:
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                kept = [
                    line
                    for line in output["text"].splitlines(keepends=True)
                    if not _TENSORFLOW_LOG_LINE.match(line.rstrip("\n"))
                ]
                if not kept:
                    continue
                output["text"] = "".join(kept)
            outputs.append(output)
        if "outputs" in cell:
            cell["outputs"] = outputs
    return cleaned


def notebook_to_html(notebook: nbformat.NotebookNode, *, title: str, show_code: bool = False) -> str:
    """A self-contained HTML page (figures embedded) of an executed notebook, code hidden by default."""
    notebook = without_tensorflow_notices(notebook)
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input = not show_code
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
    return _CDN_SCRIPT.sub("", body).replace("</head>", f"{TABLE_STYLES}</head>", 1)


def write_notebook_html(notebook_path: Path, html_path: Path, *, title: str, show_code: bool = False) -> None:
    """Render one executed notebook file to an HTML page, atomically."""
    notebook = nbformat.read(notebook_path, as_version=4)
    atomic_write_text(html_path, notebook_to_html(notebook, title=title, show_code=show_code))


def combine_notebooks(paths: list[Path]) -> nbformat.NotebookNode:
    """One notebook holding the cells of several, in order (for the single PDF)."""
    notebooks = [nbformat.read(path, as_version=4) for path in paths]
    combined = nbformat.v4.new_notebook(metadata=notebooks[0].metadata)
    for notebook in notebooks:
        combined.cells.extend(notebook.cells)
    return combined


def find_chromium() -> str | None:
    """Path of a Chromium-like browser, or None."""
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def print_pdf(html_path: Path, pdf_path: Path, *, timeout_s: int = 300) -> None:
    """Print an HTML page to PDF with headless Chromium, atomically.

    Raises:
        RuntimeError: Chromium is missing or wrote no PDF; the message says how to fix it.
    """
    browser = find_chromium()
    if browser is None:
        raise RuntimeError(
            "Chromium is not installed, so no PDF was printed (the HTML pages are complete). "
            "Install it with `apt-get install -y --no-install-recommends chromium` (as root; `make report` "
            "does this), then rerun."
        )
    with tempfile.TemporaryDirectory() as profile, atomic_path(pdf_path) as temporary:
        temporary.unlink()
        # Chromium exits 0 even when it wrote nothing, so the file itself is checked afterwards.
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
                "--no-pdf-header-footer",
                "--virtual-time-budget=10000",
                f"--user-data-dir={profile}",
                f"--print-to-pdf={temporary}",
                html_path.resolve().as_uri(),
            ],
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
        if not temporary.is_file() or temporary.stat().st_size == 0:
            raise RuntimeError(f"Chromium ({browser}) wrote no PDF for {html_path}.")


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2%}" if 0.0 <= value <= 1.0 else f"{value:,.1f}"
    return html.escape(str(value))


def index_html(metrics: dict[str, Any], pages: dict[str, str], *, pdf_name: str | None, pdf_note: str = "") -> str:
    """The landing page: a summary table of the run and links to the notebook pages and the PDF."""
    rows = []
    for name, model in metrics.get("models", {}).items():
        rows.append(
            (f"{model.get('label', name)} test accuracy", f"models.{name}.test_accuracy", model["test_accuracy"])
        )
    for name, ensemble in metrics.get("ensembles", {}).items():
        label = ensemble.get("label", name)
        rows.append((f"{label} test accuracy", f"ensembles.{name}.test_accuracy", ensemble["test_accuracy"]))
    if "comparison" in metrics:
        rows.append(
            (
                "Kendall's τ of the two models' predictions",
                "comparison.kendall_tau",
                # A correlation, not a share: three decimals rather than a percentage.
                f"{metrics['comparison']['kendall_tau']:.3f}",
            )
        )
    rows.append(("Run duration (s)", "timings.total_s", metrics["timings"]["total_s"]))
    rows.append(("Peak memory of a notebook kernel (MiB)", "peak_memory_mib", metrics["peak_memory_mib"]))
    rows.append(("Seed", "seed", metrics["seed"]))
    rows.append(("Profile", "profile", metrics["profile"]))
    table = "\n".join(
        f'<tr><th scope="row">{html.escape(label)}</th><td data-metric="{key}">{_format(value)}</td></tr>'
        for label, key, value in rows
    )
    versions = ", ".join(f"{html.escape(k)} {html.escape(v)}" for k, v in sorted(metrics.get("versions", {}).items()))
    links = "\n".join(
        f'<li><a href="{html.escape(href)}">{html.escape(title)}</a></li>' for title, href in pages.items()
    )
    if pdf_name:
        links += f'\n<li><a href="{html.escape(pdf_name)}">The whole report as one PDF</a></li>'
    note = f'<p class="note">{html.escape(pdf_note)}</p>' if pdf_note else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Fashion-MNIST report ({html.escape(str(metrics["profile"]))})</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 0.35rem 0.8rem; text-align: left; }}
td {{ font-variant-numeric: tabular-nums; }}
.note {{ color: #8a4b00; }}
.versions {{ color: #555; font-size: 0.9rem; }}
#replication-table {{ font-size: 0.85rem; }}
</style>
</head>
<body>
<h1>Neural networks for fashion item recognition</h1>
<p>An MLP and a CNN, tuned by Bayesian optimisation and evaluated on the untouched Fashion-MNIST test set,
regenerated from code by <code>python -m fashion_lib report --profile {html.escape(str(metrics["profile"]))}</code>.
{html.escape(str(metrics.get("description", "")))}</p>
<table id="summary">
<caption>Summary of this run</caption>
{table}
</table>
{replication.section_html(metrics)}
<h2>The report</h2>
<ol>
{links}
</ol>
{note}
<p class="versions">Library versions: {versions}</p>
</body>
</html>
"""
