"""Dense blocks into one preallocated buffer.

A dense block's layer i reads the concat of the input and every earlier output; done
with torch.cat per layer, the early feature maps are copied again at every layer
(quadratic in the depth of the block). With one buffer of the block's final width,
the input is copied once, each layer reads a channel prefix of it (a view, no copy)
and writes its own channels once. Inference only: the writes into the buffer would
overwrite tensors autograd saved.

Plain concats (inception) are left alone: torch.cat already writes each branch once.
"""

from __future__ import annotations

from netspec import ir

from .rewrite import fields, rewrite_network


def buffer_dense(network: ir.Network) -> ir.Network:
    return rewrite_network(network, _buffer, "buffer_dense")


def _buffer(node: ir.NodeBase) -> ir.NodeBase:
    if isinstance(node, ir.Dense) and not isinstance(node, ir.BufferedDense):
        return ir.BufferedDense(**fields(node, ir.Dense))
    return node
