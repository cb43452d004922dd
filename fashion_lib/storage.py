"""Atomic writes: a result file is either complete or absent, never half-written."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; it replaces `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=target.suffix)
    os.close(handle)
    temporary_path = Path(temporary)
    # mkstemp creates the file private (0600); results are ordinary files, readable as the umask allows.
    umask = os.umask(0)
    os.umask(umask)
    temporary_path.chmod(0o666 & ~umask)
    try:
        yield temporary_path
        os.replace(temporary_path, target)
    finally:
        temporary_path.unlink(missing_ok=True)


def atomic_write_bytes(target: str | Path, payload: bytes) -> None:
    """Write `payload` to `target` atomically."""
    with atomic_path(target) as temporary:
        temporary.write_bytes(payload)


def atomic_write_text(target: str | Path, text: str) -> None:
    """Write `text` (UTF-8) to `target` atomically."""
    atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_json(target: str | Path, data: Any) -> None:
    """Write `data` as indented JSON to `target` atomically."""
    atomic_write_text(target, json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


def atomic_save(target: str | Path, save: Callable[[Path], None]) -> None:
    """Call `save(path)` on a temporary path and move the result to `target` when it succeeds."""
    with atomic_path(target) as temporary:
        save(temporary)


def to_builtin(value: Any) -> Any:
    """NumPy scalars and arrays as Python numbers and lists, paths as strings; anything else unchanged."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def _json_default(value: Any) -> Any:
    """What json.dumps writes for a value it cannot encode itself: its builtin form, if it has one."""
    converted = to_builtin(value)
    if converted is value:
        raise TypeError(f"Cannot write {type(value).__name__} to JSON.")
    return converted
