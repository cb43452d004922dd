"""The one place that writes and reads a run's metrics, so notebooks and metrics.json cannot drift apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fashion_lib.storage import atomic_write_json

METRICS_FILE = "metrics.json"


def read_results(run_dir: str | Path) -> dict[str, Any]:
    """Everything recorded so far in a run (an empty dict for a new run)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def record_results(run_dir: str | Path, section: str, values: dict[str, Any]) -> dict[str, Any]:
    """Store `values` under a dotted `section` (e.g. "models.mlp") of the run's metrics, atomically.

    Returns `values`, so a notebook can record and display the same object.
    """
    results = read_results(run_dir)
    node = results
    *parents, leaf = section.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = values
    atomic_write_json(Path(run_dir) / METRICS_FILE, results)
    return values


def lookup(results: dict[str, Any], section: str) -> Any:
    """The value under a dotted `section` of `results`, with a clear error when a notebook has not run."""
    node: Any = results
    for key in section.split("."):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(
                f"'{section}' is not in the run's metrics: run the notebook that computes it first "
                "(the notebooks run in order 01 → 04)."
            )
        node = node[key]
    return node
