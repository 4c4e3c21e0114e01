"""The HTML report: one self-contained page about a network (and, given a run folder, its training).

`report(...)` gathers plain data (table rows, charts, lint findings, the spec's source lines) and
renders templates/report.html.j2, which inlines its stylesheet and script: the page makes no
request to anything, which its Content-Security-Policy (`default-src 'none'`) also enforces.
The diagram is Graphviz's SVG, inline; where `dot` is missing the page says how to install it.
"""

from __future__ import annotations

import base64
import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import jinja2
from markupsafe import Markup

from ..analysis.core import Analysis
from ..analysis.notation import shape_str
from ..analysis.receptive import fmt as rf_fmt
from ..analysis.report import human
from ..diagnostics import Diagnostic
from ..ir import Network
from . import charts
from .graph import diagram, field_text, op_text, outer_seqs, to_dot
from .layout import DotFailed, DotMissing, layout

TEMPLATES = Path(__file__).parent / "templates"
MAX_RANKS, MAX_BOXES = 45, 100  # the diagram's default depth is the deepest that keeps it this small
AUTO = "auto"  # report(depth=AUTO): choose the diagram's depth by those limits


@dataclass
class TableRow:
    id: str
    parent: str  # the id of the row it belongs to, "" at the top level
    depth: int
    name: str
    op: str  # a layer in paper notation, or a block's name
    args: str  # a block call's arguments, "(64, stride=2)": a phone leaves them out
    output: str
    params: str
    macs: str
    memory: str
    field: str
    leaf: bool
    source: str = ""  # "#s0-L12": the line it came from in the source listing
    line: str = ""  # "resnet.net:12", as the link reads
    findings: list[str] = field(default_factory=list)  # ids of the lint findings about it


@dataclass
class Finding:
    id: str
    code: str
    message: str
    help: str
    where: str
    rows: list[str]


@dataclass
class SourceFile:
    id: str
    name: str
    lines: list[str]


@dataclass
class RunInfo:
    folder: str
    epochs: int
    final_acc: float | None
    best_acc: float | None
    best_epoch: int | None
    loss_chart: Markup
    acc_chart: Markup
    confusion: str  # a data: URI of confusion.png, or ""


def _bytes(n: int | None) -> str:
    return "?" if n is None else human(n, "B")


def auto_depth(network: Network, analysis: Analysis) -> int | None:
    """The deepest `--depth` whose diagram stays legible: at most MAX_RANKS tall and MAX_BOXES boxes
    (None: every layer fits)."""
    deepest = max((r.depth for r in analysis.rows), default=1)
    best = 1
    for d in [*range(1, deepest + 1), None]:
        drawn = diagram(network, analysis, d)
        if drawn.ranks() > MAX_RANKS or len(drawn.boxes) > MAX_BOXES:
            break
        best = d
    return best


def _row_ids(analysis: Analysis) -> dict[str, str]:
    return {r.path: f"r{i}" for i, r in enumerate(analysis.rows)}


def table_rows(network: Network, analysis: Analysis, sources: dict[str, SourceFile]) -> list[TableRow]:
    """Every row of the analysis, each knowing its parent, so the page can fold and unfold them."""
    outer = outer_seqs(network.body)
    out: list[TableRow] = []
    stack: list[tuple[int, str]] = []  # (depth, id) of the open ancestors
    bpe = analysis.bytes_per_element
    for i, r in enumerate(analysis.rows):
        while stack and stack[-1][0] >= r.depth:
            stack.pop()
        row_id = f"r{i}"
        wrapper = outer.get(r.path)
        named = wrapper if wrapper is not None else r.node
        op, args = op_text(r.node, wrapper), ""
        if not r.leaf and op.endswith(")") and "(" in op:
            op, args = op[: op.index("(")], op[op.index("("):]
        elements = r.cost.elements
        span = named.span or r.node.span  # a block's row points at its call, not at the block's body
        src = sources.get(span.file) if span else None
        out.append(TableRow(
            row_id, stack[-1][1] if stack else "", r.depth, named.name, op, args,
            shape_str(r.out_shape), f"{r.params:,}", human(r.macs) if r.macs else ("?" if r.macs is None else "0"),
            _bytes(None if elements is None else elements * bpe), field_text(r), r.leaf,
            f"#{src.id}-L{span.line}" if src else "", f"{src.name}:{span.line}" if src else ""))
        stack.append((r.depth, row_id))
    return out


