"""The built-in layers of the .net language, one file per op, and the registry that finds them.

    conv.py        conv, dwconv                  kinds conv, folded_conv, fused_conv
    linear.py      fc                            kinds linear, folded_linear
    pool.py        maxpool, avgpool, gap, gmp, adaptive_avgpool, adaptive_maxpool
    norm.py        bn, lrn
    activation.py  relu, leaky_relu, softmax, ... (one kind, `activation`)
    misc.py        dropout, flatten, upsample    kind channel_pad (ResNet option A, no syntax)
    layernorm.py   layernorm (ln)                kind layernorm
    layer_scale.py layer_scale                   kind layer_scale
    drop_path.py   drop_path (stochastic depth)  kind drop_path
    shuffle.py     shuffle (channel shuffle)     kind shuffle
    deconv.py      deconv (transposed conv)      kind deconv
    channels.py    channels(start, stop)         kind channel_slice (what `split` opens each branch with)
    crop.py        crop(border)                  kind crop (U-Net's copy and crop)
    scale.py       scale(factor)                 kind scale (a fixed multiplier: Inception-ResNet's residuals)
    zeropad.py     zeropad(left, right, top, bottom)  kind zeropad (torch's ZeroPad2d; NASNet's pixel shift)
    skip.py        kinds save, merge (`@name`, `add(@a)`: syntax of their own)

A new op is one more file here, imported below, plus one lowering entry per backend.
"""

from __future__ import annotations

from .. import ir  # noqa: F401  the IR's base classes before the op files that subclass them
from . import (  # noqa: F401  each registers itself
    activation, channels, conv, crop, deconv, drop_path, layer_scale, layernorm, linear, misc, norm, pool, scale, shuffle,
    skip, zeropad,
)
from .registry import KINDS, OPS, Kind, Op, kind, known_words, lookup, register_kind, register_op

__all__ = ["KINDS", "OPS", "Kind", "Op", "kind", "known_words", "lookup", "register_kind", "register_op"]
