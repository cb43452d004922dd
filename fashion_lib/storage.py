"""Atomic, durable writes: a result file is either complete or absent, never half-written, even after a crash.

Each file is written beside its target, flushed to the disk (fsync), renamed over the target, and the
rename itself is flushed (fsync of the folder), so that a power cut leaves the old file or the new one.
A write that fails (a full disk, a read-only folder) leaves the target as it was and raises the OSError
with the target's path in it, which `describe_write_error` turns into one line for the user.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# The errors of a write that ran out of room.
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


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
        sync_file(temporary_path)
        os.replace(temporary_path, target)
        _sync_folder(target.parent)
    except OSError as error:
        # A failed write() names no file; the target is what the user needs to know about.
        if error.filename is None:
            error.filename = str(target)
        raise
    finally:
        temporary_path.unlink(missing_ok=True)


def sync_file(path: str | Path) -> None:
    """Flush a file's data, or a folder's entries (a rename in it), from the operating system to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sync_folder(folder: Path) -> None:
    try:
        sync_file(folder)
    except OSError as error:
        # Some filesystems (network and FUSE mounts) cannot sync a folder; the file itself is on the disk already.
        if error.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise


def describe_write_error(error: OSError) -> str:
    """One line for an output that could not be written: what failed, where, and what to do."""
    where = f" ({error.filename})" if error.filename else ""
    if error.errno in NO_SPACE:
        advice = "free space on that disk, or point FASHION_RUNS_DIR and FASHION_REPORT_DIR at one with room"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "make the folder writable, or point FASHION_RUNS_DIR and FASHION_REPORT_DIR at a writable one"
    else:
        advice = "check the disk and the folder"
    return (
        f"could not write the outputs: {error.strerror or error}{where}. {advice[0].upper()}{advice[1:]}, then "
        "rerun; files already in place were not replaced (a report keeps its unfinished run's finished notebooks "
        "in .partial folders, which the next run reuses and `--fresh` discards)."
    )


class NotEnoughSpace(ValueError):
    """A disk has less free space than the outputs about to be written need."""


def folder_size(path: Path) -> int:
    """The bytes the files under a folder take (0 for a folder that does not exist)."""
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file()) if path.is_dir() else 0


def _existing(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def check_free_space(needs: Mapping[Path, int], *, what: str) -> None:
    """Refuse, before writing, outputs that would not fit: folders on one disk add their needs up.

    Args:
        needs: the bytes each folder is about to receive (it need not exist yet).
        what: what needs the room, for the message ("the report's pages").

    Raises:
        NotEnoughSpace: a disk has less free space than its folders need; the message gives both numbers.
    """
    disks: dict[int, tuple[Path, int, list[Path]]] = {}
    for folder, need in needs.items():
        existing = _existing(Path(folder))
        device = existing.stat().st_dev
        anchor, total, folders = disks.get(device, (existing, 0, []))
        disks[device] = (anchor, total + need, [*folders, Path(folder)])
    for anchor, need, folders in disks.values():
        # A folder that cannot be written at all is left to the write, whose error says why.
        if not os.access(anchor, os.W_OK):
            continue
        free = shutil.disk_usage(anchor).free
        if free < need:
            raise NotEnoughSpace(
                f"not enough space for {what}: about {_megabytes(need)} needed in "
                f"{' and '.join(map(str, folders))}, and that disk has {_megabytes(free)} free. Free space on it, or "
                "point FASHION_RUNS_DIR and FASHION_REPORT_DIR at a disk with room, then rerun."
            )


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def atomic_write_bytes(target: str | Path, payload: bytes) -> None:
    """Write `payload` to `target` atomically and durably."""
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
