"""The torch modules an IR becomes: one factory per leaf kind, and the container that runs composites.

A `Block` owns the modules of one scope (a node whose path adds a component) and a
small op tree, plain tuples of names and numbers, that says how they are wired:
sequences, residual sums, concats, dense blocks, gates, side outputs and named skips.
The op tree is data, not closures, so a model deep-copies, pickles, compiles and exports
like any hand-written module.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netspec import ir


class ChannelPad(nn.Module):
    """Adds zero channels before and after the input's (ResNet's option-A shortcut)."""

    def __init__(self, before: int, after: int):
        super().__init__()
        self.before, self.after = before, after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, 0, 0, 0, self.before, self.after))

    def extra_repr(self) -> str:
        return f"before={self.before}, after={self.after}"


class Merge(nn.Module):
    """Joins the current tensor with saved ones (U-Net skips): channel concat or sum."""

    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor, *saved: torch.Tensor) -> torch.Tensor:
        if self.mode == "concat":
            return torch.cat((x, *saved), 1)
        for s in saved:
            x = x + s
        return x

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


INPLACE_FNS = frozenset({"relu", "relu6", "leaky_relu"})


def activation(node: ir.Activation, inplace: bool) -> nn.Module:
    fn, alpha = node.fn, node.alpha
    if fn == "relu":
        return nn.ReLU(inplace=inplace)
    if fn == "relu6":
        return nn.ReLU6(inplace=inplace)
    if fn == "leaky_relu":
        return nn.LeakyReLU(0.01 if alpha is None else alpha, inplace=inplace)
    if fn == "prelu":
        return nn.PReLU(node.num_parameters, init=0.25 if alpha is None else alpha)
    if fn == "elu":
        return nn.ELU(1.0 if alpha is None else alpha)
    if fn == "softmax":
        return nn.Softmax(dim=1)
    simple = {"selu": nn.SELU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "hardswish": nn.Hardswish,
              "hardsigmoid": nn.Hardsigmoid, "silu": nn.SiLU, "gelu": nn.GELU, "identity": nn.Identity}
    return simple[fn]()


def leaf(node: ir.NodeBase, inplace: bool = False) -> nn.Module:
    """The torch module for one leaf node. Asymmetric conv padding is applied by the caller (F.pad)."""
    if isinstance(node, ir.Conv):
        t, b, l, r = node.padding
        pad = (t, l) if (t, l) == (b, r) else 0
        return nn.Conv2d(node.in_channels, node.out_channels, node.kernel, node.stride, pad,
                         node.dilation, node.groups, node.bias)
    if isinstance(node, ir.Linear):
        return nn.Linear(node.in_features, node.out_features, node.bias)
    if isinstance(node, ir.Pool):
        if node.mode == "max":
            return nn.MaxPool2d(node.kernel, node.stride, node.padding, ceil_mode=node.ceil_mode)
        return nn.AvgPool2d(node.kernel, node.stride, node.padding, ceil_mode=node.ceil_mode,
                            count_include_pad=node.count_include_pad)
    if isinstance(node, ir.AdaptivePool):
        cls = nn.AdaptiveMaxPool2d if node.mode == "max" else nn.AdaptiveAvgPool2d
        return cls(node.output_size)
    if isinstance(node, ir.BatchNorm):
        cls = nn.BatchNorm1d if len(node.in_shape) == 1 else nn.BatchNorm2d
        return cls(node.num_features, eps=node.eps, momentum=node.momentum)
    if isinstance(node, ir.LRN):
        return nn.LocalResponseNorm(node.size, node.alpha, node.beta, node.k)
    if isinstance(node, ir.Activation):
        return activation(node, inplace)
    if isinstance(node, ir.Dropout):
        return nn.Dropout(node.p)
    if isinstance(node, ir.Flatten):
        return nn.Flatten(1)
    if isinstance(node, ir.Upsample):
        return nn.Upsample(scale_factor=node.scale, mode=node.mode)
    if isinstance(node, ir.ChannelPad):
        return ChannelPad(node.before, node.after)
    if isinstance(node, ir.Merge):
        return Merge(node.mode)
    raise TypeError(f"no torch module for IR node kind {node.kind!r} at {node.path!r}")


class Block(nn.Module):
    """The modules of one scope and the op tree that wires them (see `run`)."""

    def __init__(self, op: tuple = ("seq", ())):
        super().__init__()
        self.op = op

    def forward(self, x: torch.Tensor, ctx: dict | None = None) -> torch.Tensor:
        return self.run(self.op, x, {} if ctx is None else ctx)

    def run(self, op: tuple, x: torch.Tensor, ctx: dict) -> torch.Tensor:  # noqa: C901 - one branch per op
        kind = op[0]
        if kind == "seq":
            modules = self._modules
            for child in op[1]:  # layer calls inline: this loop is the hot path of every forward
                if child[0] == "call" and child[1] in modules:
                    x = modules[child[1]](x)
                elif child[0] == "block":
                    x = self._child(child[1])(x, ctx)
                else:
                    x = self.run(child, x, ctx)
            return x
        if kind == "call":
            return self._child(op[1])(x)
        if kind == "block":  # a child scope: it may save tensors or emit side outputs, so it gets ctx
            return self._child(op[1])(x, ctx)
        if kind == "pad":
            return F.pad(x, op[1])
        if kind == "residual":
            _, body, shortcut, inplace = op
            identity = x if shortcut is None else self.run(shortcut, x, ctx)
            out = self.run(body, x, ctx)
            if inplace:
                out += identity
                return out
            return out + identity
        if kind == "concat":
            return torch.cat([self.run(b, x, ctx) for b in op[1]], 1)
        if kind == "dense":
            return self._dense(op, x, ctx)
        if kind == "gate":
            _, body, vector = op
            s = self.run(body, x, ctx)
            return x * (s[:, :, None, None] if vector else s)
        if kind == "side":
            _, output, body = op
            if self.training:
                ctx.setdefault("sides", {})[output] = self.run(body, x, ctx)
            return x
        if kind == "save":
            ctx.setdefault("saved", {})[op[1]] = x
            return x
        if kind == "merge":
            saved = ctx["saved"]
            return self._child(op[1])(x, *[saved[r] for r in op[2]])
        if kind == "fused_concat":
            return self._fused_concat(op, x, ctx)
        raise ValueError(f"unknown op {kind!r}")

    def _child(self, name: str) -> nn.Module:
        m = self._modules.get(name)
        return m if m is not None else self.get_submodule(name)

    def _dense(self, op: tuple, x: torch.Tensor, ctx: dict) -> torch.Tensor:
        _, layers, buffered, total = op
        if not buffered:
            features = [x]
            for layer in layers:
                features.append(self.run(layer, torch.cat(features, 1), ctx))
            return torch.cat(features, 1)
        # One preallocated output: layer i reads a channel prefix (a view) and writes its
        # k channels once, instead of re-copying every earlier feature map at each layer.
        n, c = x.shape[0], x.shape[1]
        buf = torch.empty((n, total) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device,
                          memory_format=_memory_format(x))
        buf[:, :c] = x
        for layer in layers:
            out = self.run(layer, buf[:, :c], ctx)
            k = out.shape[1]
            buf[:, c:c + k] = out
            c += k
        return buf

    def _fused_concat(self, op: tuple, x: torch.Tensor, ctx: dict) -> torch.Tensor:
        # One wide 1x1 conv for the branches that open with a 1x1 conv on the same input;
        # its output is split by channels and each branch continues on its slice.
        _, stem, splits, branches = op
        parts = torch.split(self.run(stem, x, ctx), splits, 1)
        outs = [self.run(body, x if part is None else parts[part], ctx) for part, body in branches]
        return torch.cat(outs, 1)

    def extra_repr(self) -> str:
        return "" if self._modules else f"op={self.op[0]}"


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


class Network(Block):
    """The root module: `.network` is the IR; in training mode side outputs come back in a named tuple."""

    def __init__(self, network: ir.Network, op: tuple, outputs: type | None):
        super().__init__(op)
        self.network = network
        self._outputs = outputs  # namedtuple type (main, side...) or None
        self.path_to_module: dict[str, str] = {}  # IR path -> qualified module name, where they differ
        self.channels_last = False  # set by build(channels_last=True): inputs are converted to NHWC

    def forward(self, x: torch.Tensor) -> Any:
        ctx: dict = {}
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        out = self.run(self.op, x, ctx)
        if self._outputs is not None and self.training:
            sides = ctx.get("sides", {})
            return self._outputs(out, *[sides.get(name) for name in self._outputs._fields[1:]])
        return out

    def module_at(self, path: str) -> nn.Module:
        """The module built for the IR node at `path` (its scope path, mapped where needed)."""
        return self.get_submodule(self.path_to_module.get(path, path))
