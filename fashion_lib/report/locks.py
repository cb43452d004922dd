"""One report run per profile at a time: a lock file beside the profile's run folder.

The lock is an advisory `flock` on `<runs>/.<profile>.lock`, which the kernel releases when its holder ends in any
way (Ctrl-C, SIGKILL, a reboot), so a lock never outlives its process. The file also names the holder (process
id, its start time as /proc gives it, the boot it ran in): a second command reads that to say who runs, and a lock
whose named holder no longer exists is reported as taken over. Where `flock` is not honoured (some network file
systems), the holder's identity is still checked, so a live holder is never overrun; the start time guards against
a new process that happens to have the dead holder's process id.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fashion_lib import config


class RunInProgress(ValueError):
    """Another report command is running the same profile."""


@dataclass(frozen=True)
class LockHolder:
    """The process that holds, or held, a profile's lock."""

    pid: int
    started: str
    process_start: str | None
    boot_id: str | None

    def is_alive(self) -> bool:
        """Whether this very process still runs (same boot, same process id, same start time)."""
        if self.boot_id is not None and self.boot_id != _boot_id():
            return False
        current = _process_start(self.pid)
        return current is not None and (self.process_start is None or current == self.process_start)


def lock_path(profile: str) -> Path:
    """The lock file of a profile's report run."""
    return config.RUNS_DIR / f".{profile}.lock"


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _process_start(pid: int) -> str | None:
    """A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; the fields after its closing one are plain.
    return stat.rsplit(")", 1)[1].split()[19]


def _read_holder(handle: Any) -> LockHolder | None:
    handle.seek(0)
    try:
        record = json.loads(handle.read() or "null")
        return LockHolder(int(record["pid"]), str(record["started"]), record.get("process_start"), record.get("boot"))
    except (ValueError, TypeError, KeyError):
        return None


def _refusal(profile: str, holder: LockHolder | None) -> RunInProgress:
    who = f"process {holder.pid}, started {holder.started}" if holder else "a process that has not yet named itself"
    return RunInProgress(
        f"A report of profile '{profile}' is already running ({who}); wait for it to finish, or stop it "
        f"(Ctrl-C in its terminal{f', or kill {holder.pid}' if holder else ''}) and run this command again."
    )


def current_holder(profile: str) -> LockHolder | None:
    """The live process running a report of the profile, or None (the lock file names its holder while held)."""
    try:
        with open(lock_path(profile), encoding="utf-8") as handle:
            holder = _read_holder(handle)
    except OSError:
        return None
    return holder if holder is not None and holder.is_alive() else None


@contextlib.contextmanager
def profile_lock(profile: str) -> Iterator[LockHolder | None]:
    """Hold the profile's lock inside the block; yields the holder of a stale lock that was taken over, or None.

    Raises:
        RunInProgress: another live process holds the lock; the message names its process id and start time.
    """
    path = lock_path(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The file is never deleted: a process could otherwise lock a deleted file while another creates a new one.
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held open for the whole block)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # The holder writes its name right after locking; give it a moment if we came in between.
            holder = _read_holder(handle)
            for _ in range(20):
                if holder is not None:
                    break
                time.sleep(0.05)
                holder = _read_holder(handle)
            raise _refusal(profile, holder) from None
        previous = _read_holder(handle)
        if previous is not None and previous.pid != os.getpid() and previous.is_alive():
            fcntl.flock(handle, fcntl.LOCK_UN)
            raise _refusal(profile, previous)
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "process_start": _process_start(os.getpid()),
                    "boot": _boot_id(),
                    "command": " ".join(sys.argv),
                }
            )
        )
        handle.flush()
        try:
            yield previous
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()
