"""`shuffle(groups)`: ShuffleNet's channel shuffle. The channels, read as `groups` rows of C/groups,
are transposed, so that the next grouped conv (or split) sees channels from every group."""

from __future__ import annotations

from typing import Literal

from ..analysis.counts import Cost, numel
from ..diagnostics import error
from ..ir import NodeBase
from .registry import Kind, Op, params, register_kind, register_op


class ChannelShuffle(NodeBase):
    kind: Literal["shuffle"] = "shuffle"
    groups: int


def shuffle(args):
    args.feature_map()
    groups = args.int("groups", "the number of groups")
    if args.shape[0] % groups:
        raise error(f"shuffle({groups}) needs channels divisible by {groups}, but its input has {args.shape[0]}",
                    args.span("groups"), code="value")
    return args.node(ChannelShuffle, args.shape, groups=groups), args.shape


register_op(Op("shuffle", shuffle, params(groups=2), positional=("groups",), aliases=("channel_shuffle",)))
# a permutation of the channels, copied into a new tensor (reshape, transpose, contiguous)
register_kind(Kind(ChannelShuffle, lambda n: Cost(elements=numel(n.out_shape)), lambda n: f"shuffle({n.groups})",
                   lambda n: f"shuffle({n.groups})", fresh=True))
