"""A node written back in the paper notation of the .net language, for tables and messages."""

from __future__ import annotations

from ..ir import NodeBase


def _k(pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def _s(pair) -> str:
    return "" if pair == (1, 1) else f"/{_k(pair)}"


def _conv(n) -> str:
    if n.groups == n.in_channels and n.groups > 1:
        mult = n.out_channels // n.in_channels
        return f"dwconv{_k(n.kernel)}{_s(n.stride)}" + (f"(multiplier={mult})" if mult != 1 else "")
    extra = []
    if n.groups != 1:
        extra.append(f"groups={n.groups}")
    if n.dilation != (1, 1):
        extra.append(f"dilation={_k(n.dilation)}")
    return f"conv{_k(n.kernel)}-{n.out_channels}{_s(n.stride)}" + (f"({', '.join(extra)})" if extra else "")


def _pool(n) -> str:
    return f"{n.mode}pool{_k(n.kernel)}{_s(n.stride)}"


def _adaptive(n) -> str:
    if n.output_size == (1, 1):
        return "gap" if n.mode == "avg" else "global_maxpool"
    return f"adaptive_{n.mode}pool-{_k(n.output_size)}"


def _activation(n) -> str:
    return n.fn if n.alpha is None else f"{n.fn}({n.alpha:g})"


DESCRIBE = {
    "conv": _conv,
    "linear": lambda n: f"fc-{n.out_features}",
    "pool": _pool,
    "adaptive_pool": _adaptive,
    "batchnorm": lambda n: "bn",
    "lrn": lambda n: f"lrn({n.size})",
    "activation": _activation,
    "dropout": lambda n: f"dropout({n.p:g})",
    "flatten": lambda n: "flatten",
    "upsample": lambda n: f"upsample({n.scale})",
    "channel_pad": lambda n: f"channel_pad(+{n.before + n.after})",
    "save": lambda n: f"@{n.ref}",
    "merge": lambda n: f"{n.mode}({' '.join('@' + r for r in n.refs)})",
    "seq": lambda n: "block",
    "concat": lambda n: f"concat({len(n.branches)})",
    "residual": lambda n: "residual",
    "dense": lambda n: f"dense({len(n.layers)})",
    "gate": lambda n: "gate",
    "side": lambda n: f"side {n.output}",
    "folded_conv": lambda n: _conv(n) + "+bn",
    "fused_conv": lambda n: f"{_conv(n)} (fused {len(n.parts)})",
    "folded_linear": lambda n: f"fc-{n.out_features}+bn",
    "fused_concat": lambda n: f"concat({len(n.branches)}, fused stem)",
    "buffered_dense": lambda n: f"dense({len(n.layers)}, one buffer)",
}


def describe(node: NodeBase) -> str:
    return DESCRIBE[node.kind](node)


def shape_str(shape) -> str:
    return "x".join(str(d) for d in shape)
