"""The machine's numerical identity: what can make the same seed give different numbers on another machine.

The same code, data and seed give the same numbers on one machine; on another, TensorFlow may pick other
kernels (oneDNN or not, AVX-512 or AVX2, another number of threads splitting a sum), whose rounding differs
in the last bits and, over a search and a training, can end in another model. metrics.json records these
facts under `machine` so that two runs can be told apart.
"""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path
from typing import Any

from fashion_lib import terminal

# CPU features that decide which matrix kernels TensorFlow and oneDNN use.
NUMERIC_CPU_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)
# Environment variables that set the number of threads of TensorFlow's and OpenMP's thread pools.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
CPUINFO = Path("/proc/cpuinfo")


def cpu_description(cpuinfo: str) -> dict[str, Any]:
    """The CPU's model name and which of NUMERIC_CPU_FLAGS it has, from the text of /proc/cpuinfo."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, separator, value = line.partition(":")
        if separator:
            fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    return {
        "cpu_model": fields.get("model name") or platform.processor() or None,
        "cpu_flags": [flag for flag in NUMERIC_CPU_FLAGS if flag in flags],
    }


def _onednn_enabled() -> bool | None:
    """Whether TensorFlow runs oneDNN kernels in this process (it reads TF_ENABLE_ONEDNN_OPTS), or None if unknown."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    # A private function, but the one TensorFlow's own tests use to ask whether oneDNN is on.
    return bool(_pywrap_util_port.IsMklEnabled())


def _tensorflow_threads() -> dict[str, int | None]:
    try:
        import tensorflow as tf
    except ImportError:
        return {"intra_op": None, "inter_op": None}
    return {
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def machine_identity() -> dict[str, Any]:
    """CPU model and flags, oneDNN setting and state, thread counts and usable CPUs of this machine.

    The thread counts are TensorFlow's settings (0: TensorFlow picks, one thread per usable CPU) and the
    environment variables the notebook kernels inherit from the report command.
    """
    try:
        cpuinfo = CPUINFO.read_text()
    except OSError:
        cpuinfo = ""
    with contextlib.suppress(ImportError):  # without TensorFlow the fields below say None
        terminal.import_tensorflow_quietly()
    return {
        "platform": platform.platform(),
        "architecture": platform.machine(),
        **cpu_description(cpuinfo),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "onednn": {
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
            "enabled": _onednn_enabled(),
        },
        "threads": _tensorflow_threads() | {name: os.environ.get(name) for name in THREAD_VARIABLES},
    }
