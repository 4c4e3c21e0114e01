"""Shared test helpers: where the test specs live, and running the CLI in-process or as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Idle torch threads spin while they wait; on a shared 2-core machine that starves the other
# process (measured: two trainings side by side 283 s each, 35 s with PASSIVE). Set before
# any test imports torch; `netspec train` sets it for itself.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# The Triton backend's tests run its kernels on the CPU under Triton's interpreter, which can only be
# switched on before triton is first imported (see backends/triton/loader.py): so here, before any test.
os.environ.setdefault("TRITON_INTERPRET", "1")

TESTS = Path(__file__).parent
SPECS = TESTS / "specs"
ROOT = TESTS.parent


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m netspec ARGS` in a fresh process: exit codes and stderr as a user sees them."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "netspec", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli
