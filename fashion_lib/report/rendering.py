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
from bs4 import BeautifulSoup
from jinja2 import DictLoader
from nbconvert import HTMLExporter

from fashion_lib import terminal
from fashion_lib.report import check as report_check
from fashion_lib.report import findings
from fashion_lib.storage import atomic_path, atomic_write_text

# nbconvert's lab template loads require.js and MathJax from a CDN. The report uses neither (no
# widgets, formulas in Unicode), and offline they only produce console errors, so they are removed.
_CDN_SCRIPT = re.compile(r'<script[^>]*src="https?://[^"]*"[^>]*>\s*</script>\s*')

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")

# The report's print styles. On screen a table wider than the page scrolls; on paper nothing scrolls:
# fashion_lib.report.display prints a wide table as several narrower ones, and these styles set tables in 7-point
# type (the smallest the report prints) whose column names wrap at spaces and after underscores, never inside
# a word, so every column fits the page's width. Each notebook starts a page; a heading or a caption stays with
# what follows it, and a figure is never split.
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
  .jp-RenderedHTMLCommon th { white-space: normal; overflow-wrap: normal; word-break: normal; hyphens: manual; }
  .jp-RenderedHTMLCommon tr { break-inside: avoid; }
  .celltag_notebook-start { break-before: page; }
  h1, h2, h3, h4 { break-after: avoid; }
  /* Only a caption before a figure: before a long table the rule would push the caption to a new page. */
  .jp-MarkdownCell:has(+ .jp-CodeCell .jp-RenderedImage) { break-after: avoid; }
  .jp-RenderedImage, .jp-RenderedImage img { break-inside: avoid; }
  .jp-RenderedImage img { max-height: 255mm; width: auto; max-width: 100%; object-fit: contain; }
}
</style>
"""
# nbconvert's lab template with one change: a figure's image carries the description its output's metadata
# holds (fashion_lib.analysis.figures.ReportFigure writes one) as its alternative text, for screen readers.
_TEMPLATE_NAME = "report.html.j2"
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{% block data_png scoped %}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}"
{%- set description = output | get_metadata('alt', 'image/png') -%}
{%- if description %} alt="{{ description | escape_html }}"{%- endif -%}
>
</div>
{% endblock data_png %}
"""
# The tag `combine_notebooks` gives each notebook's first cell, so that the PDF starts each one on a new page.
NOTEBOOK_START_TAG = "notebook-start"


