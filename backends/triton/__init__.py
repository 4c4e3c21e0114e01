"""The Triton backend: a spec compiled to fused GPU kernels over one statically planned arena.

    >>> model = netspec.build("resnet18", backend="triton", dtype="bfloat16")   # doctest: +SKIP
    >>> model(torch.randn(1, 3, 224, 224, device="cuda"))

The pipeline: the inference passes (fold_bn, fuse_1x1, buffer_dense) -> `netspec.lower` -> `plan`
(fusion, placement, arena) -> `codegen` (kernel files from templates/, a model.py that launches them)
-> `module` (the generated model behind an nn.Module, weights read from a torch-backend model).
Without a GPU the kernels run on the CPU under Triton's interpreter (see loader.py for how it is
switched on). docs/TRITON.md explains the memory plan, the templates and the fusions.
"""

from __future__ import annotations

from typing import Any

from netspec import ir
from netspec.passes import INFERENCE_PASSES

DTYPES = ("float32", "bfloat16", "float16")

__all__ = ["build", "default_passes", "generate_source", "optimize", "report"]


def default_passes(device: Any = None) -> tuple[str, ...]:
    """Every inference pass, on every device: a dense block's buffer is what the memory plan wants."""
    return tuple(INFERENCE_PASSES)


def optimize(network: ir.Network, passes: tuple[str, ...] | None = None) -> ir.Network:
    passes = default_passes() if passes is None else passes
    for name in INFERENCE_PASSES:  # their fixed order: folding first leaves plain convs to fuse
        if name in passes:
            network = INFERENCE_PASSES[name](network)
    return network


def _resolve(spec: Any, params: dict | None = None, input: Any = None) -> ir.Network:
    import netspec

    if isinstance(spec, ir.Network):
        return spec
    if isinstance(spec, str) and ("\n" in spec or spec.lstrip().startswith("network ")):
        return netspec.parse(spec, params=params, input=input)
    return netspec.load(spec, params=params, input=input)


def generate_source(spec: Any, dtype: str = "float32", tf32: bool = False, interpret: bool = False,
                    **_: Any) -> dict[str, str]:
    """{relative path: text}: kernels/*.py and model.py (what `netspec compile --backend triton` writes).

    interpret: code for Triton's interpreter (only bfloat16 differs: its tiles are widened before tl.dot).
    """
    from .codegen import generate
    from .plan import make_plan

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    return generate(make_plan(optimize(_resolve(spec))), dtype=dtype, tf32=tf32, interpret=interpret)


def report(spec: Any, dtype: str = "float32", batch: int = 1) -> str:
    """For every kernel: the spec nodes it covers, its epilogue, tiles, MACs and bytes, where fusion stopped."""
    from .codegen import launches
    from .plan import make_plan
    from .report import render_report

    plan = make_plan(optimize(_resolve(spec)))
    return render_report(plan, launches(plan, dtype), batch)


def build(spec: Any, *, weights: Any = None, dtype: str = "float32", device: Any = None, seed: int | None = 0,
          tf32: bool = False, autotune: bool | None = None, cuda_graphs: bool = True, input: Any = None,
          **params: Any):
    """An inference nn.Module launching this network's generated kernels (see docs/TRITON.md).

    weights: what the torch backend's `weights=` takes (state_dict, file, ...); otherwise the torch
    backend's initialisation with `seed`. device: None is CUDA when available, else the CPU under
    Triton's interpreter. autotune: time a few tile candidates per launch on a GPU (cached on disk);
    None means on for CUDA, off for the interpreter, which uses the heuristics.
    """
    from .module import TritonModule

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    network = _resolve(spec, params or None, input)
    return TritonModule.create(network, weights=weights, dtype=dtype, device=device, seed=seed, tf32=tf32,
                               autotune=autotune, cuda_graphs=cuda_graphs)
