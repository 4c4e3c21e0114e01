"""Inference optimisation: run the IR passes, build the new module, compute its weights.

The passes (netspec.passes) decide the structure; this module does the arithmetic they
recorded: batch-norm folding and stacking of fused 1x1 convs, in float64 so the folded
model stays within float32 rounding of the original.
"""

from __future__ import annotations

import torch

from netspec import ir
from netspec.ir import layers
from netspec.passes import INFERENCE_PASSES

from .builder import build_module, init_weights
from .lowering import has_module, lowering_for
from .modules import Network


def default_passes(model: Network) -> tuple[str, ...]:
    """Every pass on CPU; on a GPU the dense-block buffer is left out.

    Measured (benchmarks/bench_torch.py --variants, batch 8, 224x224, channels_last):
    buffering DenseNet-121's dense blocks took it from 1.45x to 1.81x over eager on CPU,
    but from 1.19x down to 1.11x on an H200, where strided reads of the buffer's channel
    prefix cost more than the concatenations they replace.
    """
    source = next(iter(model.parameters()), None)
    return passes_for(source.device if source is not None else torch.device("cpu"))


def passes_for(device: torch.device) -> tuple[str, ...]:
    if device.type != "cpu":
        return ("fold_bn", "fuse_1x1")
    return tuple(INFERENCE_PASSES)


def optimize_for_inference(model: Network, passes: tuple[str, ...] | None = None) -> Network:
    if passes is None:
        passes = default_passes(model)
    unknown = [p for p in passes if p not in INFERENCE_PASSES]
    if unknown:
        raise ValueError(f"unknown pass {unknown[0]!r}; passes are {', '.join(INFERENCE_PASSES)}")
    network = model.network
    for name in INFERENCE_PASSES:  # a fixed order: folding first leaves plain convs to fuse
        if name in passes:
            network = INFERENCE_PASSES[name](network)
    new = build_module(network)
    source = next(iter(model.parameters()), None)
    new.to_empty(device=source.device if source is not None else "cpu")
    new.channels_last = model.channels_last
    init_weights(new, skip=True)
    with torch.no_grad():
        for node in layers(network.body):
            tensors = weights_for(model, node)
            if tensors:
                target = new.module_at(node.path)
                for name, value in tensors.items():
                    getattr(target, name).copy_(value)
    return new.eval()


def weights_for(source: Network, node: ir.NodeBase) -> dict[str, torch.Tensor]:
    """The tensors of `node`'s module, computed from the unoptimised model `source`."""
    derive = DERIVED.get(type(node))
    if derive is not None:
        return derive(source, node)
    if has_module(node) and lowering_for(node).has_weights(node):
        return dict(source.module_at(node.path).state_dict())
    return {}


def fused(source: Network, node: ir.FusedConv) -> dict[str, torch.Tensor]:
    parts = [weights_for(source, p) for p in node.parts]
    out = {"weight": torch.cat([p["weight"] for p in parts], 0)}
    if node.bias:
        out["bias"] = torch.cat([p["bias"] for p in parts], 0)
    return out


def folded(source: Network, node: ir.FoldedConv | ir.FoldedLinear) -> dict[str, torch.Tensor]:
    layer = source.module_at(node.path)
    bn = source.module_at(node.folded.path)
    w = layer.weight.double()
    b = layer.bias.double() if layer.bias is not None else w.new_zeros(w.shape[0])
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    shape = (-1,) + (1,) * (w.dim() - 1)
    return {"weight": (w * scale.reshape(shape)).float(),
            "bias": ((b - bn.running_mean.double()) * scale + bn.bias.double()).float()}


# The pass outputs whose weights are computed from the source model's, by node class.
DERIVED = {ir.FusedConv: fused, ir.FoldedConv: folded, ir.FoldedLinear: folded}
