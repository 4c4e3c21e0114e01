"""netspec: a compiler for convolutional networks written as text.

    >>> import netspec
    >>> net = netspec.parse("network tiny\\ninput 1x28x28\\nconv3-8 relu maxpool fc-10")
    >>> net.output_shape
    (10,)

The front end (parse, load, format) and the analysis never import torch;
`build` imports the backend it is asked for.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from .diagnostics import Diagnostic, SpecError
from .frontend import format, load, parse
from .ir import Network
from .limits import Limits

__all__ = ["Diagnostic", "Limits", "Network", "SpecError", "build", "format", "load", "parse", "__version__"]


def build(spec: Any, backend: str = "torch", **options: Any) -> Any:
    """Compile a spec (a Network, a path or zoo name, or .net text) with a backend (netspec.backends.BACKENDS).

    `torch` gives a trainable nn.Module; `triton` an inference module that launches fused kernels.
    """
    from .backends import get

    return get(backend).build(spec, **options)
