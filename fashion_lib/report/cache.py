"""What a notebook's results depend on, as one key, and the record of which files and metrics each notebook wrote.

A notebook of a report run is executed again only when its key changes. The key hashes the notebook's source, its
parameters, the `fashion_lib` code, the installed package versions, the data, and what it takes from the notebooks
before it. The run folder's state file (`pipeline.json`) records, per finished notebook, its key, the files it
wrote, the metrics it recorded and a content digest of each of those and of its executed copy, so that a later run
can check them, copy exactly those and rerun the rest (and a notebook whose outputs changed since).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fashion_lib import config
from fashion_lib.results import METRICS_FILE
from fashion_lib.storage import atomic_write_json

STATE_FILE = "pipeline.json"
# Files of the run folder that belong to the run, not to one notebook.
BOOKKEEPING_FILES = frozenset({METRICS_FILE, STATE_FILE})
# Parameters that change how a notebook runs, not what it computes.
EXECUTION_PARAMETERS = frozenset({"profile", "run_dir", "overwrite_search"})
# 02 and 03 split the data as 01 does: they depend on 01's split settings, not on what 01 wrote.
SPLIT_PARAMETERS = ("seed", "validation_fraction")
# What each notebook takes from the notebooks before it: a tuple names the parameters it shares with them, None
# means it reads their outputs (04 loads the models and metrics of 02 and 03), so a new execution of those reruns it.
UPSTREAM: dict[str, dict[str, tuple[str, ...] | None]] = {
    "01_explore": {},
    "02_mlp": {"01_explore": SPLIT_PARAMETERS},
    "03_cnn": {"01_explore": SPLIT_PARAMETERS},
    "04_compare": {"02_mlp": None, "03_cnn": None},
}


def _digest(payload: Any) -> str:
    """SHA-256 of a JSON-able value, independent of dict order."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def code_hash(package_dir: Path | None = None) -> str:
    """SHA-256 over every .py file of the `fashion_lib` package (relative path and content)."""
    package_dir = Path(package_dir or Path(__file__).resolve().parent.parent)
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(package_dir).as_posix().encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def data_fingerprint() -> dict[str, Any]:
    """The data's identity, cheaply: the folder, each file's size, and the MD5 sums every notebook verifies.

    The notebooks load the data with its checksums verified, so a run that finished read exactly the content those
    MD5 sums name; the folder and sizes tell apart another copy (e.g. $FASHION_MNIST_DIR) without reading it.
    """
    from fashion_lib.data import locate_data_dir

    directory = locate_data_dir()
    files = {}
    if directory is not None:
        files = {path.name: path.stat().st_size for path in sorted(directory.iterdir()) if path.is_file()}
    return {"folder": str(directory), "files": files, "md5": dict(config.DATA_MD5)}


def notebook_source_hash(notebook_path: Path) -> str:
    """SHA-256 of a notebook file as committed (without outputs)."""
    return _file_digest(notebook_path)


def notebook_key(
    notebook: str,
    parameters: Mapping[str, Mapping[str, Any]],
    *,
    source: str,
    environment: Mapping[str, Any],
    upstream_outputs: Mapping[str, str],
    quoted_runs: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A notebook's key and the components it hashes.

    Args:
        notebook: the notebook's name, e.g. "02_mlp".
        parameters: every notebook's papermill parameters (a notebook may share some with the ones before it).
        source: the notebook's source hash.
        environment: the `fashion_lib` code hash, the package versions and the data fingerprint.
        upstream_outputs: the output digest of each notebook this one reads, as settled in this run.
        quoted_runs: a digest of each other profile's metrics that the notebook quotes (04's replicate run).
    """
    upstream: dict[str, Any] = {}
    for name, shared in UPSTREAM.get(notebook, {}).items():
        if shared is None:
            upstream[name] = {"outputs": upstream_outputs[name]}
        else:
            upstream[name] = {parameter: parameters[name].get(parameter) for parameter in shared}
    components = {
        "source": source,
        "parameters": {k: v for k, v in parameters[notebook].items() if k not in EXECUTION_PARAMETERS},
        **environment,
        "upstream": upstream,
        "quoted_runs": dict(quoted_runs or {}),
    }
    return {"key": _digest(components), "components": components}


def quoted_metrics_digest(path: Path) -> str:
    """A digest of another run's metrics.json that a notebook quotes, or "absent" when there is none yet."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "absent"


