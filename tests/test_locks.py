"""One report run per profile: a live holder refuses others, a dead holder's lock is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from fashion_lib import config
from fashion_lib.report import locks

HOLD = "from fashion_lib.report.locks import profile_lock\n"
HOLD += "with profile_lock('{profile}'):\n    print('locked', flush=True)\n"
HOLD += "    import time; time.sleep(120)\n"


@pytest.fixture
def runs_dir(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "RUNS_DIR", tmp_path)
    return tmp_path


def hold(runs_dir, profile):
    """A process that holds the profile's lock until it is killed."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD.format(profile=profile)],
        env=os.environ | {"FASHION_RUNS_DIR": str(runs_dir)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "locked"
    return process


def test_a_second_run_of_a_profile_is_refused_naming_the_first(runs_dir):
    holder = hold(runs_dir, "quick")
    try:
        with pytest.raises(locks.RunInProgress, match=rf"already running \(process {holder.pid}, started \d{{4}}-"):
            with locks.profile_lock("quick"):
                pass
    finally:
        holder.kill()
        holder.wait()


def test_different_profiles_run_side_by_side(runs_dir):
    holder = hold(runs_dir, "quick")
    try:
        with locks.profile_lock("standard") as stale:
            assert stale is None
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_killed_run_is_taken_over(runs_dir):
    holder = hold(runs_dir, "quick")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with locks.profile_lock("quick") as stale:
        assert stale is not None and stale.pid == holder.pid and not stale.is_alive()
    # Released at the end of the block: the next run finds nothing to take over.
    with locks.profile_lock("quick") as stale:
        assert stale is None


def test_a_recorded_holder_is_alive_only_with_its_own_start_time():
    me = locks.LockHolder(os.getpid(), "now", locks._process_start(os.getpid()), locks._boot_id())
    assert me.is_alive()
    # Same process id, another start time: the id was reused by a new process after the holder died.
    assert not locks.LockHolder(me.pid, "now", str(int(me.process_start) + 1), me.boot_id).is_alive()
    assert not locks.LockHolder(me.pid, "now", me.process_start, "another boot").is_alive()
