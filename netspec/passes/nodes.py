"""IR nodes that only the inference passes produce.

Each is a subclass of the IR node it replaces, with the same `kind`, so everything that
walks the IR (shapes, analysis, `ir.walk`) still reads it as that node; a fused concat's
stem is one of its `sub_nodes`, so `ir.walk` visits it too. The extra fields
record what a backend must do with the weights: the passes change structure, the backend
does the arithmetic. Nothing here imports torch.
"""

from __future__ import annotations

from netspec import ir


class FoldedConv(ir.Conv):
    """A conv that absorbed the batch norm right after it: w' = w*g/s, b' = (b-mean)*g/s + beta."""

    folded: ir.BatchNorm  # the removed batch norm; its path names the statistics to fold in


class FoldedLinear(ir.Linear):
    """A fully connected layer that absorbed the 1-d batch norm right after it."""

    folded: ir.BatchNorm


class FusedConv(ir.Conv):
    """Several 1x1 convs on the same input stacked into one: weights concatenated on out-channels."""

    parts: tuple[ir.Conv, ...]  # the original convs (possibly FoldedConv), in output-channel order


class FusedConcat(ir.Concat):
    """A concat whose branches that opened with a 1x1 conv now read slices of one shared stem."""

    stem: ir.Seq  # the FusedConv, then the elementwise layers every fused branch applied after it
    splits: tuple[int, ...]  # channels of each slice of the stem's output
    parts: tuple[int | None, ...]  # per branch: the slice it reads, or None for the concat's input

    def sub_nodes(self):
        return (self.stem, *self.branches)  # the stem runs first; ir.walk then sees every layer


class BufferedDense(ir.Dense):
    """A dense block written into one preallocated output instead of re-concatenating per layer."""