def snapshot(run_dir: Path) -> dict[str, list[int]]:
    """Size and modification time of every file of a run folder except the run's own bookkeeping."""
    if not run_dir.is_dir():
        return {}
    files = {}
    for path in sorted(run_dir.rglob("*")):
        relative = path.relative_to(run_dir).as_posix()
        if path.is_file() and relative not in BOOKKEEPING_FILES:
            status = path.stat()
            files[relative] = [status.st_size, status.st_mtime_ns]
    return files


def written_files(before: Mapping[str, list[int]], after: Mapping[str, list[int]]) -> list[str]:
    """The files that are new or changed between two snapshots."""
    return sorted(path for path, status in after.items() if before.get(path) != status)


def metrics_written(before: Any, after: Any) -> Any:
    """The part of `after` that is new or changed compared to `before` (nested dicts compared key by key)."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return after
    changed = {}
    for key, value in after.items():
        if key not in before:
            changed[key] = value
        elif before[key] != value:
            changed[key] = metrics_written(before[key], value)
    return changed


def merge_metrics(base: dict[str, Any], addition: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `addition` merged in, nested dicts key by key (modifies and returns `base`)."""
    for key, value in addition.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge_metrics(base[key], value)
        else:
            base[key] = json.loads(json.dumps(value))
    return base


def output_digests(run_dir: Path, files: list[str], executed: Path, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The content digests of what a finished notebook produced, as its record keeps them.

    Args:
        run_dir: the run folder holding `files` (relative paths).
        executed: the notebook's executed copy.
        metrics: what the notebook recorded in metrics.json.

    Returns:
        "digests" (each file's SHA-256), "notebook_digest", "metrics_digest", and "outputs": one digest of the
        files and metrics together, which the key of a notebook reading them takes in.
    """
    digests = {name: _file_digest(run_dir / name) for name in files}
    return {
        "digests": digests,
        "notebook_digest": _file_digest(executed),
        "metrics_digest": _digest(metrics),
        "outputs": _digest({"files": digests, "metrics": metrics}),
    }


def damaged_output(record: Mapping[str, Any], run_dir: Path, executed: Path) -> str | None:
    """What of a finished notebook's outputs is missing or differs from what it wrote, in words; None if nothing.

    The files are checked against the digests its record holds, in order, and the first that fails is named.
    """
    digests = record.get("digests")
    if not isinstance(digests, dict) or set(digests) != set(record.get("files", [])):
        return f"its record in {run_dir / STATE_FILE} holds no digests of its outputs"
    checks = [(run_dir / name, digest) for name, digest in digests.items()]
    for path, digest in [*checks, (executed, record.get("notebook_digest"))]:
        found = file_digest(path)
        if found is None:
            return f"{path} is missing"
        if found != digest:
            return f"{path} is not the file the notebook wrote (its content digest differs)"
    if _digest(record.get("metrics")) != record.get("metrics_digest"):
        return f"the metrics its record in {run_dir / STATE_FILE} holds were changed"
    return None


def file_digest(path: Path) -> str | None:
    """SHA-256 of a file's content, or None if it is missing or cannot be read."""
    try:
        return _file_digest(path)
    except OSError:
        return None


def read_state(run_dir: Path) -> dict[str, Any]:
    """A run folder's state (finished notebooks, the one that was running), or an empty state."""
    path = run_dir / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"notebooks": {}}
    if not isinstance(state, dict) or not isinstance(state.get("notebooks"), dict):
        return {"notebooks": {}}
    return state


def write_state(run_dir: Path, state: Mapping[str, Any]) -> None:
    """Write a run folder's state atomically."""
    atomic_write_json(run_dir / STATE_FILE, state)


def copy_files(source_dir: Path, target_dir: Path, files: list[str]) -> None:
    """Copy the listed files (relative paths) from one run folder to another, keeping their times."""
    for name in files:
        target = target_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source_dir / name, target)


def remove_files(run_dir: Path, files: list[str]) -> None:
    """Delete the listed files of a run folder and the folders they leave empty."""
    for name in files:
        path = run_dir / name
        path.unlink(missing_ok=True)
        for parent in path.parents:
            if parent == run_dir or not parent.is_dir() or any(parent.iterdir()):
                break
            parent.rmdir()
