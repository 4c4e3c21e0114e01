"""A network as a Graphviz diagram: IR -> boxes and arrows -> DOT text.

`diagram(network, analysis, depth)` walks the IR the way the analysis does (so `--depth N` means
what it means in `netspec summary`) and returns plain data: boxes, edges and the clusters that
frame expanded blocks. `to_dot` writes it as DOT text. Composites are drawn the way the papers
draw them:

- a residual: its body, an add node, and the shortcut as one skip edge labelled with the
  projection when there is one (`conv1-256/2 bn`);
- a concat: its branches side by side from the same input, joined by a concat node;
- a dense block: every layer fed by the block input and every earlier layer, joined at the end;
- a gate: its body as a side path whose output multiplies the main path (a x node);
- a side output: its body leaving the main path and ending in an exit named after the output;
- `@name` ... `concat(@name)`: the saved tensor drawn as a long edge into the merge.

A composite at the depth limit becomes one box with its subtotals; consecutive copies of one
block (a `[...]xN` repeat) become one box `[bottleneck] x6`.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from ..analysis.core import Analysis, Row
from ..analysis.counts import ZERO, Cost
from ..analysis.notation import block_call, describe, shape_str
from ..analysis.receptive import fmt as rf_fmt
from ..analysis.report import human
from ..ir import LAYER_KINDS, Network, NodeBase, Seq, layers, walk

SHOW = ("params", "macs", "rf")  # what `--show` may add to a box

DENSE_ARCS = 6  # a dense block of up to this many layers is drawn with every arc; a longer one as a running concat

# A residual's skip edge says how its shortcut came about (ir.Residual.shortcut_kind).
SHORTCUT_WORD = {"identity": "identity", "project": "projection", "pad": "zero-pad", "explicit": "shortcut"}

# Fill colours by what a box is; joins are white circles. Pale, so black text stays readable in print.
FILL = {
    "conv": "#dbe8f6", "linear": "#e6ddf4", "pool": "#dcefd9", "adaptive_pool": "#dcefd9",
    "batchnorm": "#eeeeee", "lrn": "#eeeeee", "activation": "#fbf0cf", "dropout": "#f4f4f4",
    "flatten": "#f4f4f4", "upsample": "#dcefd9", "channel_pad": "#f4f4f4", "merge": "#ffffff",
    "folded_conv": "#dbe8f6", "fused_conv": "#dbe8f6", "folded_linear": "#e6ddf4",
    "block": "#f7e1cf", "side": "#f9e0e0", "io": "#ffffff",
}


@dataclass
class Box:
    id: str
    lines: list[str]  # the label, first line the name as written, then the output shape and figures
    role: str  # a FILL key for layers; "join" (+, x, concat), "io" (input, output), "exit" (a side output)
    path: str = ""  # the IR path it stands for ("" for joins it adds)
    cluster: str | None = None


@dataclass
class Edge:
    src: str
    dst: str
    label: str = ""
    style: str = ""  # "skip" (a residual shortcut), "side" (gate or side output), "long" (@name), "dense"


@dataclass
class Cluster:
    id: str
    label: str
    parent: str | None


@dataclass
class Diagram:
    name: str
    boxes: list[Box] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)

    def ranks(self) -> int:
        """Boxes on the longest path from the input: how tall Graphviz will draw it."""
        inputs: dict[str, list[str]] = {}
        for e in self.edges:
            inputs.setdefault(e.dst, []).append(e.src)
        longest: dict[str, int] = {}
        for b in self.boxes:  # boxes are made in an order where every edge points forward
            longest[b.id] = 1 + max((longest.get(s, 0) for s in inputs.get(b.id, ())), default=0)
        return max(longest.values(), default=0)


def diagram(network: Network, analysis: Analysis, depth: int | None = None,
            show: Iterable[str] = ()) -> Diagram:
    """The diagram of `network`, blocks at `depth` (as in `netspec summary --depth`) drawn as one box."""
    return _Builder(network, analysis, depth, tuple(show)).run()


# ---------------------------------------------------------------- building


def field_text(row: Row) -> str:
    """Receptive field and effective stride as `size/stride` (`427/32`; `7x3/2` where the axes differ)."""
    def pair(a, b):
        return rf_fmt(a) if a == b else f"{rf_fmt(a)}x{rf_fmt(b)}"
    return f"{pair(*row.field.size)}/{pair(*row.field.jump)}"


def _figures(cost: Cost, row: Row | None, show: Sequence[str]) -> list[str]:
    """The lines `--show` adds: parameters and MACs on one line (zeros left out), the receptive field."""
    counts = []
    if "params" in show and cost.params:
        counts.append(f"{cost.params:,} params")
    if "macs" in show and cost.macs != 0:
        counts.append(f"{human(cost.macs)} MACs")
    out = [", ".join(counts)] if counts else []
    if "rf" in show and row is not None:
        out.append(f"RF {field_text(row)}")
    return out


def block_title(node: NodeBase) -> str:
    """A composite's name as written: the block call it came from, else its kind in paper notation."""
    if node.kind == "seq":
        if node.block:
            return block_call(node)
        ops = [describe(n) for n in layers(node)]
        return " ".join(ops) if len(ops) <= 3 else f"{ops[0]} ... {ops[-1]} ({len(ops)} layers)"
    return describe(node)


