"""Rendering executed notebooks: what a page keeps of a notebook's outputs."""

from __future__ import annotations

import nbformat

from fashion_lib.rendering import notebook_to_html, without_tensorflow_notices

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
