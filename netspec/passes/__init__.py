"""IR -> IR rewrites shared by the backends (named by setuptools as netspec.passes).

Each pass is a plain function `Network -> Network` in its own module. Passes change
structure only and never import torch; nodes they introduce (ir.py's pass composites, ops/conv.py's and ops/linear.py's pass kinds) record
what a backend must compute from the original weights.
"""

from __future__ import annotations

from .buffer_dense import buffer_dense
from .fold_bn import fold_bn
from .fuse_1x1 import fuse_1x1

INFERENCE_PASSES = {"fold_bn": fold_bn, "fuse_1x1": fuse_1x1, "buffer_dense": buffer_dense}  # in this order

__all__ = ["INFERENCE_PASSES", "buffer_dense", "fold_bn", "fuse_1x1"]