def read_sources(analysis: Analysis, network: Network) -> dict[str, SourceFile]:
    """The files the rows came from (the spec and the libraries it imports), main spec first."""
    files = [network.source] if network.source else []
    files += sorted({r.node.span.file for r in analysis.rows if r.node.span} - set(files))
    out = {}
    for name in files:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except OSError:
            continue
        out[name] = SourceFile(f"s{len(out)}", Path(name).name, text.splitlines())
    return out


def findings(diags: Sequence[Diagnostic], analysis: Analysis, rows: list[TableRow],
             sources: dict[str, SourceFile]) -> list[Finding]:
    """Lint findings, each linked to the rows whose source span it names (and those rows back to it)."""
    by_span: dict[tuple, list[int]] = {}
    for i, r in enumerate(analysis.rows):
        if r.node.span is not None:
            by_span.setdefault((r.node.span.file, r.node.span.line, r.node.span.column), []).append(i)
    out = []
    for k, d in enumerate(diags):
        fid = f"lint{k}"
        hits = by_span.get((d.span.file, d.span.line, d.span.column), []) if d.span else []
        for i in hits:
            rows[i].findings.append(fid)
        src = sources.get(d.span.file) if d.span else None
        where = f"{src.name}:{d.span.line}" if src else (str(d.span) if d.span else "")
        out.append(Finding(fid, d.code, d.message, d.help or "", where, [rows[i].id for i in hits]))
    return out


def stages(analysis: Analysis, at_least: int = 5) -> list:
    """The rows the cost charts compare: the top level, or one level down where it has too few rows
    to say anything (VGG's spec is two calls, `features` and `classifier`)."""
    depth = 1
    rows = analysis.at_depth(depth)
    while len(rows) < at_least and depth < 3 and any(not r.leaf for r in rows):
        depth += 1
        rows = analysis.at_depth(depth)
    return rows


def stage_charts(network: Network, analysis: Analysis) -> list[tuple[str, Markup]]:
    """Where parameters, MACs and activation memory sit, per stage."""
    ids = _row_ids(analysis)
    outer = outer_seqs(network.body)
    bpe = analysis.bytes_per_element

    def bars(value, text):
        return [charts.Bar(outer.get(r.path, r.node).path, value(r) or 0, text(r), f"#{ids[r.path]}")
                for r in stages(analysis)]

    return [
        ("Parameters", charts.bar_chart(bars(lambda r: r.params, lambda r: f"{r.params:,}"), "parameters per stage")),
        ("MACs", charts.bar_chart(bars(lambda r: r.macs, lambda r: human(r.macs)), "MACs per stage")),
        ("Activation memory", charts.bar_chart(
            bars(lambda r: r.cost.elements and r.cost.elements * bpe, lambda r: _bytes(r.cost.elements and r.cost.elements * bpe)),
            "activation memory per stage")),
    ]


JOINS = ("residual", "concat", "dense", "fused_concat", "buffered_dense")  # parallel paths: one step each


def field_steps(analysis: Analysis) -> list:
    """The rows along the main path: its layers in order, a residual, concat or dense block as one
    step at its join (its branches run side by side, not one after another)."""
    steps, inside = [], None
    for r in analysis.rows:
        if inside is not None and r.path.startswith(inside):
            continue
        inside = None
        if not r.main or len(r.out_shape) != 3 or r.field.size[0] is None or r.kind == "save":
            continue
        if r.kind in JOINS:
            steps.append(r)
            inside = r.path + "."
        elif r.leaf:
            steps.append(r)
    return steps


def field_chart(analysis: Analysis) -> Markup:
    """Receptive field (rows of input pixels) after each step of the main path, against the input height."""
    steps = field_steps(analysis)
    points = [(i + 1, float(r.field.size[0])) for i, r in enumerate(steps)]
    titles = [f"{r.path} ({r.op}): {rf_fmt(r.field.size[0])}" for r in steps]
    height = analysis.input_shape[1] if len(analysis.input_shape) == 3 else None
    hline = (float(height), f"input height {height}") if isinstance(height, int) else None
    return charts.line_chart([charts.Series("receptive field", points, titles)],
                             "receptive field along the main path", "step along the main path (layer or join)",
                             "receptive field (pixels)", hline=hline, ymin=0, width=480, height=250)