def outer_seqs(root: Seq) -> dict[str, Seq]:
    """Nodes that are the only child of a sequence, mapped to the outermost such sequence.

    A block whose body is one combinator (`inception3a: inception(...)` is one concat) has no row of
    its own in the analysis: its combinator's row stands for it, and should carry its names.
    """
    out: dict[str, Seq] = {}
    for n in walk(root):
        if n is not root and n.kind == "seq" and len(n.children) == 1:
            out[n.children[0].path] = out.get(n.path, n)
    return out


def op_text(node: NodeBase, outer: Seq | None = None) -> str:
    """What a box or a row says a node is: a layer in paper notation, a block by its name."""
    if node.kind in LAYER_KINDS:
        return describe(node)
    named = outer if outer is not None and outer.block else node
    return block_title(named)


def title(node: NodeBase, outer: Seq | None = None) -> str:
    """A box's first line: `label: op` as written (`inception3a: inception`, `conv1: conv7-64/2`)."""
    named = outer if outer is not None else node
    text = op_text(node, outer)
    return f"{named.label}: {text}" if named.label and named.label != text else text


class _Builder:
    def __init__(self, network: Network, analysis: Analysis, depth: int | None, show: tuple[str, ...]):
        self.network, self.depth, self.show = network, depth, show
        self.rows = {r.path: r for r in analysis.rows}
        self.out = Diagram(network.name)
        self.saved: dict[str, list[str]] = {}  # `@name` -> the boxes that produce it
        self.clusters: list[str | None] = [None]

    def run(self) -> Diagram:
        start = self.add(["input", shape_str(self.network.input_shape)], "io")
        tails = self.seq(self.network.body, 1, [start])
        end = self.add(["output", shape_str(self.network.output_shape)], "io")
        self.connect(tails, end)
        return self.out

    # -- primitives

    def add(self, lines: list[str], role: str, path: str = "") -> str:
        box_id = f"n{len(self.out.boxes)}"
        self.out.boxes.append(Box(box_id, lines, role, path, self.clusters[-1]))
        return box_id

    def connect(self, tails: Sequence[str], dst: str, label: str = "", style: str = "") -> None:
        for t in tails:
            self.out.edges.append(Edge(t, dst, label, style))

    def open(self, label: str) -> None:
        cluster_id = f"cluster_{len(self.out.clusters)}"
        self.out.clusters.append(Cluster(cluster_id, label, self.clusters[-1]))
        self.clusters.append(cluster_id)

    def close(self) -> None:
        self.clusters.pop()

    def figures(self, node: NodeBase) -> list[str]:
        row = self.rows.get(node.path)
        return _figures(row.cost if row else ZERO, row, self.show)

    # -- the walk: `tails` are the boxes whose outputs feed the next node (several into a dense layer)

    def node(self, node: NodeBase, depth: int, tails: list[str], outer: Seq | None = None) -> list[str]:
        if node.kind == "seq" and len(node.children) == 1:  # adds no level, as in the analysis
            return self.node(node.children[0], depth, tails, outer or node)
        if node.kind in LAYER_KINDS:
            return self.layer(node, tails, outer)
        if self.depth is not None and depth >= self.depth:
            return self.collapsed([node], tails, outer)
        framed = outer is not None and bool(outer.block or outer.label)
        if framed:  # a block whose body is one combinator: frame the combinator with the block's name
            self.open(title(node, outer))
        tails = getattr(self, "expand_" + node.kind)(node, depth, tails)
        if framed:
            self.close()
        return tails

    def layer(self, node: NodeBase, tails: list[str], outer: Seq | None = None) -> list[str]:
        if node.kind == "save":  # names the tensor; no box of its own
            self.saved[node.ref] = list(tails)
            return tails
        box = self.add([title(node, outer), shape_str(node.out_shape), *self.figures(node)],
                       node.kind, node.path)
        self.connect(tails, box)
        if node.kind == "merge":
            for ref in node.refs:
                self.connect(self.saved.get(ref, []), box, f"@{ref}", "long")
        return [box]

    def collapsed(self, nodes: list[NodeBase], tails: list[str], outer: Seq | None = None,
                  count: int = 1) -> list[str]:
        """One box for a composite, or for a repeat of blocks (`count` times `nodes`), with subtotals."""
        first, last = nodes[0], nodes[-1]
        if count > 1:
            once = nodes[: len(nodes) // count]
            name = f"[{' '.join(block_title(n) for n in once)}] x{count}"
        else:
            name = title(first, outer)
        rows = [self.rows.get(n.path) for n in nodes]
        cost = sum((r.cost for r in rows if r is not None), ZERO)
        lines = [name, shape_str(last.out_shape), *_figures(cost, rows[-1], self.show)]
        role = "side" if first.kind == "side" else "block"
        box = self.add(lines, role, first.path)
        self.connect(tails, box, style="side" if role == "side" else "")
        inner: set[str] = set()
        for n in (m for node in nodes for m in walk(node)):
            if n.kind == "save":
                inner.add(n.ref)
                self.saved[n.ref] = [box]
            elif n.kind == "merge":
                for ref in n.refs:
                    if ref not in inner:
                        self.connect(self.saved.get(ref, []), box, f"@{ref}", "long")
        if first.kind == "side":
            return self.side_exit(first, [box], tails)
        return [box]

    def seq(self, seq: Seq, depth: int, tails: list[str]) -> list[str]:
        children = list(seq.children)
        runs = self.collapsed_repeats(seq, depth)
        i = 0
        while i < len(children):
            if i in runs:
                stop, count = runs[i]
                tails = self.collapsed(children[i:stop], tails, count=count)
                i = stop
            else:
                tails = self.node(children[i], depth, tails)
                i += 1
        return tails

    def collapsed_repeats(self, seq: Seq, depth: int) -> dict[int, tuple[int, int]]:
        """The `[...]xN` repeats of `seq` drawn as one box: start -> (stop, count).

        Only where the children are blocks at the depth limit (a repeat of layers stays a
        column of layers), and only the outermost of nested repeats.
        """
        if self.depth is None or depth < self.depth:
            return {}
        out: dict[int, tuple[int, int]] = {}
        covered = -1
        for span in sorted(seq.repeats, key=lambda r: (r.start, -r.stop)):
            if span.start < covered or span.count < 2:
                continue
            if all(c.kind not in LAYER_KINDS for c in seq.children[span.start:span.stop]):
                out[span.start] = (span.stop, span.count)
                covered = span.stop
        return out

    def expand_seq(self, node: Seq, depth: int, tails: list[str]) -> list[str]:
        framed = bool(node.block or node.label)  # a named block gets a frame; a concat's branch does not
        if framed:
            self.open(title(node))
        tails = self.seq(node, depth + 1, tails)
        if framed:
            self.close()
        return tails

    def expand_residual(self, node, depth: int, tails: list[str]) -> list[str]:
        body = self.seq(node.body, depth + 1, tails)
        add = self.add(["+", shape_str(node.out_shape)], "join", node.path)
        self.connect(body, add)
        if node.shortcut is None:
            self.connect(tails, add, "identity", "skip")
        else:
            ops = " ".join(describe(n) for n in layers(node.shortcut))
            self.connect(tails, add, f"{SHORTCUT_WORD[node.shortcut_kind]}: {ops}", "skip")
        return [add]

    def expand_concat(self, node, depth: int, tails: list[str]) -> list[str]:
        ends = [t for branch in node.branches for t in self.node(branch, depth + 1, tails)]
        join = self.add(["concat", shape_str(node.out_shape)], "join", node.path)
        self.connect(ends, join)
        return [join]

    def expand_dense(self, node, depth: int, tails: list[str]) -> list[str]:
        if len(node.layers) <= DENSE_ARCS:  # every arc, as the paper's Figure 1 draws a 5-layer block
            seen = list(tails)  # layer i reads the block input and every earlier layer's output
            for layer in node.layers:
                seen = seen + self.node(layer, depth + 1, seen)
            join = self.add(["concat", shape_str(node.out_shape)], "join", node.path)
            self.connect(seen, join)
            return [join]
        # past that, n(n+1)/2 arcs are unreadable (and Graphviz takes minutes over DenseNet-201's):
        # the same connectivity as a running concat, each layer's output joined to all before it
        running = tails
        for i, layer in enumerate(node.layers):
            out = self.node(layer, depth + 1, running)
            last = i == len(node.layers) - 1
            shape = node.out_shape if last else node.layers[i + 1].in_shape
            join = self.add(["concat", shape_str(shape)], "join", node.path if last else "")
            self.connect(running + out, join)
            running = [join]
        return running

    expand_buffered_dense = expand_dense  # the same connectivity, written into one buffer

    def expand_fused_concat(self, node, depth: int, tails: list[str]) -> list[str]:
        """After fuse_1x1: the shared stem first, then each branch from its slice (or from the input)."""
        stem = self.seq(node.stem, depth + 1, tails)
        ends = [t for branch, part in zip(node.branches, node.parts)
                for t in self.node(branch, depth + 1, tails if part is None else stem)]
        join = self.add(["concat", shape_str(node.out_shape)], "join", node.path)
        self.connect(ends, join)
        return [join]

    def expand_gate(self, node, depth: int, tails: list[str]) -> list[str]:
        self.open(title(node))
        scale = self.seq(node.body, depth + 1, tails)
        self.close()
        mul = self.add(["x", shape_str(node.out_shape)], "join", node.path)
        self.connect(tails, mul)
        self.connect(scale, mul, "scale", "side")
        return [mul]

    def expand_side(self, node, depth: int, tails: list[str]) -> list[str]:
        self.open(title(node))
        ends = self.seq(node.body, depth + 1, tails)
        self.close()
        return self.side_exit(node, ends, tails)

    def side_exit(self, node, ends: list[str], tails: list[str]) -> list[str]:
        exit_box = self.add([node.output, shape_str(node.body.out_shape)], "exit", node.path)
        self.connect(ends, exit_box, style="side")
        return tails  # the main path goes on from where the side output left it


# ---------------------------------------------------------------- DOT text


def quote(text: str) -> str:
    """A DOT string literal: quotes and backslashes escaped, so `\\l` or `\\N` in a name stay literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(pairs: dict[str, str]) -> str:
    return "[" + ", ".join(f"{k}={quote(v)}" for k, v in pairs.items()) + "]"


EDGE_STYLE = {
    "skip": {"style": "dashed", "color": "#1f5fa8", "fontcolor": "#1f5fa8"},
    "side": {"style": "dashed", "color": "#a83232", "fontcolor": "#a83232"},
    "long": {"color": "#2f7d32", "fontcolor": "#2f7d32", "penwidth": "1.5"},
}


WRAP = 36  # characters: a long block call breaks after a comma, so boxes stay narrow


def _box_attrs(box: Box, link) -> dict[str, str]:
    head = textwrap.wrap(box.lines[0], WRAP, break_long_words=False, break_on_hyphens=False) or [""]
    attrs = {"label": "\n".join(head + box.lines[1:])}
    if box.role == "join":
        attrs.update(shape="circle" if box.lines[0] in ("+", "x") else "box", style="filled",
                     fillcolor="#ffffff", margin="0.02")
        if box.lines[0] in ("+", "x"):
            attrs.update(label=box.lines[0], xlabel=box.lines[1], width="0.3", fixedsize="true")
    elif box.role == "io":
        attrs.update(shape="oval", style="filled", fillcolor=FILL["io"])
    elif box.role == "exit":
        attrs.update(shape="cds", style="filled", fillcolor=FILL["side"])
    else:
        attrs.update(fillcolor=FILL.get(box.role, "#ffffff"))
        if box.role in ("block", "side"):
            attrs.update(penwidth="1.5")
    if box.path:
        attrs["tooltip"] = box.path
        href = link(box.path) if link is not None else None
        if href:
            attrs["href"] = href
    return attrs


def to_dot(d: Diagram, link=None) -> str:
    """DOT text, one statement per line; `link(path)` gives a box a URL (the HTML report's rows), or None."""
    out = [f"digraph {quote(d.name)} {{",
           '  graph [rankdir="TB", nodesep="0.25", ranksep="0.3", fontname="Helvetica", fontsize="10"];',
           '  node [shape="box", style="rounded,filled", fontname="Helvetica", fontsize="10", margin="0.08,0.04"];',
           '  edge [arrowsize="0.6", fontname="Helvetica", fontsize="9"];']
    children: dict[str | None, list[Cluster]] = {}
    for c in d.clusters:
        children.setdefault(c.parent, []).append(c)
    members: dict[str | None, list[Box]] = {}
    for b in d.boxes:
        members.setdefault(b.cluster, []).append(b)

    def emit(cluster: str | None, indent: str) -> None:
        for sub in children.get(cluster, []):
            out.append(f"{indent}subgraph {sub.id} {{")
            out.append(f'{indent}  graph [label={quote(sub.label)}, style="rounded,dashed", color="#999999", '
                       f'labeljust="l"];')
            emit(sub.id, indent + "  ")
            out.append(f"{indent}}}")
        for b in members.get(cluster, []):
            out.append(f"{indent}{b.id} {_attrs(_box_attrs(b, link))};")

    emit(None, "  ")
    for e in d.edges:
        attrs = dict(EDGE_STYLE.get(e.style, {}))
        if e.label:
            attrs["label"] = e.label
        out.append(f"  {e.src} -> {e.dst}" + (f" {_attrs(attrs)}" if attrs else "") + ";")
    out.append("}")
    return "\n".join(out) + "\n"
