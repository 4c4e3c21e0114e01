"""Code generators, one subpackage per backend, and the registry that names them.

A backend is a package with three functions over an `ir.Network`:

- `build(spec, **options)`: something that runs the network (an `nn.Module` for both backends here);
- `generate_source(spec, **options)`: standalone source, a `str` (one file) or a `{relative path: text}`
  dict (a folder), which `netspec compile --backend NAME` writes;
- `default_passes(device)`: the names of the `netspec.passes` it runs before building for inference.

The registry holds only names and import paths, so listing backends imports neither torch nor triton;
`get` imports the package on first use and turns a missing dependency into a plain message.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Backend:
    name: str
    package: str  # imported on first use
    summary: str  # one line for --help
    needs: str  # what `pip install` brings it, for the error when it is missing


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("torch", "netspec.backends.torch", "a PyTorch nn.Module, or a readable model.py", "'netspec[torch]'"),
    Backend("triton", "netspec.backends.triton", "fused Triton kernels (GPU; the CPU under TRITON_INTERPRET=1)",
            "'netspec[triton]'"),
)}


class BackendError(Exception):
    """An unknown backend, or one whose dependencies are not installed."""


def get(name: str) -> ModuleType:
    """The package of backend `name`, imported."""
    backend = BACKENDS.get(name)
    if backend is None:
        raise BackendError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}")
    try:
        return importlib.import_module(backend.package)
    except ModuleNotFoundError as err:
        if err.name and backend.package.startswith(err.name):
            raise BackendError(f"the {name} backend is not part of this installation") from None
        raise BackendError(f"the {name} backend needs {err.name}: pip install {backend.needs}") from None


__all__ = ["BACKENDS", "Backend", "BackendError", "get"]
