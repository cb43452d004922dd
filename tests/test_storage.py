"""Atomic, durable writes, and what a full disk or a read-only output folder does to a run (real small filesystems)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from fashion_lib import config, storage
from fashion_lib.cli import main
from fashion_lib.report import staging
from fashion_lib.report.profiles import NOTEBOOKS


@contextlib.contextmanager
def small_filesystem(mount_point: Path, *, size: str, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `mount_point` for the block: a real disk that fills up (or refuses writes)."""
    mount_point.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)], check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"mounting a small tmpfs needs root (mount failed: {error})")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=False, capture_output=True)


def test_a_write_is_flushed_to_disk_before_the_rename_and_the_rename_after(tmp_path, monkeypatch):
    events = []
    real_replace = os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))))
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", str(b))), real_replace(a, b)))
    target = tmp_path / "results" / "metrics.json"
    storage.atomic_write_json(target, {"accuracy": 0.9})
    assert [kind for kind, _ in events] == ["fsync", "replace", "fsync"]
    assert Path(events[0][1]).parent == target.parent and events[0][1] != str(target)
    assert events[1][1] == str(target) and events[2][1] == str(target.parent)
    assert target.read_text().startswith("{")


def test_a_full_disk_raises_naming_the_target_and_keeps_the_previous_file(tmp_path):
    with small_filesystem(tmp_path / "disk", size="64k") as disk:
        target = disk / "model.keras"
        target.write_bytes(b"previous model")
        with pytest.raises(OSError) as failed:
            storage.atomic_write_bytes(target, b"x" * 256 * 1024)
        assert failed.value.errno == errno.ENOSPC and failed.value.filename == str(target)
        assert target.read_bytes() == b"previous model"
        assert sorted(path.name for path in disk.iterdir()) == ["model.keras"]
        message = storage.describe_write_error(failed.value)
        assert f"No space left on device ({target})" in message and "Free space on that disk" in message
        # Environment variables are case-sensitive: the advice names them as they must be typed.
        assert "point FASHION_RUNS_DIR and FASHION_REPORT_DIR at one with room" in message


def write_stand_ins(folder: Path, bodies: dict[str, str]) -> None:
    """The four notebooks with their real parameters cells and a body of their own (no training)."""
    folder.mkdir()
    for _, name, _ in NOTEBOOKS:
        real = nbformat.read(config.NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
        parameters = next(cell for cell in real.cells if "parameters" in cell.metadata.get("tags", []))
        cells = [parameters, nbformat.v4.new_code_cell(bodies.get(name, "pass"))]
        nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata=real.metadata), folder / f"{name}.ipynb")


# Fills the run's disk until it refuses, then frees 32 KiB: the notebook ends, the report's pages do not fit.
FILL_THE_DISK = """
from pathlib import Path
filler = Path(run_dir) / "filler"
with open(filler, "wb") as handle:
    try:
        while True:
            handle.write(b"0" * 65536)
            handle.flush()
    except OSError:
        pass
with open(filler, "r+b") as handle:
    handle.truncate(max(filler.stat().st_size - 32768, 0))
"""


def test_a_full_disk_stops_the_report_with_one_line_and_keeps_the_previous_results(tmp_path, monkeypatch, capsys):
    notebooks = tmp_path / "notebooks"
    write_stand_ins(notebooks, {"04_compare": FILL_THE_DISK})
    monkeypatch.setattr(config, "NOTEBOOKS_DIR", notebooks)
    with small_filesystem(tmp_path / "disk", size="4m") as disk:
        monkeypatch.setattr(config, "RUNS_DIR", disk / "runs")
        monkeypatch.setattr(config, "REPORT_DIR", disk / "report")
        previous_report, previous_model = (
            config.report_dir("quick") / "index.html",
            config.run_dir("quick") / "cnn.keras",
        )
        for path, text in ((previous_report, "the previous report"), (previous_model, "the previous model")):
            path.parent.mkdir(parents=True)
            path.write_text(text)

        assert main(["report", "--profile", "quick"]) == 1
        error = capsys.readouterr().err
        # Above the error: papermill's progress bars of the notebooks that ran.
        assert "Traceback" not in error and error.count("error:") == 1
        last_line = error.splitlines()[-1]
        # The pages' need is checked before they are rendered: the run stops before writing any of them.
        assert last_line.startswith("error: not enough space for the report's pages: about ")
        assert f"needed in {disk / 'report' / '.quick.partial'}, and that disk has " in last_line
        assert previous_report.read_text() == "the previous report"
        assert previous_model.read_text() == "the previous model"
        # The unfinished run stays for the next run to reuse: the executed notebooks and what they wrote, no page.
        staged = disk / "report" / ".quick.partial"
        assert sorted(path.name for path in (staged / "notebooks").iterdir()) == [f"{n}.ipynb" for _, n, _ in NOTEBOOKS]
        assert not list(staged.glob("*.html")) and not (staged / "metrics.json").exists()
        assert (disk / "runs" / ".quick.partial" / "filler").is_file()


