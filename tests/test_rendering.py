"""Rendering executed notebooks: what a page keeps of a notebook's outputs, the PDF's front matter, the landing page."""

from __future__ import annotations

import shutil

import nbformat
import pytest
from bs4 import BeautifulSoup

from fashion_lib.report import check as report_check
from fashion_lib.report import findings
from fashion_lib.report.landing import index_html
from fashion_lib.report.rendering import (
    NOTEBOOK_START_TAG,
    REPORT_TITLE,
    combine_notebooks,
    find_chromium,
    heading_pages,
    notebook_to_html,
    report_html,
    without_tensorflow_notices,
    write_report_pdf,
)

NOTICES = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796200759.827553    1252 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results.\n"
)


def _notebook(stderr: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("train()")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=stderr),
        nbformat.v4.new_output("stream", name="stdout", text="I0000 stays: stdout is the notebook's own\n"),
    ]
    return nbformat.v4.new_notebook(cells=[cell])


def test_tensorflow_notices_are_dropped_and_other_stderr_lines_kept() -> None:
    notebook = _notebook(NOTICES + "UserWarning: a real warning\n")
    cleaned = without_tensorflow_notices(notebook)
    assert [output.get("text") for output in cleaned.cells[0].outputs] == [
        "UserWarning: a real warning\n",
        "I0000 stays: stdout is the notebook's own\n",
    ]
    # The executed notebook itself is left as it ran.
    assert notebook.cells[0].outputs[0]["text"].startswith("WARNING: All log messages")


def test_a_stderr_output_of_notices_only_disappears_from_the_page() -> None:
    page = notebook_to_html(_notebook(NOTICES), title="t")
    assert "oneDNN" not in page and "absl" not in page
    assert "stdout is the notebook" in page


