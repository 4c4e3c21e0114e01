"""Importing generated kernel files, compiled for the GPU or run by Triton's interpreter on the CPU.

Triton decides once, when `triton` is first imported, whether `@triton.jit` makes compiled or
interpreted functions: `triton.knobs.runtime.interpret` follows the TRITON_INTERPRET environment
variable, and triton.language's own helpers (`tl.zeros`, `tl.sum`, ...) are `@jit` functions created
at that import. Turning the variable on later makes our kernels interpreted but leaves those helpers
compiled, and the first launch fails ("Cannot call @triton.jit'd outside of the scope of a kernel").
So the one reliable way to run on the CPU from inside a process is to set TRITON_INTERPRET=1 before
anything imports triton: `use_interpreter()` does that, and says plainly when it is too late.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType


class InterpreterError(RuntimeError):
    """Triton was imported without its interpreter, and a CPU run needs it."""


def interpreting() -> bool:
    """Is (or will) triton run kernels with its interpreter?"""
    if "triton" in sys.modules:
        from triton import knobs

        return bool(knobs.runtime.interpret)
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def use_interpreter() -> None:
    """Make Triton interpret kernels on the CPU: possible only before triton is first imported."""
    if interpreting():
        return
    if "triton" in sys.modules:
        raise InterpreterError("triton was imported without its interpreter, so kernels cannot run on the CPU "
                               "in this process: set TRITON_INTERPRET=1 in the environment (or before the "
                               "first `import triton`)")
    os.environ["TRITON_INTERPRET"] = "1"


def load_module(path: str | Path, name: str) -> ModuleType:
    """Import the Python file at `path` as module `name` (Triton reads kernel source back from the file)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # the runner imports its kernels by this name
    spec.loader.exec_module(module)
    return module
