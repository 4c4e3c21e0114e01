"""Inference optimisation: run the IR passes, build the new module, compute its weights.

The passes (netspec.passes) decide the structure; this module does the arithmetic they
recorded: batch-norm folding and stacking of fused 1x1 convs, in float64 so the folded
model stays within float32 rounding of the original.
"""

from __future__ import annotations

import torch
from torch import nn

from netspec import ir
from netspec.passes import INFERENCE_PASSES
from netspec.passes.nodes import FoldedConv, FoldedLinear, FusedConv, layers

from .builder import build_module, init_weights
from .modules import Network


def optimize_for_inference(model: Network, passes: tuple[str, ...]) -> Network:
    unknown = [p for p in passes if p not in INFERENCE_PASSES]
    if unknown:
        raise ValueError(f"unknown pass {unknown[0]!r}; passes are {', '.join(INFERENCE_PASSES)}")
    network = model.network
    for name in INFERENCE_PASSES:  # a fixed order: folding first leaves plain convs to fuse
        if name in passes:
            network = INFERENCE_PASSES[name](network)
    new = build_module(network)
    new.to_empty(device="cpu")
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
    if isinstance(node, FusedConv):
        parts = [weights_for(source, p) for p in node.parts]
        out = {"weight": torch.cat([p["weight"] for p in parts], 0)}
        if node.bias:
            out["bias"] = torch.cat([p["bias"] for p in parts], 0)
        return out
    if isinstance(node, (FoldedConv, FoldedLinear)):
        layer = source.module_at(node.path)
        bn = source.module_at(node.folded.path)
        w = layer.weight.double()
        b = layer.bias.double() if layer.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        shape = (-1,) + (1,) * (w.dim() - 1)
        return {"weight": (w * scale.reshape(shape)).float(),
                "bias": ((b - bn.running_mean.double()) * scale + bn.bias.double()).float()}
    if node.kind in ("conv", "linear", "batchnorm") or isinstance(node, ir.Activation) and node.fn == "prelu":
        module: nn.Module = source.module_at(node.path)
        return dict(module.state_dict())
    return {}
