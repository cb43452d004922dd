"""The rendered-report check: each defect kind, seeded into a small page or a printed PDF, is found."""

from __future__ import annotations

import shutil

import pytest

from fashion_lib.report import check as report_check
from fashion_lib.report.rendering import find_chromium, print_pdf

FIGURE = '<img src="data:image/png;base64,iVBORw0KGgo=" alt="Bars of the ten classes, 6,000 images each.">'
PROSE = "The MLP labels 88.43% of the 10,000 test images correctly; Kendall's τ is 0.803. "
CLEAN = f"""<!DOCTYPE html><html lang="en"><head><title>t</title></head><body>
<h1 id="top">A page <a class="anchor-link" href="#top">¶</a></h1><p>{PROSE}</p>{FIGURE}
<table><tr><th>test accuracy</th><td>0.8843</td></tr></table>
<pre>loss 0.123456789</pre><p><code>{{config}}</code> stays code.</p></body></html>"""


def page_with(fragment: str) -> str:
    return CLEAN.replace("</body>", f"{fragment}</body>")


def kinds(defects: list[report_check.Defect]) -> list[str]:
    return [defect.kind for defect in defects]


def test_a_clean_page_has_no_defect() -> None:
    assert report_check.check_page(CLEAN, "clean.html") == []


@pytest.mark.parametrize(
    ("fragment", "kind", "found"),
    [
        ("<p>The MLP scored 0.8843000006 on the test set.</p>", report_check.UNROUNDED, "0.8843000006"),
        ("<p>The MLP scored 88.4300% on the test set.</p>", report_check.UNROUNDED, "88.4300%"),
        ("<td>0.79312344</td>", report_check.UNROUNDED, "0.79312344"),
        ("<p>The MLP scored {accuracy:.2%} on the test set.</p>", report_check.LEFTOVER, "{accuracy:.2%}"),
        ("<p>Trained on {{ images }} images.</p>", report_check.LEFTOVER, "{{ images }}"),
        ("<p>The best class is nan.</p>", report_check.LEFTOVER, "nan"),
        ("<p>Its interval is None.</p>", report_check.LEFTOVER, "None"),
        ('<h2 id="empty"><a class="anchor-link" href="#empty">¶</a></h2>', report_check.EMPTY_HEADING, "<h2> empty"),
        ('<img src="data:image/png;base64,AAAA">', report_check.NO_DESCRIPTION, "data:image/png"),
        (f'<img src="x.png" alt="{report_check.NBCONVERT_PLACEHOLDER_ALT}">', report_check.NO_DESCRIPTION, "x.png"),
        ('<p>See <a href="#nowhere">below</a>.</p>', report_check.BROKEN_LINK, "#nowhere"),
    ],
)
def test_each_page_defect_is_found(fragment: str, kind: str, found: str) -> None:
    defects = report_check.check_page(page_with(fragment), "seeded.html")
    assert kinds(defects) == [kind]
    assert defects[0].where == "seeded.html" and found in defects[0].detail


def test_numbers_a_reader_can_use_are_not_defects() -> None:
    fine = "<p>0.8843, 88.43%, 1,457 images, p = 2.3e-12, 94.5–94.7%, version 3.15.1, 2026-12-02.</p>"
    assert report_check.check_page(page_with(fine), "fine.html") == []


needs_tools = pytest.mark.skipif(
    find_chromium() is None or shutil.which("mutool") is None, reason="needs Chromium and MuPDF's mutool"
)


def printed(tmp_path, body: str):
    """The PDF Chromium prints of an A4 page holding `body`."""
    page = tmp_path / "page.html"
    styles = "<style>@page { size: A4; margin: 12mm; }</style>"
    page.write_text(f"<!DOCTYPE html><html><head>{styles}</head><body>{body}</body></html>")
    pdf = tmp_path / "page.pdf"
    print_pdf(page, pdf)
    return pdf


@needs_tools
def test_a_clean_pdf_has_no_defect(tmp_path) -> None:
    pdf = printed(tmp_path, f"<h1>Title</h1><p>{PROSE * 4}</p>")
    assert report_check.check_pdf(pdf) == []


@needs_tools
def test_a_pdf_page_with_a_heading_only_is_found(tmp_path) -> None:
    pdf = printed(
        tmp_path,
        f"<p>{PROSE * 4}</p><h2 style='break-before: page'>A lonely heading</h2>"
        f"<p style='break-before: page'>{PROSE * 4}</p>",
    )
    defects = report_check.check_pdf(pdf)
    assert [(defect.where, defect.kind) for defect in defects] == [("page.pdf page 2", report_check.EMPTY_PDF_PAGE)]


@needs_tools
def test_a_pdf_page_with_a_figure_and_little_text_is_fine(tmp_path) -> None:
    image = (
        '<img alt="a square" style="width: 8cm; height: 8cm" src="data:image/png;base64,'
        'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==">'
    )
    pdf = printed(tmp_path, f"<p>{PROSE * 4}</p><div style='break-before: page'>{image}<p>A caption.</p></div>")
    assert report_check.check_pdf(pdf) == []


@needs_tools
def test_text_below_seven_points_in_the_pdf_is_found(tmp_path) -> None:
    pdf = printed(tmp_path, f"<p>{PROSE * 4}</p><table style='font-size: 6pt'><tr><td>filters</td></tr></table>")
    defects = report_check.check_pdf(pdf)
    assert kinds(defects) == [report_check.SMALL_TEXT] and "6.0 pt: “filters”" in defects[0].detail


@needs_tools
def test_check_report_reads_every_page_and_the_pdf(tmp_path) -> None:
    report = tmp_path / "report"
    report.mkdir()
    (report / "index.html").write_text(CLEAN)
    (report / "02_mlp.html").write_text(page_with("<p>{accuracy}</p>"))
    shutil.copy(printed(tmp_path, f"<p style='font-size: 5pt'>{PROSE * 4}</p>"), report / "report.pdf")
    defects = report_check.check_report(report)
    assert [(defect.where, defect.kind) for defect in defects] == [
        ("02_mlp.html", report_check.LEFTOVER),
        ("report.pdf page 1", report_check.SMALL_TEXT),
    ]
    assert report_check.main([str(report)]) == 1
    (report / "02_mlp.html").write_text(CLEAN)
    (report / "report.pdf").unlink()
    assert report_check.main([str(report)]) == 0


@pytest.mark.parametrize("text", ["a learning rate of 0.000848", "optimizer in {sgd}", "rates 0.00102 and 0.0003"])
def test_small_rates_and_set_notation_are_not_defects(text: str) -> None:
    page = f"<html><body><h1>Title</h1><p>{text}</p></body></html>"
    assert report_check.check_page(page, "page.html") == []


@pytest.mark.parametrize("text", ["dropout 0.24439935658317602", "a rate of 0.0008476708"])
def test_many_significant_decimals_are_unrounded(text: str) -> None:
    [problem] = report_check.check_page(f"<html><body><h1>Title</h1><p>{text}</p></body></html>", "page.html")
    assert problem.kind == "unrounded number"
