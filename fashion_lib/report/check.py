"""A check of the rendered report for the defects a program can find: on its HTML pages and in its PDF.

A page fails when its prose or tables show an unrounded number or a template leftover, a heading is empty,
a figure has no text description, or a link points at no anchor of the page; the PDF fails when a page holds
almost no text and no figure, or any text is set below a readable size. `check_report` runs every check on a
report folder; `python -m fashion_lib.report.check report/quick` prints what it finds and exits 1 on a defect.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup

UNROUNDED, LEFTOVER, EMPTY_HEADING, NO_DESCRIPTION, BROKEN_LINK, EMPTY_PDF_PAGE, SMALL_TEXT = (
    "unrounded number",
    "template leftover",
    "empty heading",
    "figure without description",
    "broken link",
    "PDF page without content",
    "text below readable size",
)
KINDS = (UNROUNDED, LEFTOVER, EMPTY_HEADING, NO_DESCRIPTION, BROKEN_LINK, EMPTY_PDF_PAGE, SMALL_TEXT)
# Print type below 7 points is hard to read on A4; Chromium writes sizes such as 6.99 for 7pt after scaling.
SMALLEST_PRINT_SIZE_PT = 6.95
# A PDF page with fewer characters than this and no image is a stray heading, caption or blank page.
LEAST_PAGE_CHARACTERS = 200
# nbconvert's alt text for an image output that came without one: no description at all.
NBCONVERT_PLACEHOLDER_ALT = "No description has been provided for this image"

# More decimals than a reader can use: 0.894300 or 89.4321% (a table's four decimals are display's rule); a
# small rate such as 0.000848 has three significant digits, which count, not its leading zeros.
_UNROUNDED = re.compile(r"(?<![\w.])\d+\.0*[1-9]\d{4,}(?![\w.])|(?<![\w.])\d+\.\d{3,}\s?%")
# A format field or placeholder that was never filled: {accuracy:.2%}, {{ name }}, a literal nan or None; a set
# of values after "in" (a search space's condition, "optimizer in {sgd}") is notation, not a leftover.
_LEFTOVER = re.compile(
    r"\{\{.*?\}\}|(?<!in )\{[A-Za-z_][\w.\[\]'\"]*(?:![rsa])?(?::[^{}]*)?\}|\b(?:nan|NaN|None|TODO|XXX)\b"
)
# Text a reader does not read as prose: program code and its printed output.
_NOT_PROSE = ("pre", "code", "script", "style", "svg")


@dataclass(frozen=True)
class Defect:
    """One defect: where it is (a page, or a PDF page), its kind (one of `KINDS`) and what was found."""

    where: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.detail}"


def _excerpt(text: str, match: re.Match[str], width: int = 40) -> str:
    start, end = max(0, match.start() - width), match.end() + width
    return " ".join(text[start:end].split())


def check_page(page: str, name: str) -> list[Defect]:
    """The defects of one HTML page (`page` its source, `name` how the report names it)."""
    soup = BeautifulSoup(page, "html.parser")
    for tag in soup.find_all(_NOT_PROSE):
        tag.decompose()
    body = soup.body or soup
    defects = []
    # Text node by text node, so a match never spans two cells of a table.
    for text in body.find_all(string=True):
        for pattern, kind in ((_UNROUNDED, UNROUNDED), (_LEFTOVER, LEFTOVER)):
            for match in pattern.finditer(str(text)):
                defects.append(Defect(name, kind, f"“{match.group()}” in “{_excerpt(str(text), match)}”"))
    for heading in body.find_all(re.compile(r"^h[1-6]$")):
        # nbconvert adds a "¶" anchor link to every heading: it is no heading text.
        if not heading.get_text().replace("¶", "").strip():
            defects.append(Defect(name, EMPTY_HEADING, f"<{heading.name}> {heading.get('id', '')}".strip()))
    for image in body.find_all("img"):
        description = (image.get("alt") or "").strip()
        if not description or description == NBCONVERT_PLACEHOLDER_ALT:
            source = image.get("src", "")
            defects.append(Defect(name, NO_DESCRIPTION, source[:40] + ("…" if len(source) > 40 else "")))
    anchors = {tag["id"] for tag in soup.find_all(id=True)}
    anchors |= {tag["name"] for tag in soup.find_all("a", attrs={"name": True})}
    for link in body.find_all("a", href=True):
        target = link["href"]
        if target.startswith("#") and len(target) > 1 and target[1:] not in anchors:
            defects.append(Defect(name, BROKEN_LINK, target))
    return defects


def _mutool(*arguments: str) -> bytes:
    """What MuPDF's `mutool` prints for `arguments`.

    Raises:
        RuntimeError: mutool is not installed (Debian package mupdf-tools; `make system-deps` installs it).
    """
    mutool = shutil.which("mutool")
    if mutool is None:
        raise RuntimeError(
            "mutool is not installed, so the PDF cannot be checked. Install it with "
            "`apt-get install -y --no-install-recommends mupdf-tools` (as root; `make system-deps` does this)."
        )
    return subprocess.run([mutool, *arguments], capture_output=True, check=True).stdout


def structured_text(pdf: Path) -> ElementTree.Element:
    """MuPDF's structured text of a PDF: its pages, their text lines, each run of text with its font size."""
    return ElementTree.fromstring(_mutool("draw", "-q", "-F", "stext", "-o", "-", str(pdf)))


