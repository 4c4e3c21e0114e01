"""What a change to a spec does to the network: two analyses aligned node by node.

    >>> import netspec
    >>> from netspec.analysis.diff import diff
    >>> d = diff(netspec.load("resnet50"), netspec.load("resnet101"))
    >>> d.totals["params"].delta
    18992128

The two networks are aligned scope by scope, over the rows of their analyses (a row per node, the
figures of everything under it). Within a scope, the old and the new children are aligned as
sequences: the alignment that keeps the order of both and maximises what the pairs share (a
weighted longest common subsequence). Structure counts first: the same structure, then the same
settings, then the same kind of node; different kinds never pair; weights grow with the size of
the subtree. Names only break ties, so a relabelled stage, a renamed block, or layers whose
automatic names shifted because one was inserted before them still pair with their counterparts.
"Structure" is a signature of the node and everything under it: kinds and hyper-parameters, never
names or shapes, so a block renamed without any other change aligns with itself and reports no
change in figures. A block that leaves one place and shows up unchanged in another (a different
scope, or past its siblings) is paired afterwards as a move. Everything here is plain data over
`Analysis` rows; rendering is in `diff_report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from ..ir import Network, NodeBase
from .core import Analysis, Row, analyze
from .receptive import Field

# What a node is called and where it sits, as opposed to what it computes: left out of the
# structural signature. block_args and repeats (when the IR has them) describe the call, and
# the call's effect is already in the children.
NAMING = frozenset({"path", "label", "span", "in_shape", "out_shape", "kind", "block", "block_args", "repeats"})

# Statuses of an aligned pair, and the mark each has in a listing (`!` is "changed" in context diffs).
SAME, RENAMED, CHANGED, ADDED, REMOVED, MOVED = "same", "renamed", "changed", "added", "removed", "moved"
MARKS = {ADDED: "+", REMOVED: "-", CHANGED: "!", MOVED: ">", RENAMED: "~", SAME: "="}

# Above this many cells, a scope is aligned greedily by structure instead of by the weighted
# alignment (quadratic): a 10,000-layer flat spec stays linear.
MAX_ALIGN_CELLS = 250_000


# ---------------------------------------------------------------- signatures


# Fields that hold sub-nodes in the IR's composites; any other field holding nodes (a pass's node) is
# recognised by its value.
SUB_NODE_FIELDS = frozenset({"children", "branches", "body", "shortcut", "layers"})


def _freeze(value: Any) -> Any:
    """A hashable copy of a field's value (dicts and lists become tuples)."""
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list) or (isinstance(value, tuple) and not all(type(v) is int for v in value)):
        return tuple(_freeze(v) for v in value)
    return value


_FIELDS: dict[type, tuple[str, ...]] = {}


def attributes(node: NodeBase) -> dict[str, Any]:
    """What a node computes, field by field: its hyper-parameters without names, shapes or sub-nodes."""
    names = _FIELDS.get(type(node))
    if names is None:
        names = _FIELDS[type(node)] = tuple(n for n in type(node).model_fields
                                            if n not in NAMING and n not in SUB_NODE_FIELDS)
    values = node.__dict__
    out = {}
    for name in names:
        value = values[name]
        if isinstance(value, NodeBase) or (type(value) is tuple and value and isinstance(value[0], NodeBase)):
            continue
        out[name] = _freeze(value)
    return out


class Signatures:
    """Attributes and structural signatures of IR nodes, computed once per node (the networks
    outlive this object, so ids stay unique)."""

    def __init__(self) -> None:
        self._attributes: dict[int, dict[str, Any]] = {}
        self._shallow: dict[int, int] = {}
        self._deep: dict[int, int] = {}

    def attributes(self, node: NodeBase) -> dict[str, Any]:
        found = self._attributes.get(id(node))
        if found is None:
            found = self._attributes[id(node)] = attributes(node)
        return found

    def shallow(self, node: NodeBase) -> int:
        """The node's own kind and settings."""
        sig = self._shallow.get(id(node))
        if sig is None:
            sig = self._shallow[id(node)] = hash((node.kind, tuple(self.attributes(node).items())))
        return sig

    def deep(self, node: NodeBase) -> int:
        """The node's and everything's under it: kinds, settings, order; no names, no shapes."""
        sig = self._deep.get(id(node))
        if sig is None:
            sig = self._deep[id(node)] = hash((self.shallow(node), tuple(self.deep(c) for c in node.sub_nodes())))
        return sig


