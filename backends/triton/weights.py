"""Kernel operands from a torch-backend model: batch norms folded, fused convs stacked, GEMM layouts.

The torch backend owns the weights (its `weights=` takes state_dicts, files and torchvision's
weights); this module reads them per IR node with `model.module_at(path)` and does the arithmetic
the inference passes recorded, in float64:

- FoldedConv / FoldedLinear: w' = w * g / s, b' = (b - mean) * g / s + beta, with s = sqrt(var + eps);
- FusedConv: its parts' (folded) weights concatenated on output channels;
- a batch norm left on its own (or as a GEMM prologue): scale = g / s, shift = beta - mean * g / s;

then lays them out for the kernels: a conv's [C_out, C_in/g, KH, KW] becomes the implicit GEMM's
[KH * KW * C_in/g, C_out] (K ordered kh, kw, c to match NHWC), a depthwise conv's [KH * KW, C], a
linear layer's [in, out] (rows permuted from CHW to HWC order when it reads a flattened NHWC map).
"""

from __future__ import annotations

import torch

from netspec import ir

from .codegen import Launch
from .plan import is_depthwise


def bn_affine(bn: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """An eval-mode batch norm as scale, shift (float64)."""
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    return scale, bn.bias.double() - bn.running_mean.double() * scale


def layer_weights(model, node: ir.NodeBase) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(weight, bias) of a conv or linear node in torch's layout, batch norm folded in, float64."""
    if isinstance(node, ir.FusedConv):
        parts = [layer_weights(model, p) for p in node.parts]
        bias = torch.cat([b for _, b in parts]) if node.bias else None
        return torch.cat([w for w, _ in parts]), bias
    layer = model.module_at(node.path)
    w = layer.weight.detach().double()
    b = layer.bias.detach().double() if layer.bias is not None else None
    if isinstance(node, (ir.FoldedConv, ir.FoldedLinear)):
        scale, shift = bn_affine(model.module_at(node.folded.path))
        b = (torch.zeros_like(scale) if b is None else b) * scale + shift
        w = w * scale.reshape((-1,) + (1,) * (w.dim() - 1))
    return w, b


def gemm_layout(node: ir.NodeBase, w: torch.Tensor, flatten_from: tuple | None) -> torch.Tensor:
    if isinstance(node, ir.Linear):
        if flatten_from is not None:  # columns in torch's (C, H, W) order -> the arena's (H, W, C)
            c, h, wd = flatten_from
            w = w.reshape(w.shape[0], c, h, wd).permute(0, 2, 3, 1).reshape(w.shape[0], -1)
        return w.t()
    kh, kw = node.kernel
    if is_depthwise(node):
        return w[:, 0].permute(1, 2, 0).reshape(kh * kw, -1)  # depthwise: [taps, C]
    return w.permute(2, 3, 1, 0).reshape(kh * kw * w.shape[1], w.shape[0])


@torch.no_grad()
def kernel_weights(model, launches: list[Launch]) -> dict[str, torch.Tensor]:
    """{name: tensor} for every name the launches' WEIGHTS table lists (float32; model.py casts)."""
    out: dict[str, torch.Tensor] = {}
    for launch in launches:
        k = launch.kernel
        key = f"k{k.index:03d}"
        node = k.node
        if k.template in ("conv", "gemm", "depthwise"):
            w, b = layer_weights(model, node)
            out[f"{key}.w"] = gemm_layout(node, w, k.flatten_from)
            if k.epilogue.bias:
                out[f"{key}.b"] = b
            if k.prologue:
                out[f"{key}.scale"], out[f"{key}.shift"] = bn_affine(model.module_at(k.prologue[0].node.path))
        elif isinstance(node, ir.BatchNorm) and k.step.op == "layer":
            out[f"{key}.scale"], out[f"{key}.shift"] = bn_affine(model.module_at(node.path))
        elif isinstance(node, ir.Activation) and node.fn == "prelu" and k.step.op == "layer":
            out[f"{key}.slope"] = model.module_at(node.path).weight.detach().double()
    for name, shape in ((n, s) for launch in launches for n, s in launch.weights.items()):
        if tuple(out[name].shape) != tuple(shape):
            raise AssertionError(f"{name}: prepared {tuple(out[name].shape)}, the kernel expects {shape}")
    return {name: t.float().contiguous() for name, t in out.items()}
