"""How the notebooks show tables: readable numbers, no meaningless index, wide tables printed in parts."""

from __future__ import annotations

import math
import re

import nbformat
import numpy as np
import pandas as pd
import pytest

from fashion_lib.report.display import (
    COLUMN_PADDING,
    PRINT_WIDTH_CHARACTERS,
    format_cell,
    format_number,
    print_column_groups,
    table_html,
    use_report_display,
)
from fashion_lib.report.rendering import TABLE_STYLES, notebook_to_html


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1457.0, "1,457"),
        (np.int64(1457), "1,457"),
        (0.0, "0"),
        (0.774333, "0.7743"),
        (2.387255, "2.39"),
        (345.678, "345.68"),
        (12345.6, "12,346"),
        (0.001, "0.0010"),
        (0.0001, "1.00e-04"),
        (6.1e-97, "6.10e-97"),
        (-0.0941, "-0.0941"),
        (math.nan, "–"),
        (pd.NA, "–"),
        (True, "True"),
    ],
)
def test_numbers_print_as_a_reader_wants_them(value, shown):
    assert format_number(value) == shown


def test_no_number_of_magnitude_0_001_or_more_prints_in_scientific_notation():
    for value in np.concatenate([np.logspace(-3, 12, 400), -np.logspace(-3, 12, 400)]):
        assert "e" not in format_number(float(value)), value


def trials() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trial_id": ["0", "1"],
            "status": ["COMPLETED", "COMPLETED"],
            "score": [0.7185, 0.774333],
            "best_epoch": pd.array([2, pd.NA], dtype="Int64"),
            "duration_s": [2.387255, 4.986462],
            "units_1": [math.nan, 1024.0],
        }
    )


def test_a_table_without_a_meaningful_index_shows_none_and_readable_cells():
    shown = table_html(trials())
    assert "<th>0</th>" not in shown and "<NA>" not in shown and "&lt;NA&gt;" not in shown
    cells = re.findall(r"<td>([^<]*)</td>", shown)
    assert cells == ["0", "COMPLETED", "0.7185", "2", "2.39", "–", "1", "COMPLETED", "0.7743", "–", "4.99", "1,024"]


def test_a_meaningful_index_stays():
    comparison = pd.Series({"both_wrong": 1456.0, "mcnemar_p_value": 6.1e-97}, name="value").to_frame()
    shown = table_html(comparison)
    assert "<th>both_<wbr>wrong</th>" not in shown  # row names are not column names: they do not wrap
    assert re.findall(r"<th>([^<]*)</th>\s*<td>([^<]*)</td>", shown) == [
        ("both_wrong", "1,456"),
        ("mcnemar_p_value", "6.10e-97"),
    ]


def test_text_is_escaped():
    assert "&lt;b&gt;" in table_html(pd.DataFrame({"label": ["<b>"]}))


def wide_trials(columns: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"hyperparameter_{i}": rng.random(3) for i in range(columns)})
    frame.insert(0, "trial_id", ["0", "1", "2"])
    return frame


def test_a_table_that_fits_the_page_is_not_split():
    shown = table_html(wide_trials(4))
    assert shown.count("<table") == 1 and "table-print" not in shown


def test_a_wide_table_is_whole_on_screen_and_printed_in_parts_that_fit_the_page():
    frame = wide_trials(30)
    shown = table_html(frame)
    screen, _, printed = shown.partition('<div class="table-print">')
    assert screen.count("<table") == 1 and printed.count("<table") > 1
    text = frame.map(format_cell)
    groups = print_column_groups(text, index=False)
    assert all(group[0] == 0 for group in groups), "every part repeats the trial id"
    assert sorted({position for group in groups for position in group}) == list(range(len(frame.columns)))
    for group in groups:
        width = sum(max(len(text.columns[p].split("_")[0]) + 1, 6) + COLUMN_PADDING for p in group)
        assert width <= PRINT_WIDTH_CHARACTERS
    for column in frame.columns:
        assert column.replace("_", "_<wbr>") in printed


def test_the_report_display_shows_data_frames_through_table_html():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        use_report_display()
        formatted, _ = shell.display_formatter.format(trials())
        assert formatted["text/html"] == table_html(trials())
        assert "e+" not in repr(pd.DataFrame({"count": [1457.0, 0.5]}))
    finally:
        pd.reset_option("display.float_format")
        pd.reset_option("display.max_columns")
        InteractiveShell.clear_instance()


def test_the_report_pages_carry_print_styles_that_keep_every_column_on_the_page():
    page = notebook_to_html(nbformat.v4.new_notebook(), title="styles")
    assert TABLE_STYLES in page and page.index(TABLE_STYLES) < page.index("</head>")
    print_rules = TABLE_STYLES[TABLE_STYLES.index("@media print") :]
    assert "overflow: visible !important" in print_rules
    # Column names wrap at spaces and after underscores (display adds <wbr>), never inside a word ("filter s").
    assert "overflow-wrap: normal; word-break: normal" in print_rules and "anywhere" not in print_rules


def test_result_fields_read_as_labels_with_the_models_named():
    from fashion_lib.report.display import readable_fields

    comparison = pd.Series({"accuracy_a": 0.88, "only_b_wrong": 120, "kendall_tau": 0.9, "something_new": 1})
    labelled = readable_fields(comparison, names=("MLP", "CNN"))
    assert list(labelled.index) == [
        "MLP test accuracy",
        "test images only the CNN gets wrong",
        "Kendall's τ of the predicted labels",
        "something new",
    ]
    frame = readable_fields(pd.DataFrame({"ece_before": [0.1], "temperature": [1.2]}, index=["MLP"]))
    assert list(frame.columns) == ["ECE as trained", "temperature T"] and list(frame.index) == ["MLP"]
    assert not any("_" in label for label in labelled.index)


@pytest.mark.parametrize(
    ("difference", "decimals", "shown"),
    [
        (0.0123, 2, "+1.23 percentage points"),
        (-0.004, 1, "-0.4 percentage points"),
        (0.0, 2, "+0.00 percentage points"),
    ],
)
def test_differences_of_shares_are_written_in_percentage_points(difference, decimals, shown):
    from fashion_lib.report.display import format_points

    assert format_points(difference, decimals) == shown
