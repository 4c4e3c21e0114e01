"""Syntax tree -> IR: imports resolved, blocks expanded, repeats unrolled, expressions evaluated,
defaults applied, and the shape of every node inferred and checked.

    scope.py       scopes and naming (paths, labels, auto names), the Seq a body becomes
    values.py      argument values and their located coercions (whole numbers, pairs, words)
    layers.py      layer words via the op registry: arguments bound, the op file's shape rule run
    composites.py  repeat, group, concat, residual (and its shortcuts), dense, gate, side, save, merge
    blocks.py      block definitions and calls
    library.py     imports and the parsed-library cache
    network.py     the elaborator's state and walk, the network header, the head rule, the entry points
"""

from __future__ import annotations

from .network import check_library, elaborate, is_library

__all__ = ["check_library", "elaborate", "is_library"]
