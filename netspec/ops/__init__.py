"""The built-in layers of the .net language, one file per op, and the registry that finds them.

    conv.py        conv, dwconv                  kinds conv, folded_conv, fused_conv
    linear.py      fc                            kinds linear, folded_linear
    pool.py        maxpool, avgpool, gap, gmp, adaptive_avgpool, adaptive_maxpool
    norm.py        bn, lrn
    activation.py  relu, leaky_relu, softmax, ... (one kind, `activation`)
    misc.py        dropout, flatten, upsample    kind channel_pad (ResNet option A, no syntax)
    skip.py        kinds save, merge (`@name`, `add(@a)`: syntax of their own)

A new op is one more file here, imported below, plus one lowering entry per backend.
"""

from __future__ import annotations

from .. import ir  # noqa: F401  the IR's base classes before the op files that subclass them
from . import activation, conv, linear, misc, norm, pool, skip  # noqa: F401  each registers itself
from .registry import KINDS, OPS, Kind, Op, kind, known_words, lookup, register_kind, register_op

__all__ = ["KINDS", "OPS", "Kind", "Op", "kind", "known_words", "lookup", "register_kind", "register_op"]
