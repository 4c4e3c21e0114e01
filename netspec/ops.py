"""The built-in layers of the .net language: names, aliases, and the arguments each takes.

A new layer type plugs in here (its name and arguments), in ir.py (its node), in
elaborate.py (its shape rule) and in each backend. Op names are matched without regard
to case (`FC-4096`, `LRN`), and kernel sizes may be written into the name (`conv3`,
`conv1x7`, `maxpool3`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class OpSpec:
    name: str  # canonical name, also the base of auto-generated node names (conv1, bn2, ...)
    positional: tuple[str, ...] = ()  # argument names that may be given positionally, in order
    keywords: tuple[str, ...] = ()  # every argument the op accepts
    kernel_in_name: bool = False  # conv3, maxpool3x3
    dash: str | None = None  # what `-N` means for this op, if anything
    weighted: bool = False  # conv/fc: takes `after`, and the head rule applies


_CONV_KW = ("stride", "pad", "dilation", "groups", "bias", "after", "kernel")
_POOL_KW = ("stride", "pad", "ceil", "kernel")

OPS: dict[str, OpSpec] = {
    spec.name: spec
    for spec in [
        OpSpec("conv", keywords=_CONV_KW, kernel_in_name=True, dash="filters", weighted=True),
        OpSpec("dwconv", keywords=_CONV_KW + ("multiplier",), kernel_in_name=True, weighted=True),
        OpSpec("fc", keywords=("bias", "after"), dash="features", weighted=True),
        OpSpec("maxpool", keywords=_POOL_KW, kernel_in_name=True),
        OpSpec("avgpool", keywords=_POOL_KW + ("count_include_pad",), kernel_in_name=True),
        OpSpec("gap"),
        OpSpec("gmp"),
        OpSpec("adaptive_avgpool", dash="output size"),
        OpSpec("adaptive_maxpool", dash="output size"),
        OpSpec("bn", keywords=("eps", "momentum")),
        OpSpec("lrn", positional=("size",), keywords=("size", "alpha", "beta", "k")),
        OpSpec("dropout", positional=("p",), keywords=("p",)),
        OpSpec("flatten"),
        OpSpec("upsample", positional=("scale",), keywords=("scale", "mode")),
        OpSpec("relu"), OpSpec("relu6"), OpSpec("selu"), OpSpec("sigmoid"), OpSpec("tanh"),
        OpSpec("hardswish"), OpSpec("hardsigmoid"), OpSpec("silu"), OpSpec("gelu"), OpSpec("softmax"),
        OpSpec("identity"),
        OpSpec("leaky_relu", positional=("slope",), keywords=("slope",)),
        OpSpec("elu", positional=("alpha",), keywords=("alpha",)),
        OpSpec("prelu", keywords=("channels",)),
    ]
}

ALIASES = {
    "linear": "fc", "pool": "maxpool", "batchnorm": "bn", "global_avgpool": "gap",
    "global_maxpool": "gmp", "soft-max": "softmax", "lrelu": "leaky_relu", "leakyrelu": "leaky_relu",
    "swish": "silu", "h_swish": "hardswish",
}

_KERNEL = re.compile(r"^([a-z_]+?)(\d+)(?:x(\d+))?$")


def lookup(word: str) -> tuple[OpSpec, tuple[int, int] | None] | None:
    """The op a layer word names and the kernel written into it: `conv1x7` -> (conv, (1, 7))."""
    low = word.lower()
    low = ALIASES.get(low, low)
    if low in OPS:
        return OPS[low], None
    match = _KERNEL.match(low)
    if match:
        base = ALIASES.get(match.group(1), match.group(1))
        spec = OPS.get(base)
        if spec is not None and spec.kernel_in_name:
            kh = int(match.group(2))
            kw = int(match.group(3)) if match.group(3) else kh
            return spec, (kh, kw)
    return None


def known_words() -> list[str]:
    """Every layer word a user may write, for did-you-mean suggestions."""
    words = set(OPS) | set(ALIASES)
    words |= {f"{name}{k}" for name, spec in OPS.items() if spec.kernel_in_name for k in (1, 3, 5, 7)}
    return sorted(words)