# ---------------------------------------------------------------- the row tree


@dataclass(eq=False)
class _Tree:
    """An analysis row with the rows directly under it: the scope tree that summary tables show."""

    row: Row | None  # None at the root
    name: str  # path below the parent row: "conv1", "body.conv2", "bottleneck3"
    children: list["_Tree"] = field(default_factory=list)
    size: int = 1  # rows in this subtree: keeping a large block in place is worth more than a layer


def row_tree(analysis: Analysis) -> _Tree:
    root = _Tree(None, "")
    stack: list[_Tree] = [root]
    for row in analysis.rows:
        del stack[row.depth:]
        parent = stack[-1]
        base = parent.row.path + "." if parent.row is not None else ""
        name = row.path[len(base):] if row.path.startswith(base) else row.path
        node = _Tree(row, name)
        parent.children.append(node)
        stack.append(node)
        for above in stack[1:-1]:
            above.size += 1
    return root


# ---------------------------------------------------------------- the diff


@dataclass(eq=False)
class Change:
    """One aligned node: its row in the old network, in the new one, or in both."""

    status: str  # same, renamed, changed, added, removed, moved
    old: Row | None
    new: Row | None
    children: list["Change"] = field(default_factory=list)
    attributes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # own settings that differ: old, new

    @property
    def row(self) -> Row:
        return self.new if self.new is not None else self.old

    @property
    def depth(self) -> int:
        return self.row.depth

    @property
    def quiet(self) -> bool:
        """Nothing to report here or below."""
        return self.status == SAME and all(c.quiet for c in self.children)

    def walk(self) -> Iterator["Change"]:
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass(frozen=True)
class Delta:
    """A figure on both sides. delta and percent are None where a side is unknown (a symbolic size)."""

    old: Any
    new: Any

    @property
    def delta(self):
        if isinstance(self.old, (int, float)) and isinstance(self.new, (int, float)):
            return self.new - self.old
        return None

    @property
    def percent(self) -> float | None:
        d = self.delta
        if d is None:
            return None
        if self.old == 0:
            return 0.0 if d == 0 else (float("inf") if d > 0 else float("-inf"))
        return 100.0 * d / self.old

    @property
    def changed(self) -> bool:
        return self.old != self.new


@dataclass
class NetworkDiff:
    old_network: Network
    new_network: Network
    old: Analysis
    new: Analysis
    changes: list[Change]  # one per top-level row of either network (the stages), in the new order
    totals: dict[str, Delta]

    @property
    def changed(self) -> bool:
        """Does anything differ besides names: a layer, a setting, a figure?"""
        return (any(c.status not in (SAME, RENAMED) for top in self.changes for c in top.walk())
                or any(d.changed for d in self.totals.values()))

    @property
    def empty(self) -> bool:
        """Nothing at all to report, not even a renamed block."""
        return not self.changed and all(c.quiet for c in self.changes)

    def walk(self) -> Iterator[Change]:
        for c in self.changes:
            yield from c.walk()


def head_field(a: Analysis) -> Field:
    return a.head_field if a.head_field is not None else a.output_field


def rf_size(f: Field):
    """The receptive field as one number: the larger side; None for "the whole input"."""
    return None if None in f.size else max(f.size)


def row_memory(row: Row, analysis: Analysis) -> int | None:
    e = row.cost.elements
    return None if e is None else e * analysis.bytes_per_element


def node_figures(row: Row, analysis: Analysis) -> dict[str, Any]:
    """The figures of one row that make it "changed". The receptive field is left out: a layer
    added upstream widens the field of every layer after it, which says nothing about them."""
    return {"output": row.out_shape, "params": row.cost.params, "buffers": row.cost.buffers,
            "macs": row.cost.macs, "memory": row_memory(row, analysis)}