def _figure_notebook(description: str | None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("plot()")
    metadata = {"image/png": {"alt": description}} if description else {}
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="}, metadata=metadata)]
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title\n\n## A section"), cell])


def test_a_figure_gets_the_description_its_output_carries_as_alternative_text() -> None:
    page = notebook_to_html(_figure_notebook("Bars of <ten> classes"), title="t")
    assert 'alt="Bars of &lt;ten&gt; classes"' in page
    # Without one, nbconvert's placeholder says there is none, which the report check counts as a defect.
    assert f'alt="{report_check.NBCONVERT_PLACEHOLDER_ALT}"' in notebook_to_html(_figure_notebook(None), title="t")


def test_each_notebook_of_the_pdf_starts_a_page(tmp_path) -> None:
    paths = []
    for name in ("a", "b"):
        nbformat.write(_figure_notebook("x"), tmp_path / f"{name}.ipynb")
        paths.append(tmp_path / f"{name}.ipynb")
    combined = combine_notebooks(paths)
    starts = [cell for cell in combined.cells if NOTEBOOK_START_TAG in cell.metadata.get("tags", [])]
    assert len(combined.cells) == 4 and starts == [combined.cells[0], combined.cells[2]]
    page = notebook_to_html(combined, title="t")
    assert len(BeautifulSoup(page, "html.parser").select(f".celltag_{NOTEBOOK_START_TAG}")) == 2
    assert ".celltag_notebook-start { break-before: page; }" in page


def test_the_pdf_page_opens_with_the_findings_and_the_contents(tmp_path, run_metrics) -> None:
    paths = []
    for name in ("a", "b"):
        nbformat.write(_figure_notebook("x"), tmp_path / f"{name}.ipynb")
        paths.append(tmp_path / f"{name}.ipynb")
    page = report_html(notebook_to_html(combine_notebooks(paths), title="t"), run_metrics)
    soup = BeautifulSoup(page, "html.parser")
    title_page, contents = soup.select(".front-page")
    assert title_page.h1.get_text() == REPORT_TITLE
    # The same words as the landing page's.
    landing = BeautifulSoup(findings.findings_html(findings.compute(run_metrics)), "html.parser")
    assert title_page.select_one("ol.findings").get_text() == landing.get_text()
    # The two notebooks' equal headings get distinct ids, and the contents link to each.
    targets = [link["href"] for link in contents.select("a")]
    assert targets == ["#Title", "#A-section", "#Title-2", "#A-section-2"]
    assert all(soup.find(id=target[1:]) for target in targets)
    assert soup.find(id="Title-2").find("a", class_="anchor-link")["href"] == "#Title-2"
    assert report_check.check_page(page, "report.html") == []


def test_the_landing_page_states_the_findings_then_links_to_every_page(run_metrics) -> None:
    pages = {"The data": "01_explore.html", "The MLP": "02_mlp.html"}
    page = index_html(run_metrics, pages, pdf_name="report.pdf")
    soup = BeautifulSoup(page, "html.parser")
    assert [item["data-finding"] for item in soup.select("ol.findings li")][0] == "winner"
    assert [link["href"] for link in soup.select("nav.pages a")] == ["01_explore.html", "02_mlp.html", "report.pdf"]
    assert page.index('class="findings"') < page.index('class="pages"') < page.index('id="results"')
    shown = {cell["data-metric"]: cell.get_text() for cell in soup.select("td[data-metric]")}
    assert shown["models.cnn.test_accuracy"] == "93.21% (92.71%–93.71%)"
    assert shown["timings.total_s"] == "4,263 s" and shown["cache.notebooks"].endswith("/ none")
    assert report_check.check_page(page, "index.html") == []


def test_a_recipe_shared_by_every_model_row_is_said_once(run_metrics) -> None:
    soup = BeautifulSoup(index_html(run_metrics, {}, pdf_name=None), "html.parser")
    table = soup.find(id="replication-table")
    assert "recipe" not in [cell.get_text() for cell in table.select("th")]
    assert "seed method, cosine recipe" not in table.get_text()
    assert "“seed method, cosine recipe”" in soup.find(id="replication").find_next("p").find_next("p").get_text()
    run_metrics["replication"]["claims"][1]["recipe"] = "extended"
    table = BeautifulSoup(index_html(run_metrics, {}, pdf_name=None), "html.parser").find(id="replication-table")
    assert "recipe" in [cell.get_text() for cell in table.select("th")]


def test_each_heading_takes_the_page_of_the_next_outline_entry_of_its_text() -> None:
    page = (
        '<h1 id="a">Misclassified shirts<a href="#a">¶</a></h1><h2 id="b">The search space</h2>'
        '<h1 id="c">Misclassified shirts</h1>'
    )
    outline = [("Contents", 2), ("Misclassified shirts", 5), ("The searchspace", 6), ("Misclassified shirts", 9)]
    assert heading_pages(page, outline) == {"a": 5, "b": 6, "c": 9}
    # A heading the outline lacks gets no page; the ones after it still get theirs.
    assert heading_pages(page, outline[:2] + outline[3:]) == {"a": 5, "c": 9}


@pytest.mark.skipif(
    find_chromium() is None or shutil.which("mutool") is None, reason="needs Chromium and MuPDF's mutool"
)
def test_the_contents_leave_the_report_title_out_of_the_first_notebooks_title(run_metrics) -> None:
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell(f"# {REPORT_TITLE} — 1. The data\n\n## Scaling the pixels")]
    )
    soup = BeautifulSoup(report_html(notebook_to_html(notebook, title="t"), run_metrics), "html.parser")
    contents = soup.select(".front-page")[1]
    assert [link.get_text() for link in contents.select("a")] == ["1. The data", "Scaling the pixels"]


def test_the_printed_contents_give_each_sections_page(tmp_path, run_metrics) -> None:
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell(f"# Notebook {index}\n\n## Section {index}\n\nText.") for index in (1, 2)]
    )
    pdf = tmp_path / "report.pdf"
    paths = []
    for index in (1, 2):
        nbformat.write(nbformat.v4.new_notebook(cells=[notebook.cells[index - 1]]), tmp_path / f"{index}.ipynb")
        paths.append(tmp_path / f"{index}.ipynb")
    write_report_pdf(combine_notebooks(paths), run_metrics, tmp_path / "report.html", pdf, show_code=False)
    contents = BeautifulSoup((tmp_path / "report.html").read_text(), "html.parser").select_one("ol.contents")
    # Title page, contents, then one page per notebook.
    assert [page.get_text() for page in contents.select(".page")] == ["3", "3", "4", "4"]
    # The PDF's bookmarks: the outline drops the space where a title wrapped.
    outline = [("".join(title.split()), page) for title, page in report_check.pdf_outline(pdf)]
    assert outline[:3] == [("".join(REPORT_TITLE.split()), 1), ("Whatthisrunfound", 1), ("Contents", 2)]