# Output papermill cannot fit into the executed notebook on a 2 MB report disk.
PRINT_MEGABYTES = "print('x' * 3_000_000)"


def every_json_file_is_valid(folder: Path) -> None:
    for path in [*folder.rglob("*.json"), *folder.rglob("*.ipynb")]:
        json.loads(path.read_text())


def test_a_full_report_disk_leaves_no_cut_off_notebook(tmp_path, monkeypatch, capsys):
    notebooks = tmp_path / "notebooks"
    write_stand_ins(notebooks, {"04_compare": PRINT_MEGABYTES})
    monkeypatch.setattr(config, "NOTEBOOKS_DIR", notebooks)
    monkeypatch.setattr(config, "RUNS_DIR", tmp_path / "runs")
    # A disk that fills up during the run: the first run's check before the notebooks is left out.
    monkeypatch.setattr(staging, "FIRST_RUN_BYTES", {"report": 0, "runs": 0})
    with small_filesystem(tmp_path / "disk", size="2m") as disk:
        monkeypatch.setattr(config, "REPORT_DIR", disk / "report")
        assert main(["report", "--profile", "quick"]) == 1
        error = capsys.readouterr().err
        assert "Traceback" not in error and error.count("error:") == 1
        assert error.splitlines()[-1].startswith("error: could not write the outputs: No space left on device (")
        staged = disk / "report" / ".quick.partial" / "notebooks"
        # 01-03 finished and stay for the next run; 04's executed copy, cut off by the full disk, is gone.
        assert sorted(path.name for path in staged.iterdir()) == [f"{n}.ipynb" for _, n, _ in NOTEBOOKS[:3]]
        every_json_file_is_valid(disk / "report")
        every_json_file_is_valid(tmp_path / "runs")


def test_a_first_run_on_a_2_mb_report_disk_is_refused_before_any_notebook(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(config, "RUNS_DIR", tmp_path / "runs")
    with small_filesystem(tmp_path / "disk", size="2m") as disk:
        monkeypatch.setattr(config, "REPORT_DIR", disk / "report")
        assert main(["report", "--profile", "quick"]) == 1
        out, error = capsys.readouterr()
        assert out == "" and error.count("\n") == 1
        assert error.startswith(
            "error: not enough space for a first run of profile 'quick' (at least what a quick run writes): about "
            f"5.0 MB needed in {disk / 'report' / '.quick.partial'}, and that disk has 2.1 MB free."
        )
        assert not (disk / "report").exists()


def test_a_run_larger_than_the_free_space_is_refused_before_any_notebook(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(config, "REPORT_DIR", tmp_path / "report")
    with small_filesystem(tmp_path / "disk", size="2m") as disk:
        monkeypatch.setattr(config, "RUNS_DIR", disk / "runs")
        # The profile's last run: a 1.5 MB model on the 2 MB disk, which leaves too little for a new run's copy.
        config.run_dir("quick").mkdir(parents=True)
        (config.run_dir("quick") / "cnn.keras").write_bytes(b"0" * 1_500_000)
        config.report_dir("quick").mkdir(parents=True)
        (config.report_dir("quick") / "metrics.json").write_text('{"run": {"id": "previous"}}')
        assert main(["report", "--profile", "quick"]) == 1
        out, error = capsys.readouterr()
        assert out == "" and error.count("\n") == 1
        assert error.startswith("error: not enough space for a run of profile 'quick' (as large as its last run): ")
        assert f"about 1.5 MB needed in {disk / 'runs' / '.quick.partial'}, and that disk has 0." in error
        assert "point FASHION_RUNS_DIR and FASHION_REPORT_DIR at a disk with room" in error
        assert sorted(path.name for path in (disk / "runs").iterdir()) == [".quick.lock", "quick"]


def test_a_read_only_output_folder_stops_the_report_before_any_notebook(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(config, "RUNS_DIR", tmp_path / "runs")
    with small_filesystem(tmp_path / "read-only", size="1m", read_only=True) as read_only:
        monkeypatch.setattr(config, "REPORT_DIR", read_only / "report")
        assert main(["report", "--profile", "quick"]) == 1
    error = capsys.readouterr()
    assert error.out == "" and error.err.count("\n") == 1
    assert error.err.startswith("error: could not write the outputs: Read-only file system (")
    assert "Make the folder writable" in error.err
