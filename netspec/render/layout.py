"""Graphviz's `dot` as the layout engine: DOT text in, SVG, PNG or PDF bytes out."""

from __future__ import annotations

import shutil
import subprocess

FORMATS = ("svg", "png", "pdf")
INSTALL_HINT = ("install Graphviz, which provides `dot`: `apt-get install graphviz` (Debian, Ubuntu), "
                "`brew install graphviz` (macOS), or see https://graphviz.org/download/")


class DotMissing(RuntimeError):
    """Graphviz's `dot` is not on PATH."""


class DotFailed(RuntimeError):
    """`dot` ran and refused the input (a bug in the DOT writer: the message says what dot said)."""


def have_dot() -> bool:
    return shutil.which("dot") is not None


def layout(dot_text: str, fmt: str, timeout: float = 300) -> bytes:
    """Lay the graph out with `dot -T<fmt>` and return the picture."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    exe = shutil.which("dot")
    if exe is None:
        raise DotMissing(INSTALL_HINT)
    done = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise DotFailed(done.stderr.decode("utf-8", "replace").strip() or f"dot exited with {done.returncode}")
    return done.stdout
