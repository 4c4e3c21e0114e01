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


CLASSES = ("bar", "cross", "disc")


def write_pictures(root: Path, per_class: int, seed: int = 0) -> None:
    """Small JPEGs of three shapes at random places on random backgrounds, 40x32, in root/<class>/."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            im = Image.new("RGB", (40, 32), tuple(rng.randrange(256) for _ in range(3)))
            d = ImageDraw.Draw(im)
            x, y = rng.randrange(4, 20), rng.randrange(4, 14)
            ink = (255 - im.getpixel((0, 0))[0], 255, 0)
            if name == "bar":
                d.rectangle([x, y, x + 16, y + 4], fill=ink)
            elif name == "cross":
                d.line([x, y, x + 14, y + 14], fill=ink, width=3)
                d.line([x + 14, y, x, y + 14], fill=ink, width=3)
            else:
                d.ellipse([x, y, x + 14, y + 14], fill=ink)
            im.save(root / name / f"{i:05d}.jpg", quality=90)
