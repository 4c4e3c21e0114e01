"""The PyTorch backend: a spec becomes an nn.Module, readable Python source, or an exported graph.

    >>> import netspec
    >>> model = netspec.build("network tiny\\ninput 1x28x28\\nconv3-8 relu maxpool fc-10", seed=0)
    >>> model(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])

See docs/TORCH.md for naming, initialisation, side outputs, weights and the inference passes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from netspec import ir

from . import lowering
from .builder import build_module, init_weights
from .export import export  # the name is the function: ONNX (`fmt="onnx"`) or torch.export (`"pt2"`)
from .modules import Network
from .weights import LoadReport, WeightsError, load_weights, save_weights

__all__ = ["build", "load_weights", "save_weights", "optimize_for_inference", "generate_source", "export",
           "resolve_spec", "LoadReport", "WeightsError", "Network", "lowering"]


def resolve_spec(spec: Any, params: dict | None = None, input: str | tuple | None = None) -> ir.Network:
    """An ir.Network from a Network, a path or zoo name, or .net text."""
    import netspec

    if isinstance(spec, ir.Network):
        if params or input is not None:
            raise ValueError("params and input apply to a spec read from text; this Network is already elaborated")
        return spec
    if isinstance(spec, Path) or (isinstance(spec, str) and "\n" not in spec and not spec.lstrip().startswith("network ")):
        return netspec.load(spec, params=params, input=input)
    if isinstance(spec, str):
        return netspec.parse(spec, params=params, input=input)
    raise TypeError(f"a spec is an ir.Network, a path, a zoo name or .net text, not {type(spec).__name__}")


def build(spec: Any, *, seed: int | None = None, init: Literal["default", "skip"] = "default",
          optimize: Literal["inference"] | None = None, channels_last: bool = False, compile: bool = False,
          zero_init_residual: bool = False, weights: Any = None, input: str | tuple | None = None,
          device: str | torch.device | None = None, **params: Any) -> nn.Module:
    """Build `spec` as a torch module (see the module docstring and docs/TORCH.md).

    seed: makes initialisation deterministic (a private generator; the global RNG is untouched).
    init="skip": parameters are allocated but not initialised, for a fast build before `load_weights`.
    weights: a state_dict or file loaded (strictly) before any optimisation.
    optimize="inference": fold batch norms, fuse inception 1x1 convs, buffer dense blocks; eval mode.
    device: where the parameters live (initialisation and weights happen on CPU first, so a seed
    gives the same weights everywhere); it also picks the default inference passes.
    channels_last: weights and input in NHWC memory order (faster convolutions on CPU).
    compile: wrap with torch.compile.
    params / input: spec parameters and input shape when the spec is read from text or a file.
    """
    if init not in ("default", "skip"):
        raise ValueError(f"init must be 'default' or 'skip', not {init!r}")
    if optimize not in (None, "inference"):
        raise ValueError(f"optimize must be None or 'inference', not {optimize!r}")
    network = resolve_spec(spec, params, input)
    model = build_module(network)
    model.to_empty(device="cpu")
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    init_weights(model, generator, skip=init == "skip", zero_init_residual=zero_init_residual)
    if weights is not None:
        load_weights(model, weights)
    if device is not None:
        model = model.to(device)
    if optimize == "inference":
        model = optimize_for_inference(model)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        model.channels_last = True
    if compile:
        model = torch.compile(model)
    return model


def optimize_for_inference(model: Network, passes: tuple[str, ...] | None = None) -> Network:
    """A new eval-mode module for the optimised IR, its weights computed from `model`'s.

    passes: names from netspec.passes.INFERENCE_PASSES, always applied in that order;
    by default all of them on CPU, and all but buffer_dense on a GPU (see optimize.py).
    """
    from .optimize import optimize_for_inference as run

    return run(model, passes)


def generate_source(spec: Any, class_name: str | None = None) -> str:
    """Standalone Python source for `spec` (what `netspec compile --backend torch` writes)."""
    from .codegen import generate

    return generate(spec if isinstance(spec, ir.Network) else resolve_spec(spec), class_name_override=class_name)


def default_passes(device: str | torch.device = "cpu") -> tuple[str, ...]:
    """The inference passes `optimize="inference"` runs on this device (see optimize.default_passes)."""
    from .optimize import passes_for

    return passes_for(torch.device(device))