def _numbers(row: dict) -> dict[str, float]:
    """A metrics.csv row's numeric cells (a hand-edited or truncated file loses cells, not the page)."""
    out = {}
    for key, value in row.items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            pass
    return out


def read_run(folder: Path) -> RunInfo | None:
    """The training history of a `netspec train` folder: metrics.csv curves, confusion.png if eval drew one."""
    metrics = folder / "metrics.csv"
    if not metrics.is_file():
        return None
    with open(metrics, newline="", encoding="utf-8") as fh:
        history = [_numbers(row) for row in csv.DictReader(fh)]
    confusion = folder / "confusion.png"
    uri = ("data:image/png;base64," + base64.b64encode(confusion.read_bytes()).decode("ascii")
           if confusion.is_file() else "")
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]

    def series(name, key, scale=1.0):
        return charts.Series(name, [(e, scale * h[key]) for e, h in zip(epochs, history) if key in h])

    val = [(h["val_acc"], int(e)) for e, h in zip(epochs, history) if "val_acc" in h]
    best = max(val, key=lambda v: v[0]) if val else None
    return RunInfo(
        str(folder), len(history), val[-1][0] if val else None, best[0] if best else None,
        best[1] if best else None,
        charts.line_chart([series("train", "train_loss"), series("held-out", "val_loss")], "loss per epoch",
                          "epoch", "loss", ymin=0, width=420, height=250),  # two or three to a row
        charts.line_chart([series("train", "train_acc", 100), series("held-out", "val_acc", 100)],
                          "accuracy per epoch", "epoch", "accuracy (%)", width=420, height=250),
        uri)


def diagram_svg(network: Network, analysis: Analysis, depth: int | None, ids: dict[str, str]) -> tuple[Markup, str]:
    """The diagram as inline SVG (boxes link to their rows), or "" and why not."""
    text = to_dot(diagram(network, analysis, depth, ("params", "macs")),
                  link=lambda path: f"#{ids[path]}" if path in ids else None)
    try:
        svg = layout(text, "svg").decode("utf-8")
    except (DotMissing, DotFailed) as exc:
        return Markup(""), str(exc)
    svg = svg[svg.index("<svg"):]  # drop the XML prolog, doctype and comments: not allowed inside HTML
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    return Markup(svg), ""


def report(network: Network, analysis: Analysis, diags: Sequence[Diagnostic] = (), *,
           depth: int | None | str = AUTO, run_folder: Path | None = None) -> str:
    """The whole page as text. The diagram's `depth`: AUTO picks it by size, None draws every layer."""
    sources = read_sources(analysis, network)
    rows = table_rows(network, analysis, sources)
    found = findings(diags, analysis, rows, sources)
    if depth == AUTO:
        depth = auto_depth(network, analysis)
    svg, missing = diagram_svg(network, analysis, depth, _row_ids(analysis))
    head = analysis.head_field if analysis.head_field is not None else analysis.output_field
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(
        network=network, analysis=analysis, rows=rows, findings=found, sources=list(sources.values()),
        totals=[
            ("Input", shape_str(analysis.input_shape)), ("Output", shape_str(analysis.output_shape)),
            ("Trainable parameters", f"{analysis.trainable_params:,} ({human(analysis.trainable_params)})"),
            ("Non-trainable", f"{analysis.non_trainable_params:,}"),
            ("MACs", human(analysis.macs)),
            ("Activations", f"{_bytes(analysis.activation_bytes)} ({analysis.dtype}, forward, one sample)"),
            ("Receptive field", f"{rf_fmt(head.size[0])}/{rf_fmt(head.jump[0])}"
                                + (f" at {analysis.head_path}" if analysis.head_path else "")),
        ],
        stage_charts=stage_charts(network, analysis), field_chart=field_chart(analysis),
        diagram=svg, diagram_missing=missing, depth=depth,
        run=read_run(run_folder) if run_folder is not None else None,
        css=Markup((TEMPLATES / "report.css").read_text(encoding="utf-8")),
        script=Markup((TEMPLATES / "report.js").read_text(encoding="utf-8")))
