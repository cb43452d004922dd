"""The machine's numerical identity that metrics.json records."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from fashion_lib import config
from fashion_lib.machine import NUMERIC_CPU_FLAGS, cpu_description, machine_identity

CPUINFO = """processor\t: 0
model name\t: Example CPU @ 2.00GHz
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_vnni amx_tile
processor\t: 1
model name\t: Example CPU @ 2.00GHz
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_vnni amx_tile
"""


def test_the_cpu_model_and_the_flags_that_choose_kernels_are_read_from_cpuinfo():
    assert cpu_description(CPUINFO) == {
        "cpu_model": "Example CPU @ 2.00GHz",
        "cpu_flags": ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "amx_tile"],
    }


def test_this_machines_identity_holds_cpu_onednn_and_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    identity = machine_identity()
    assert identity["cpu_model"] and set(identity["cpu_flags"]) <= set(NUMERIC_CPU_FLAGS)
    assert 1 <= identity["usable_cpus"] <= identity["logical_cpus"]
    assert identity["threads"]["OMP_NUM_THREADS"] == "2"
    assert isinstance(identity["threads"]["intra_op"], int) and isinstance(identity["threads"]["inter_op"], int)
    json.dumps(identity)


def test_onednn_switched_off_by_its_variable_is_recorded_as_off():
    code = "import json; from fashion_lib.machine import machine_identity; print(json.dumps(machine_identity()))"
    environment = os.environ | {"PYTHONPATH": str(config.PROJECT_ROOT), "TF_ENABLE_ONEDNN_OPTS": "0"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True, timeout=300
    )
    onednn = json.loads(result.stdout.strip().splitlines()[-1])["onednn"]
    assert onednn == {"TF_ENABLE_ONEDNN_OPTS": "0", "enabled": False}
