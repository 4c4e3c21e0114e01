"""The op registry: which layer words name which op, and what netspec knows about each node kind.

An op file (netspec/ops/conv.py, ...) registers, written once:
- an `Op` per layer word: its name and aliases, its arguments with their defaults and which
  may be positional, and its shape rule (`build`, a plain function of an `Args`);
- a `Kind` per IR node class it defines: cost, receptive-field step, paper notation, flat
  text form, and flags (has weights, returns a fresh tensor).

The elaborator, the analysis, the lints and the formatter read this module instead of keeping
tables of kinds; each backend keeps one lowering entry per kind. Layer words are matched
without regard to case (`FC-4096`, `LRN`), and kernel sizes may be written into the name
(`conv3`, `conv1x7`, `maxpool3`).

This module imports nothing from netspec, so that ir.py and the op files can both use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from ..analysis.counts import Cost
    from ..analysis.receptive import Field


@dataclass(frozen=True)
class Op:
    """A layer word of the .net language and how it elaborates."""

    name: str  # canonical name, also the base of auto-generated node names (conv1, bn2, ...)
    build: Callable  # the shape rule: Args -> (node or [nodes], output shape)
    params: Mapping[str, Any] = field(default_factory=dict)  # every keyword argument -> its default
    positional: tuple[str, ...] = ()  # argument names that may be given positionally, in order
    aliases: tuple[str, ...] = ()  # other words for it: linear, batchnorm, soft-max
    kernel_in_name: bool = False  # conv3, maxpool3x3
    kernel: tuple[int, int] | None = None  # the kernel when the name has none (pools: 2x2); None: required
    dash: str | None = None  # what `-N` means for this op, if anything
    example: str | None = None  # when set, `-N` is required and a missing one is shown this example
    weighted: bool = False  # conv/fc: takes `after`, and the head rule ends at it

    @property
    def keywords(self) -> tuple[str, ...]:
        return tuple(self.params)


@dataclass(frozen=True)
class Kind:
    """What the rest of netspec knows about one IR node kind (a leaf layer)."""

    node: type  # the IR node class
    cost: Callable[[Any], "Cost"]  # params, buffers, MACs, other ops, new elements (analysis/counts.py)
    notation: Callable[[Any], str]  # paper notation for tables and messages: conv3-64/2
    flat: Callable[[Any], str] | None = None  # the node as .net text (format_network); None: it has none
    field: Callable[[Any, "Field", tuple], "Field"] | None = None  # receptive-field step; None: unchanged
    window: bool = False  # a layer of sliding windows (conv, pool): its units see a window of the input
    weighted: bool = False  # has trainable weights of its own (conv, fc, bn; prelu's slope is per function)
    fresh: bool = False  # its output is a new tensor (not a view, not its input, not written in place)
    alias: bool = False  # its output is its input at inference or a view of it (dropout, flatten)
    # stands between two weighted layers as their nonlinearity, for the missing-activation lint:
    # activations, pooling, LRN, resampling, merges (an identity activation aside)
    nonlinear: bool = False


OPS: dict[str, Op] = {}
ALIASES: dict[str, str] = {}
KINDS: dict[str, Kind] = {}
NODES: dict[str, type] = {}  # every node class by kind, composites included: JSON reads nodes through it
LEAF_KINDS: set[str] = set()  # the kinds registered with a Kind: leaf layers (ir.LAYER_KINDS)


def register_op(op: Op) -> Op:
    for word in (op.name, *op.aliases):
        if word in OPS or word in ALIASES:
            raise ValueError(f"the layer word {word!r} is registered twice")
    OPS[op.name] = op
    ALIASES.update((alias, op.name) for alias in op.aliases)
    _known.cache = None
    return op


def register_kind(kind: Kind) -> Kind:
    name = _kind_of(kind.node)
    register_node(kind.node)
    KINDS[name] = kind
    LEAF_KINDS.add(name)
    return kind


def register_node(cls: type) -> type:
    """Make a node class readable from JSON by its `kind` (composites register only this)."""
    name = _kind_of(cls)
    if NODES.get(name, cls) is not cls:
        raise ValueError(f"the node kind {name!r} is registered twice")
    NODES[name] = cls
    return cls


def _kind_of(cls: type) -> str:
    return cls.model_fields["kind"].default


def kind(name: str) -> Kind:
    """The rules of a leaf kind; KeyError names a kind nobody registered."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"no op file registers the node kind {name!r}") from None


def node_class(name: str) -> type | None:
    return NODES.get(name)


_KERNEL = re.compile(r"^([a-z_]+?)(\d+)(?:x(\d+))?$")


def lookup(word: str) -> tuple[Op, tuple[int, int] | None] | None:
    """The op a layer word names and the kernel written into it: `conv1x7` -> (conv, (1, 7))."""
    low = word.lower()
    low = ALIASES.get(low, low)
    if low in OPS:
        return OPS[low], None
    match = _KERNEL.match(low)
    if match:
        base = ALIASES.get(match.group(1), match.group(1))
        op = OPS.get(base)
        if op is not None and op.kernel_in_name:
            kh = int(match.group(2))
            kw = int(match.group(3)) if match.group(3) else kh
            return op, (kh, kw)
    return None


def known_words() -> list[str]:
    """Every layer word a user may write, for did-you-mean suggestions."""
    if _known.cache is None:
        words = set(OPS) | set(ALIASES)
        words |= {f"{name}{k}" for name, op in OPS.items() if op.kernel_in_name for k in (1, 3, 5, 7)}
        _known.cache = sorted(words)
    return _known.cache


class _known:
    cache: list[str] | None = None


def params(**defaults) -> Mapping[str, Any]:
    """An op's keyword arguments and their defaults, read-only (an Op is shared by every call)."""
    return MappingProxyType(defaults)
