"""How the notebooks show tables: readable numbers, and no row index where it means nothing.

Each notebook calls `use_report_display()` once; from then on every DataFrame it shows (and so every table
of the HTML pages and the PDF) goes through `table_html`.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import pandas as pd

# What a missing value shows as: a conditional hyperparameter that a trial did not use, say.
MISSING = "–"
# Characters that fit across a printed page's table in the report's print styles (7-point type on A4,
# fashion_lib.report.rendering.TABLE_STYLES), and what each column's padding adds.
PRINT_WIDTH_CHARACTERS = 110
COLUMN_PADDING = 2
# A table split for print carries its own styles, so that a notebook shows it whole outside the report too.
SPLIT_STYLE = (
    "<style>.table-print { display: none; } .table-print table { margin-bottom: 0.8em; } "
    "@media print { .table-screen { display: none; } .table-print { display: block; } }</style>"
)


# Reader's names for the fields of the comparison's, calibration's and baseline's results ("{a}" and "{b}" stand
# for the two models' names), so that no table shows a field name as its header.
FIELD_LABELS = {
    "kendall_tau": "Kendall's τ of the predicted labels",
    "kendall_p_value": "p-value of τ",
    "agreement": "share of test images labelled alike",
    "accuracy_a": "{a} test accuracy",
    "accuracy_b": "{b} test accuracy",
    "both_wrong": "test images both get wrong",
    "only_a_wrong": "test images only the {a} gets wrong",
    "only_b_wrong": "test images only the {b} gets wrong",
    "mcnemar_p_value": "McNemar's exact p-value",
    "bins": "confidence bins",
    "ece_before": "ECE as trained",
    "ece_after": "ECE after temperature scaling",
    "nll_before": "log-loss as trained",
    "nll_after": "log-loss after temperature scaling",
    "temperature": "temperature T",
    "label": "model",
    "test_accuracy": "test accuracy",
    "shirt_accuracy": "shirts right",
    "train_images": "training images",
    "fit_seconds": "fitting time (s)",
    "iterations": "solver iterations",
    "converged": "converged",
}


def field_label(name: str, names: tuple[str, str] = ("A", "B")) -> str:
    """A result field's name for a reader (`FIELD_LABELS`), with the two compared models' names filled in."""
    return FIELD_LABELS.get(name, name.replace("_", " ")).format(a=names[0], b=names[1])


def readable_fields(frame: pd.DataFrame | pd.Series, names: tuple[str, str] = ("A", "B")) -> pd.DataFrame | pd.Series:
    """The frame (or series) with its field names, in the index and the columns, as a reader's labels."""
    if isinstance(frame, pd.Series):
        return frame.rename(index=lambda name: field_label(str(name), names))
    return frame.rename(index=lambda name: field_label(str(name), names), columns=lambda name: field_label(name, names))


def format_points(difference: float, decimals: int = 2) -> str:
    """A difference of two shares in percentage points, signed: 0.0123 -> "+1.23 percentage points"."""
    return f"{difference * 100:+.{decimals}f} percentage points"


def format_number(value: Any) -> str:
    """A number as a reader wants it: whole numbers as integers (1,457), four decimals below 1, two up to 1,000,
    none above, and scientific notation only for magnitudes below 0.001 (a p-value of 2.3e-12)."""
    if value is None or value is pd.NA or (isinstance(value, numbers.Real) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    magnitude = abs(value)
    if value.is_integer() and magnitude < 1e15:
        return f"{int(value):,}"
    if magnitude < 0.001:
        return f"{value:.2e}"
    if magnitude < 1:
        return f"{value:.4f}"
    if magnitude < 1000:
        return f"{value:.2f}"
    return f"{value:,.0f}"


def format_cell(value: Any) -> str:
    """A table cell: numbers (and missing values) by `format_number`, anything else as its text."""
    if value is None or value is pd.NA or isinstance(value, numbers.Number):
        return format_number(value)
    return str(value)


def has_meaningless_index(frame: pd.DataFrame) -> bool:
    """Whether the row index is pandas' default 0, 1, 2, ... without a name: row numbers that say nothing."""
    return frame.index.name is None and frame.index.equals(pd.RangeIndex(len(frame)))


def _html(text: pd.DataFrame, *, index: bool) -> str:
    table = text.to_html(index=index, max_rows=pd.get_option("display.max_rows"), border=0)
    # A narrow column's name may wrap after an underscore (learning_/rate), not in the middle of a word.
    head, separator, body = table.partition("</thead>")
    return head.replace("_", "_<wbr>") + separator + body


def _label_width(label: Any) -> int:
    """Characters of a column name's longest piece, once it wraps at its spaces and underscores."""
    parts = label if isinstance(label, tuple) else (label,)
    return max(len(piece) for part in parts for piece in str(part).replace("_", "_ ").split() or [""])


def print_column_groups(text: pd.DataFrame, *, index: bool) -> list[list[int]]:
    """The positions of the columns that each printed table holds: as many as fit a page's width.

    Without an index to name the rows, every printed table repeats the first column instead.
    """
    widths = [
        max([_label_width(label), *(len(value) for value in text.iloc[:, position])]) + COLUMN_PADDING
        for position, label in enumerate(text.columns)
    ]
    if index:
        row_names_width = max((len(str(label)) for label in text.index), default=0) + COLUMN_PADDING
        first, repeated = 0, []
    else:
        row_names_width, first, repeated = widths[0], 1, [0]
    groups: list[list[int]] = []
    used = PRINT_WIDTH_CHARACTERS
    for position in range(first, len(widths)):
        if used + widths[position] > PRINT_WIDTH_CHARACTERS and (not groups or len(groups[-1]) > len(repeated)):
            groups.append(list(repeated))
            used = row_names_width
        groups[-1].append(position)
        used += widths[position]
    return groups or [list(range(len(widths)))]


def table_html(frame: pd.DataFrame) -> str:
    """A DataFrame as an HTML table with readable numbers and without a meaningless index.

    A table too wide for a printed page is shown whole on screen and printed as several narrower tables.
    """
    # Every cell becomes its text first: pandas leaves the missing values of integer columns (<NA>) to itself.
    text = frame.map(format_cell)
    index = not has_meaningless_index(frame)
    whole = _html(text, index=index)
    groups = print_column_groups(text, index=index) if len(text.columns) else []
    if len(groups) <= 1:
        return whole
    parts = "".join(_html(text.iloc[:, group], index=index) for group in groups)
    return f'{SPLIT_STYLE}<div class="table-screen">{whole}</div><div class="table-print">{parts}</div>'


def use_report_display() -> None:
    """In a notebook: show every DataFrame through `table_html`, and plain-text floats through `format_number`."""
    pd.set_option("display.float_format", format_number)
    # Wide tables (a search's trials) are wrapped by the report's print styles rather than cut to "...".
    pd.set_option("display.max_columns", None)
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, table_html)
