"""The terminal shows the project's own lines: start-up notices left out, refusals before TensorFlow loads.

TF_ENABLE_ONEDNN_OPTS=1 makes TensorFlow print its oneDNN notice on any CPU where oneDNN can run, as it does by
default on AVX-512 / AMX Intel CPUs, so these tests catch on an AVX2 machine what users meet on the others.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fashion_lib import config, terminal

# The lines TensorFlow 2.21 printed at import on a 2-core AVX-512 + AMX machine, and ipykernel's at start.
NOTICES = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796289701.749961   13700 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders. "
    "To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.",
    "I0000 00:00:1796289869.681735   16127 cpu_feature_guard.cc:210] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
    "[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication (including code "
    "and outputs) is sent in plain text and is susceptible to eavesdropping.",
)
# Lines a user must still see.
REAL_LINES = (
    "UserWarning: the model has no defined input",
    "Traceback (most recent call last):",
    "E0000 something went wrong without a source position",
    "error: seed = -3 is not allowed",
    "[IPKernelApp] ERROR | Exception in message handler:",
)


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    environment = os.environ | {
        "PYTHONPATH": str(config.PROJECT_ROOT),
        "FASHION_RUNS_DIR": str(tmp_path / "runs"),
        "FASHION_REPORT_DIR": str(tmp_path / "report"),
        "TF_ENABLE_ONEDNN_OPTS": "1",
    }
    environment.pop(terminal.VERBOSE_ENV, None)
    return environment | extra


@pytest.mark.parametrize("line", NOTICES)
def test_start_up_notices_are_recognised(line: str) -> None:
    assert terminal.is_startup_notice(line) and terminal.is_startup_notice(line + "\n")


@pytest.mark.parametrize("line", REAL_LINES)
def test_real_warnings_and_errors_are_not_notices(line: str) -> None:
    assert not terminal.is_startup_notice(line)


def test_a_childs_stderr_reaches_the_terminal_without_its_notices() -> None:
    out = io.StringIO()
    lines = [*NOTICES[:2], REAL_LINES[0], NOTICES[3], REAL_LINES[1]]
    child = f"import sys\nfor line in {lines!r}: print(line, file=sys.stderr)"
    with terminal.filtered_stderr(out) as stream:
        subprocess.run([sys.executable, "-c", child], stderr=stream, check=True)
    assert out.getvalue() == f"{REAL_LINES[0]}\n{REAL_LINES[1]}\n"


IMPORT_TENSORFLOW = textwrap.dedent(
    """
    import sys
    from fashion_lib import terminal
    print("before", file=sys.stderr, flush=True)
    terminal.import_tensorflow_quietly()
    import tensorflow  # already imported, unless verbose: then its notices show
    print("after", file=sys.stderr, flush=True)
    """
)


def test_tensorflow_imports_without_its_notices_and_verbose_shows_them(tmp_path: Path) -> None:
    quiet = subprocess.run(
        [sys.executable, "-c", IMPORT_TENSORFLOW], env=_environment(tmp_path), capture_output=True, text=True
    )
    assert quiet.returncode == 0 and quiet.stderr == "before\nafter\n", quiet.stderr
    verbose = subprocess.run(
        [sys.executable, "-c", IMPORT_TENSORFLOW],
        env=_environment(tmp_path, **{terminal.VERBOSE_ENV: "1"}),
        capture_output=True,
        text=True,
    )
    # The premise: with oneDNN on, TensorFlow does print its notice (else the quiet run proves nothing).
    assert "oneDNN custom operations are on" in verbose.stderr, verbose.stderr


# Commands that must refuse in one line, without importing TensorFlow (or nbconvert), whatever the CPU.
REFUSED_COMMANDS = {
    "report bad seed": ["report", "--profile", "quick", "--set", "seed=-3"],
    "report unknown parameter": ["report", "--profile", "quick", "--set", "mlp.no_such_parameter=1"],
    "report unknown profile": ["report", "--profile", "no-such-profile"],
    "report bad option value": ["report", "--profile", "quick", "--keep-runs", "-1"],
    "tune bad value": ["tune", "--model", "mlp", "--profile", "quick", "--set", "mlp.max_trials=0"],
    "tune unknown model": ["tune", "--model", "rnn", "--profile", "quick"],
    "tune no workers": ["tune", "--model", "cnn", "--workers", "0"],
    "predict missing model": ["predict", "--model", "{tmp}/none.keras", "{tmp}/shirt.png"],
    "predict missing picture": ["predict", "--model", "{tmp}/none.keras", "{tmp}/gone.png"],
    "predict bad top": ["predict", "--top", "0", "{tmp}/shirt.png"],
    "data missing folder": ["data", "--data-dir", "{tmp}/nowhere"],
    "bench bad batch": ["bench", "--batch-size", "0"],
    "unknown command": ["frobnicate"],
}
RUN_CLI = textwrap.dedent(
    """
    import sys
    from fashion_lib.cli import main
    code = main(sys.argv[1:])
    heavy = sorted(name for name in ("tensorflow", "keras", "nbconvert") if name in sys.modules)
    print("imported: " + ",".join(heavy))
    sys.exit(code)
    """
)


@pytest.mark.parametrize("arguments", REFUSED_COMMANDS.values(), ids=REFUSED_COMMANDS.keys())
def test_a_refused_command_prints_one_error_line_before_importing_tensorflow(arguments, tmp_path) -> None:
    from PIL import Image

    Image.new("L", (40, 60), color=255).save(tmp_path / "shirt.png")
    arguments = [argument.format(tmp=tmp_path) for argument in arguments]
    result = subprocess.run(
        [sys.executable, "-c", RUN_CLI, *arguments],
        env=_environment(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, (result.returncode, result.stderr)
    errors = result.stderr.splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: "), result.stderr
    assert result.stdout.splitlines()[-1] == "imported: ", result.stdout
    assert not (tmp_path / "runs").exists() and not (tmp_path / "report").exists()