def pdf_outline(pdf: Path) -> list[tuple[str, int]]:
    """The PDF's outline (bookmarks), in order: (title, page) of each entry, from `mutool show ... outline`."""
    entries = []
    for line in _mutool("show", str(pdf), "outline").decode("utf-8", "replace").splitlines():
        match = re.search(r'"(.*)"\t#page=(\d+)', line)
        if match:
            entries.append((match.group(1), int(match.group(2))))
    return entries


def images_per_page(pdf: Path) -> list[int]:
    """The number of images drawn on each page of a PDF, from MuPDF's trace of its drawing operations."""
    counts: list[int] = []
    for line in _mutool("trace", str(pdf)).decode("utf-8", "replace").splitlines():
        stripped = line.lstrip()
        if stripped.startswith("<page "):
            counts.append(0)
        elif stripped.startswith(("<fill_image ", "<fill_image_mask ")) and counts:
            counts[-1] += 1
    return counts


def check_pdf(pdf: Path, *, name: str | None = None) -> list[Defect]:
    """The defects of a printed PDF: pages without content, text below `SMALLEST_PRINT_SIZE_PT`."""
    name = name or pdf.name
    defects = []
    images = images_per_page(pdf)
    for number, page in enumerate(structured_text(pdf).iter("page"), start=1):
        where = f"{name} page {number}"
        characters = "".join(char.get("c", "") for char in page.iter("char"))
        if len(characters.strip()) < LEAST_PAGE_CHARACTERS and not images[number - 1]:
            defects.append(Defect(where, EMPTY_PDF_PAGE, f"{len(characters.strip())} characters, no figure"))
        small: dict[float, str] = {}
        for font in page.iter("font"):
            size = float(font.get("size", "0"))
            if 0 < size < SMALLEST_PRINT_SIZE_PT:
                text = "".join(char.get("c", "") for char in font.iter("char"))
                small[size] = small.get(size, "") + text
        for size, text in sorted(small.items()):
            defects.append(Defect(where, SMALL_TEXT, f"{size:.1f} pt: “{' '.join(text.split())[:60]}”"))
    return defects


def check_report(report_dir: Path) -> list[Defect]:
    """Every defect of a report folder: its HTML pages (index.html and the notebooks') and report.pdf."""
    report_dir = Path(report_dir)
    defects = []
    for page in sorted(report_dir.glob("*.html")):
        defects.extend(check_page(page.read_text(encoding="utf-8"), page.name))
    pdf = report_dir / "report.pdf"
    if pdf.is_file():
        defects.extend(check_pdf(pdf))
    return defects


def main(arguments: list[str]) -> int:
    """Print the defects of the report folders given (default report/standard); 1 when any was found."""
    from fashion_lib import config

    folders = [Path(argument) for argument in arguments] or [config.report_dir("standard")]
    defects = [defect for folder in folders for defect in check_report(folder)]
    for defect in defects:
        print(defect)
    print(f"{len(defects)} defect(s) in {', '.join(map(str, folders))}")
    return 1 if defects else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