def network_totals(old: Analysis, new: Analysis) -> dict[str, Delta]:
    fo, fn = head_field(old), head_field(new)
    return {
        "output": Delta(old.output_shape, new.output_shape),
        "params": Delta(old.trainable_params, new.trainable_params),
        "non_trainable_params": Delta(old.non_trainable_params, new.non_trainable_params),
        "macs": Delta(old.macs, new.macs),
        "ops": Delta(old.ops, new.ops),
        "memory": Delta(old.activation_bytes, new.activation_bytes),
        "rf": Delta(rf_size(fo), rf_size(fn)),
        "field": Delta(fo, fn),
    }


class _Differ:
    def __init__(self, old: Analysis, new: Analysis) -> None:
        self.old, self.new = old, new
        self.sigs = Signatures()

    # -- pairing

    def kinship(self, a: _Tree, b: _Tree) -> int:
        """What an old and a new node share: 4 the same structure, 3 the same settings (and block),
        1 only the kind of node, 0 nothing (they never pair)."""
        na, nb = a.row.node, b.row.node
        if na.kind != nb.kind:
            return 0
        if self.sigs.deep(na) == self.sigs.deep(nb):
            return 4
        if self.sigs.shallow(na) == self.sigs.shallow(nb) and na.__dict__.get("block") == nb.__dict__.get("block"):
            return 3
        return 1

    def align(self, olds: list[_Tree], news: list[_Tree]) -> list[tuple[_Tree | None, _Tree | None]]:
        """Pairs in order; (a, None) is removed, (None, b) added."""
        n, m = len(olds), len(news)
        lo = 0  # a common head and tail of the same structure (names may have shifted) need no search
        while lo < min(n, m) and self.kinship(olds[lo], news[lo]) == 4:
            lo += 1
        hi = 0
        while hi < min(n, m) - lo and self.kinship(olds[n - 1 - hi], news[m - 1 - hi]) == 4:
            hi += 1
        mid_old, mid_new = olds[lo:n - hi], news[lo:m - hi]
        if len(mid_old) * len(mid_new) > MAX_ALIGN_CELLS:
            middle = self._align_greedy(mid_old, mid_new)
        else:
            middle = self._align_weighted(mid_old, mid_new)
        return ([(olds[i], news[i]) for i in range(lo)] + middle
                + [(olds[n - hi + i], news[m - hi + i]) for i in range(hi)])

    def _align_weighted(self, olds, news):
        n, m = len(olds), len(news)
        if not n or not m:
            return [(a, None) for a in olds] + [(None, b) for b in news]
        # structure first, weighted by size (keeping a large block in place outweighs a layer);
        # names only break ties: a bonus of 1 that all pairs together cannot make up for a
        # structural point, so automatic names shifted by an insertion do not pull the alignment
        scale = min(n, m) + 1
        scores = [[self.kinship(a, b) * min(a.size, b.size) * scale + (a.name == b.name) if a.row.kind == b.row.kind
                   else 0 for b in news] for a in olds]
        best = [[0] * (m + 1) for _ in range(n + 1)]  # best[i][j]: olds[i:] against news[j:]
        for i in range(n - 1, -1, -1):
            row, below = best[i], best[i + 1]
            for j in range(m - 1, -1, -1):
                s = scores[i][j]
                row[j] = max(below[j], row[j + 1], below[j + 1] + s if s else 0)
        out, i, j = [], 0, 0
        while i < n and j < m:
            s = scores[i][j]
            if s and best[i][j] == best[i + 1][j + 1] + s:
                out.append((olds[i], news[j]))
                i, j = i + 1, j + 1
            elif best[i][j] == best[i + 1][j]:
                out.append((olds[i], None))
                i += 1
            else:
                out.append((None, news[j]))
                j += 1
        return out + [(a, None) for a in olds[i:]] + [(None, b) for b in news[j:]]

    def _align_greedy(self, olds, news, window: int = 64):
        """Linear alignment for huge scopes: pair nodes of the same structure in order; at a mismatch,
        resynchronise at the nearest node (within `window`) that has the structure of the other side's."""
        key = lambda t: self.sigs.deep(t.row.node)  # noqa: E731
        out, i, j, n, m = [], 0, 0, len(olds), len(news)
        while i < n and j < m:
            if key(olds[i]) == key(news[j]):
                out.append((olds[i], news[j]))
                i, j = i + 1, j + 1
                continue
            for d in range(1, window + 1):
                if i + d < n and key(olds[i + d]) == key(news[j]):
                    out += [(a, None) for a in olds[i:i + d]]
                    i += d
                    break
                if j + d < m and key(olds[i]) == key(news[j + d]):
                    out += [(None, b) for b in news[j:j + d]]
                    j += d
                    break
            else:  # nothing alike nearby: the same kind of node, changed, or one out and one in
                same_kind = olds[i].row.kind == news[j].row.kind
                out += [(olds[i], news[j])] if same_kind else [(olds[i], None), (None, news[j])]
                i, j = i + 1, j + 1
        return out + [(a, None) for a in olds[i:]] + [(None, b) for b in news[j:]]

    # -- building

    def pair(self, a: _Tree | None, b: _Tree | None) -> Change:
        if b is None:
            return Change(REMOVED, a.row, None)
        if a is None:
            return Change(ADDED, None, b.row)
        kids = [self.pair(x, y) for x, y in self.align(a.children, b.children)]
        return self.judge(a.row, b.row, kids, renamed=a.name != b.name)

    def judge(self, old: Row, new: Row, kids: list[Change], renamed: bool, status: str | None = None) -> Change:
        own_old, own_new = self.sigs.attributes(old.node), self.sigs.attributes(new.node)
        differs = {k: (own_old.get(k), own_new.get(k)) for k in own_old.keys() | own_new.keys()
                   if own_old.get(k) != own_new.get(k)}
        # the block a sequence was called as, with its arguments: a different call with the same
        # structure (a renamed block, a default written out) changes nothing the network computes
        block_old = (old.node.__dict__.get("block"), _freeze(old.node.__dict__.get("block_args")))
        block_new = (new.node.__dict__.get("block"), _freeze(new.node.__dict__.get("block_args")))
        if status is None:
            moved_or_new = any(c.status not in (SAME, RENAMED) for c in kids)
            figures = node_figures(old, self.old) != node_figures(new, self.new)
            if differs or moved_or_new or figures:
                status = CHANGED
            elif renamed or block_old != block_new:
                status = RENAMED
            else:
                status = SAME
        if block_old[0] != block_new[0]:
            differs["block"] = (block_old[0], block_new[0])
        return Change(status, old, new, kids, differs)

    def moves(self, tops: list[Change]) -> None:
        """Pair a block removed in one place with an identical one added in another, in network order."""
        removed: dict[int, list[tuple[list[Change], Change]]] = {}
        added: list[tuple[list[Change], Change]] = []

        def collect(siblings: list[Change]) -> None:
            for c in siblings:
                if c.status == REMOVED and not c.old.leaf:
                    removed.setdefault(self.sigs.deep(c.old.node), []).append((siblings, c))
                elif c.status == ADDED and not c.new.leaf:
                    added.append((siblings, c))
                else:
                    collect(c.children)

        collect(tops)
        for siblings, c in added:
            candidates = removed.get(self.sigs.deep(c.new.node))
            if candidates:
                where, gone = candidates.pop(0)
                where.remove(gone)
                siblings[siblings.index(c)] = self.moved(gone.old, c.new)

    def moved(self, old: Row, new: Row) -> Change:
        a, b = self.old_index[old.path], self.new_index[new.path]
        kids = [self.pair(x, y) for x, y in self.align(a.children, b.children)]
        return self.judge(old, new, kids, renamed=True, status=MOVED)

    def run(self) -> list[Change]:
        old_root, new_root = row_tree(self.old), row_tree(self.new)
        self.old_index = {t.row.path: t for t in _subtrees(old_root)}
        self.new_index = {t.row.path: t for t in _subtrees(new_root)}
        tops = [self.pair(a, b) for a, b in self.align(old_root.children, new_root.children)]
        self.moves(tops)
        return tops


def _subtrees(tree: _Tree) -> Iterator[_Tree]:
    stack = list(tree.children)
    while stack:
        t = stack.pop()
        yield t
        stack.extend(t.children)


def diff(old: Network, new: Network, old_analysis: Analysis | None = None,
         new_analysis: Analysis | None = None, dtype: str = "float32") -> NetworkDiff:
    """Align two networks and compare every aligned node's settings and figures."""
    a = old_analysis or analyze(old, dtype)
    b = new_analysis or analyze(new, dtype)
    return NetworkDiff(old, new, a, b, _Differ(a, b).run(), network_totals(a, b))