def without_tensorflow_notices(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `notebook` whose stderr outputs keep every line except TensorFlow's C++ start-up notices.

    The kernel's stderr carries them into the notebook whatever TF_CPP_MIN_LOG_LEVEL says (fashion_lib.terminal);
    they tell a reader of the report nothing.
    """
    cleaned = copy.deepcopy(notebook)
    for cell in cleaned.cells:
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                kept = [
                    line
                    for line in output["text"].splitlines(keepends=True)
                    if not terminal.TENSORFLOW_NOTICE.match(line.rstrip("\n"))
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
    exporter = HTMLExporter(
        template_name="lab", extra_loaders=[DictLoader({_TEMPLATE_NAME: _TEMPLATE})], template_file=_TEMPLATE_NAME
    )
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
        cells = copy.deepcopy(notebook.cells)
        if cells:
            tags = cells[0].setdefault("metadata", {}).setdefault("tags", [])
            tags.append(NOTEBOOK_START_TAG)
        combined.cells.extend(cells)
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
                # Bookmarks from the headings: a reader's PDF viewer lists them, and the contents read their pages.
                "--generate-pdf-document-outline",
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


REPORT_TITLE = "Neural networks for fashion item recognition"


def subtitle(metrics: dict[str, Any]) -> str:
    """What the report is and which run it shows, in one sentence."""
    return (
        "An MLP and a CNN, tuned by Bayesian optimisation and evaluated on the untouched Fashion-MNIST test set, "
        f"regenerated from code: profile {metrics['profile']}, seed {metrics['seed']}."
    )


def _unique_heading_ids(soup: BeautifulSoup) -> None:
    """Give repeated heading ids (two notebooks' "Misclassified shirts") a number, and their ¶ links with them."""
    seen: dict[str, int] = {}
    for heading in soup.find_all(re.compile(r"^h[1-6]$"), id=True):
        identifier = heading["id"]
        seen[identifier] = seen.get(identifier, 0) + 1
        if seen[identifier] > 1:
            heading["id"] = f"{identifier}-{seen[identifier]}"
            for link in heading.find_all("a", href=f"#{identifier}"):
                link["href"] = f"#{heading['id']}"


def _heading_text(heading: Any) -> str:
    return " ".join(heading.get_text().replace("¶", "").split())


def _contents_html(soup: BeautifulSoup, pages: dict[str, int]) -> str:
    """The contents: each notebook's title (its h1) and its sections (h2), linked to them, with the page of each
    that `pages` (heading id: page) knows."""
    entries: list[tuple[Any, list[Any]]] = []
    for heading in soup.find_all(["h1", "h2"], id=True):
        if heading.name == "h1":
            entries.append((heading, []))
        elif entries:
            entries[-1][1].append(heading)

    def link(heading: Any) -> str:
        page = pages.get(heading["id"])
        number = f'<span class="page">{page}</span>' if page else ""
        # The first notebook's title opens with the report's, which the title page already shows.
        text = _heading_text(heading).removeprefix(f"{REPORT_TITLE} — ")
        return f'<a href="#{html.escape(heading["id"])}">{html.escape(text)}{number}</a>'

    items = "\n".join(
        f"<li>{link(title)}<ol>{''.join(f'<li>{link(section)}</li>' for section in sections)}</ol></li>"
        for title, sections in entries
    )
    return f'<ol class="contents">\n{items}\n</ol>'


def front_matter_html(metrics: dict[str, Any], contents: str) -> str:
    """The PDF's first two pages: a title page with the findings, then the contents."""
    return f"""<section class="front-page title-page">
<h1 class="report-title">{html.escape(REPORT_TITLE)}</h1>
<p class="subtitle">{html.escape(subtitle(metrics))}</p>
<h2 class="front-heading">What this run found</h2>
{findings.findings_html(findings.compute(metrics))}
</section>
<nav class="front-page contents-page" aria-label="Contents">
<h2 class="front-heading">Contents</h2>
{contents}
</nav>
"""


FRONT_MATTER_STYLES = """<style>
.front-page { font-size: 11pt; line-height: 1.45; max-width: 44rem; }
.title-page .report-title { font-size: 24pt; margin: 0 0 0.4em; }
.title-page .subtitle { font-size: 12pt; color: #333; margin-bottom: 1.5em; }
.front-heading { font-size: 14pt; margin-top: 1.2em; }
.findings li { margin-bottom: 0.55em; }
.contents, .contents ol { list-style: none; padding-left: 1.2em; }
.contents > li { margin-top: 0.6em; font-weight: bold; }
.contents ol li { font-weight: normal; }
.contents a { color: inherit; text-decoration: none; display: flex; }
.contents .page { margin-left: auto; padding-left: 1em; font-variant-numeric: tabular-nums; }
@media print {
  .title-page, .contents-page { break-after: page; }
}
</style>
"""


def report_html(notebooks_page: str, metrics: dict[str, Any], *, pages: dict[str, int] | None = None) -> str:
    """The page printed as the PDF: a title page with the findings, the contents, then the notebooks.

    Args:
        notebooks_page: the combined notebooks as `notebook_to_html` renders them.
        pages: the page of each heading, by its id, for the contents (none: the contents list no pages).
    """
    soup = BeautifulSoup(notebooks_page, "html.parser")
    _unique_heading_ids(soup)
    contents = _contents_html(soup, pages or {})
    front = BeautifulSoup(FRONT_MATTER_STYLES + front_matter_html(metrics, contents), "html.parser")
    body = soup.body
    assert body is not None, "nbconvert's page always has a body"
    body.insert(0, front)
    return str(soup)


def heading_pages(page: str, outline: list[tuple[str, int]]) -> dict[str, int]:
    """The page of each heading of `page` (by id), from a printed PDF's outline of (title, page) in order.

    The outline lists the headings in the page's order; each heading takes the next entry of the same text
    (compared without spaces, as the outline drops the spaces where a title wrapped). A heading the outline
    lacks gets no page and leaves the others' matching as it was.
    """
    titles = ["".join(title.split()) for title, _ in outline]
    position = 0
    found = {}
    for heading in BeautifulSoup(page, "html.parser").find_all(re.compile(r"^h[1-6]$"), id=True):
        text = "".join(_heading_text(heading).split())
        if text in titles[position:]:
            position = titles.index(text, position)
            found[heading["id"]] = outline[position][1]
            position += 1
    return found


def write_report_pdf(
    notebook: nbformat.NotebookNode, metrics: dict[str, Any], html_path: Path, pdf_path: Path, *, show_code: bool
) -> None:
    """Print the report's PDF from its page (`html_path`): printed once to learn each heading's page from the
    PDF's outline, then again with the pages in the contents. Without MuPDF's mutool it is printed once."""
    notebooks_page = notebook_to_html(notebook, title=REPORT_TITLE, show_code=show_code)
    first = report_html(notebooks_page, metrics)
    atomic_write_text(html_path, first)
    print_pdf(html_path, pdf_path)
    if shutil.which("mutool") is None:
        return
    pages = heading_pages(first, report_check.pdf_outline(pdf_path))
    atomic_write_text(html_path, report_html(notebooks_page, metrics, pages=pages))
    print_pdf(html_path, pdf_path)
