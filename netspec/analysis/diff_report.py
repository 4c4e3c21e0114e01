"""A NetworkDiff as text for a terminal, Markdown for a pull-request comment, or JSON for tools.

All three show the same things: the totals of both networks and their differences, one line per
stage (unchanged stages folded into one), and the layers and blocks added, removed, changed,
moved or renamed. The JSON document is described in docs/DIFF.md and only grows.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from . import receptive
from .diff import ADDED, CHANGED, MARKS, MOVED, REMOVED, RENAMED, SAME, Change, Delta, NetworkDiff, node_figures
from .notation import arg_text, block_call, shape_str
from .report import _bytes, field_text, human

JSON_VERSION = 1
ARROW = "→"


# ---------------------------------------------------------------- figures as words


def percent(p: float | None) -> str:
    if p is None:
        return ""
    if math.isinf(p):
        return " (new)" if p > 0 else ""
    return f" ({p:+.2f}%)" if abs(p) >= 0.01 or p == 0 else f" ({p:+.2g}%)"


def signed(d: int, unit: str) -> str:
    """+1,234 for counts, +1.23 M for MACs, +1.23 MB for bytes."""
    sign = "+" if d >= 0 else "-"
    if unit == "count":
        return f"{sign}{abs(d):,}"
    return sign + (human(abs(d)) if unit == "macs" else _bytes(abs(d)))


def plain(value: Any, unit: str) -> str:
    if value is None:
        return "?"
    return f"{value:,}" if unit == "count" else human(value) if unit == "macs" else _bytes(value)


def change_cell(d: Delta, unit: str) -> str:
    """'=' when equal, '+528,128 (+2.07%)' when not, '?' where both sides are unknown."""
    if d.old is None and d.new is None:
        return "?"
    if not d.changed:
        return "="
    if d.delta is None:
        return f"{plain(d.old, unit)} {ARROW} {plain(d.new, unit)}"
    return signed(d.delta, unit) + percent(d.percent)


def shape_cell(old, new) -> str:
    if old is None or new is None:
        return shape_str(old if new is None else new)
    return shape_str(new) if old == new else f"{shape_str(old)} {ARROW} {shape_str(new)}"


def field_cell(old, new) -> str:
    if old is None or new is None:
        return field_text(old if new is None else new)
    return field_text(new) if old == new else f"{field_text(old)} {ARROW} {field_text(new)}"


def label(row) -> str:
    return block_call(row.node)


def _call_change(old, new) -> str:
    """`bottleneck_stage(n 6 → 23)` when only arguments differ, else both calls in full."""
    a_args, b_args = getattr(old, "block_args", None) or {}, getattr(new, "block_args", None) or {}
    if getattr(old, "block", None) != getattr(new, "block", None) or a_args.keys() != b_args.keys():
        if getattr(old, "block", None) and getattr(new, "block", None) and a_args == b_args:
            return f"{old.block} {ARROW} {new.block}"
        return f"{block_call(old)} {ARROW} {block_call(new)}"
    changed = [f"{k} {arg_text(a_args[k])} {ARROW} {arg_text(b_args[k])}" for k in a_args if a_args[k] != b_args[k]]
    return f"{old.block}({', '.join(changed)})"


def repeat_changes(old, new) -> list[str]:
    """`[bottleneck(256, stride=1, width=64)] x5 → x22` for each repeat written with another count."""
    spans_old, spans_new = getattr(old, "repeats", ()), getattr(new, "repeats", ())
    if len(spans_old) != len(spans_new):
        return []
    out = []
    for a, b in zip(spans_old, spans_new):
        if a.count == b.count:
            continue
        node, span = (new, b) if b.count else (old, a)
        unit = node.children[span.start:span.start + (span.stop - span.start) // span.count]
        out.append(f"[{' '.join(block_call(n) for n in unit)}] x{a.count} {ARROW} x{b.count}")
    return out


def _value(v) -> str:
    if isinstance(v, tuple) and len(v) == 2 and v[0] == v[1]:
        return str(v[0])
    if isinstance(v, tuple):
        return "x".join(map(str, v))
    return str(v)


def what(c: Change) -> str:
    """The change itself in words: `conv3-64/2 → conv3-64`, `in_channels 1024 → 1280`, `was stage2`,
    `[bottleneck(256, stride=1, width=64)] x5 → x22`."""
    if c.status in (ADDED, REMOVED):
        return label(c.row)
    old, new = c.old.node, c.new.node
    parts = []
    if c.status == MOVED:
        parts.append(f"moved from {c.old.path}")
    elif c.old.path.rsplit(".", 1)[-1] != c.new.path.rsplit(".", 1)[-1]:
        parts.append(f"was {c.old.path.rsplit('.', 1)[-1]}")
    if block_call(old) != block_call(new):
        parts.append(_call_change(old, new) if old.kind == "seq" else f"{block_call(old)} {ARROW} {block_call(new)}")
        parts += repeat_changes(old, new)
    else:
        parts += [f"{k} {_value(a)} {ARROW} {_value(b)}" for k, (a, b) in sorted(c.attributes.items())
                  if k != "block"]
    return ", ".join(parts) or block_call(new)


# ---------------------------------------------------------------- rows of figures


def figure_deltas(c: Change, d: NetworkDiff) -> dict[str, Delta]:
    """The deltas of one aligned node; an added node counts from zero, a removed one to zero."""
    old = node_figures(c.old, d.old) if c.old is not None else None
    new = node_figures(c.new, d.new) if c.new is not None else None
    zero = {"output": None, "params": 0, "buffers": 0, "macs": 0, "memory": 0}
    old, new = old or zero, new or zero
    out = {k: Delta(old[k], new[k]) for k in ("output", "params", "buffers", "macs", "memory")}
    out["field"] = Delta(c.old.field if c.old else None, c.new.field if c.new else None)
    return out


def _sum(deltas: list[dict[str, Delta]], key: str) -> Delta:
    def total(side):
        values = [getattr(x[key], side) for x in deltas]
        return None if any(v is None for v in values) else sum(values)

    return Delta(total("old"), total("new"))


CHANGE_HEADER = ["", "Layer", "Change", "Output", "Params", "MACs", "Activations"]


def _change_cells(mark: str, path: str, text: str, f: dict[str, Delta]) -> list[str]:
    return [mark, path, text, shape_cell(f["output"].old, f["output"].new), change_cell(f["params"], "count"),
            change_cell(f["macs"], "macs"), change_cell(f["memory"], "bytes")]


def opened(c: Change, depth: int | None) -> bool:
    """Is the listing shown below this node? Not below an added or removed subtree (it is one line),
    nor below one with nothing to report, nor past --depth."""
    return c.status not in (ADDED, REMOVED) and not c.quiet and (depth is None or c.depth < depth)


def _same_run(a: Change, b: Change) -> bool:
    return a.status == b.status and a.status in (ADDED, REMOVED) and label(a.row) == label(b.row)


def change_rows(d: NetworkDiff, depth: int | None) -> Iterator[list[str]]:
    """The listing of changes, preorder; runs of like siblings added or removed are one line."""

    def visit(siblings: list[Change]) -> Iterator[list[str]]:
        i = 0
        while i < len(siblings):
            c = siblings[i]
            j = i + 1
            while j < len(siblings) and _same_run(c, siblings[j]):
                j += 1
            if j - i > 1:
                run = siblings[i:j]
                figures = [figure_deltas(x, d) for x in run]
                merged = {k: _sum(figures, k) for k in ("params", "macs", "memory")}
                merged["output"] = figures[-1]["output"]
                last = run[-1].row.path.rsplit(".", 1)[-1]
                yield _change_cells(MARKS[c.status], f"{c.row.path} … {last}", f"{j - i} × {label(c.row)}", merged)
            else:
                if c.status != SAME:
                    yield _change_cells(MARKS[c.status], c.row.path, what(c), figure_deltas(c, d))
                if opened(c, depth):
                    yield from visit(c.children)
            i = j

    yield from visit(d.changes)


STAGE_HEADER = ["", "Stage", "Output", "Params", "MACs", "Activations", "RF/stride"]


def _unchanged_stage(c: Change) -> bool:
    return c.quiet and c.old.field == c.new.field


def stage_rows(d: NetworkDiff) -> Iterator[list[str]]:
    """One line per top-level row; consecutive stages with nothing to report are folded into one."""
    folded: list[str] = []

    def flush():
        if folded:
            names = folded[0] if len(folded) == 1 else f"{folded[0]} … {folded[-1]} ({len(folded)})"
            yield ["=", names, "unchanged", "", "", "", ""]
            folded.clear()

    for c in d.changes:
        if c.status == SAME and _unchanged_stage(c):
            folded.append(c.row.path)
            continue
        yield from flush()
        f = figure_deltas(c, d)
        renamed = c.old is not None and c.new is not None and c.old.path != c.new.path
        name = f"{c.new.path} (was {c.old.path})" if renamed else c.row.path
        yield [MARKS[c.status] if c.status != SAME else "", name, shape_cell(f["output"].old, f["output"].new),
               change_cell(f["params"], "count"), change_cell(f["macs"], "macs"), change_cell(f["memory"], "bytes"),
               field_cell(f["field"].old, f["field"].new)]
    yield from flush()


TOTALS = (("params", "Params", "count"), ("non_trainable_params", "Non-trainable params", "count"),
          ("macs", "MACs", "macs"), ("memory", "Activations", "bytes"))


def total_rows(d: NetworkDiff) -> list[list[str]]:
    t = d.totals
    rows = [[name, plain(t[key].old, unit), plain(t[key].new, unit), change_cell(t[key], unit)]
            for key, name, unit in TOTALS]
    rf = t["field"]
    rows.append(["RF/stride", field_text(rf.old), field_text(rf.new),
                 "=" if not rf.changed else change_cell(t["rf"], "count") if t["rf"].delta is not None else "changed"])
    rows.append(["Output", shape_str(t["output"].old), shape_str(t["output"].new),
                 "=" if not t["output"].changed else "changed"])
    return rows


def context_lines(d: NetworkDiff) -> list[str]:
    """What differs about the networks themselves: name, input, network parameters."""
    a, b = d.old_network, d.new_network
    out = []
    if tuple(a.input_shape) != tuple(b.input_shape):
        out.append(f"input {shape_str(a.input_shape)} {ARROW} {shape_str(b.input_shape)}")
    for k in sorted(a.params.keys() | b.params.keys()):
        va, vb = a.params.get(k, "(none)"), b.params.get(k, "(none)")
        if va != vb:
            out.append(f"parameter {k}: {va} {ARROW} {vb}")
    return out


def counts(d: NetworkDiff) -> dict[str, int]:
    out = {s: 0 for s in (ADDED, REMOVED, CHANGED, MOVED, RENAMED)}
    for c in d.walk():
        if c.status in out:
            out[c.status] += 1
    return out


def _count_words(d: NetworkDiff) -> str:
    return ", ".join(f"{n} {s}" for s, n in counts(d).items() if n) or "no layer changed"


# ---------------------------------------------------------------- text


def _grid(header: list[str], rows: list[list[str]], numeric: set[int]) -> list[str]:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]

    def line(values):
        return "  ".join(v.rjust(w) if i in numeric else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    return [line(header), "-" * len(line(header))] + [line(r) for r in rows]


def where(net) -> str:
    """Where a network was read from, relative to the working folder when it lies below it."""
    import os

    if not net.source:
        return net.name
    rel = os.path.relpath(net.source) if os.path.isabs(net.source) else net.source
    return net.source if rel.startswith("..") else rel


def _title(d: NetworkDiff) -> str:
    a, b = d.old_network, d.new_network
    return f"{a.name} {ARROW} {b.name}" if a.name != b.name else a.name


def text(d: NetworkDiff, depth: int | None = None) -> str:
    a, b = d.old_network, d.new_network
    out = [f"netspec diff: {_title(d)}", f"  old: {where(a)}", f"  new: {where(b)}"]
    out += [f"  {line}" for line in context_lines(d)]
    out.append("")
    if d.empty:
        out.append("no change: the same layers, settings and figures")
        return "\n".join(out)
    out += _grid(["", "old", "new", "change"], total_rows(d), {1, 2, 3})
    if not d.changed:
        out += ["", "no change in figures (names only)"]
    out += ["", "Stages"] + _grid(STAGE_HEADER, list(stage_rows(d)), {3, 4, 5})
    rows = list(change_rows(d, depth))
    if rows:
        out += ["", f"Changes ({_count_words(d)}; + added, - removed, ! changed, > moved, ~ renamed)"]
        out += _grid(CHANGE_HEADER, rows, {4, 5, 6})
    return "\n".join(out)


# ---------------------------------------------------------------- markdown


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def markdown(d: NetworkDiff, depth: int | None = None) -> str:
    a, b = d.old_network, d.new_network
    out = [f"### netspec diff: `{where(a)}`" + (f" {ARROW} `{where(b)}`" if where(a) != where(b) else "")]
    out.append("")
    if d.empty:
        out.append("No change in layers, settings or figures.")
        return "\n".join(out)
    t = d.totals
    headline = [f"**params {change_cell(t['params'], 'count')}**", f"MACs {change_cell(t['macs'], 'macs')}",
                f"activations {change_cell(t['memory'], 'bytes')}",
                f"RF/stride {field_cell(t['field'].old, t['field'].new)}"]
    headline = [h.replace(" =", " unchanged") for h in headline]
    out.append(" · ".join(headline) if d.changed else "No change in figures (names only).")
    out += [f"- {line}" for line in context_lines(d)]
    out += ["", _md_row(STAGE_HEADER[1:]), "|---|---|--:|--:|--:|---|"]
    out += [_md_row([(f"{r[0]} " if r[0] not in ("", "=") else "") + r[1], *r[2:]]) for r in stage_rows(d)]
    out.append(_md_row(["**total**", shape_cell(t["output"].old, t["output"].new), change_cell(t["params"], "count"),
                        change_cell(t["macs"], "macs"), change_cell(t["memory"], "bytes"),
                        field_cell(t["field"].old, t["field"].new)]))
    rows = list(change_rows(d, depth))
    if rows:
        out += ["", f"<details><summary>Changes: {_count_words(d)}</summary>", "", "```diff"]
        out += [line for line in _grid(CHANGE_HEADER, rows, {4, 5, 6})[2:]]
        out += ["```", "", "</details>"]
    return "\n".join(out)


# ---------------------------------------------------------------- JSON


def _number(x):
    if isinstance(x, float) and math.isinf(x):
        return None
    return x


def delta_json(d: Delta) -> dict:
    return {"old": d.old, "new": d.new, "delta": d.delta, "percent": _number(d.percent)}


def _field_json(f) -> dict | None:
    if f is None:
        return None
    return {"receptive_field": [receptive.to_json(s) for s in f.size], "stride": [receptive.to_json(j) for j in f.jump]}


def change_json(c: Change, d: NetworkDiff) -> dict:
    f = figure_deltas(c, d)
    return {
        "status": c.status,
        "old_path": c.old.path if c.old else None,
        "new_path": c.new.path if c.new else None,
        "kind": c.row.kind,
        "depth": c.depth,
        "old_op": label(c.old) if c.old else None,
        "new_op": label(c.new) if c.new else None,
        "description": what(c),
        "attributes": {k: {"old": _jsonable(a), "new": _jsonable(b)} for k, (a, b) in sorted(c.attributes.items())},
        "output": {"old": shape_str(c.old.out_shape) if c.old else None,
                   "new": shape_str(c.new.out_shape) if c.new else None},
        "params": delta_json(f["params"]),
        "non_trainable_params": delta_json(f["buffers"]),
        "macs": delta_json(f["macs"]),
        "activation_bytes": delta_json(f["memory"]),
        "field": {"old": _field_json(f["field"].old), "new": _field_json(f["field"].new)},
    }


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return v if v is None or isinstance(v, (int, float, str, bool)) else str(v)


def _side(net) -> dict:
    return {"network": net.name, "source": net.source, "input": shape_str(net.input_shape),
            "output": shape_str(net.output_shape), "parameters": dict(net.params), "spec_hash": net.spec_hash}


def to_dict(d: NetworkDiff, depth: int | None = None, checks: list | None = None) -> dict:
    """The JSON document of `netspec diff --format json` (docs/DIFF.md)."""
    t = d.totals

    def listed(c: Change) -> Iterator[Change]:
        if c.status != SAME:
            yield c
        if opened(c, depth):
            for k in c.children:
                yield from listed(k)

    return {
        "version": JSON_VERSION,
        "old": _side(d.old_network),
        "new": _side(d.new_network),
        "changed": d.changed,
        "empty": d.empty,
        "counts": counts(d),
        "totals": {
            "params": delta_json(t["params"]),
            "non_trainable_params": delta_json(t["non_trainable_params"]),
            "macs": delta_json(t["macs"]),
            "ops": delta_json(t["ops"]),
            "activation_bytes": delta_json(t["memory"]),
            "receptive_field": delta_json(t["rf"]),
            "field": {"old": _field_json(t["field"].old), "new": _field_json(t["field"].new)},
            "output": {"old": shape_str(t["output"].old), "new": shape_str(t["output"].new)},
        },
        "stages": [change_json(c, d) for c in d.changes],
        "changes": [change_json(x, d) for c in d.changes for x in listed(c)],
        "checks": list(checks or []),
    }


def to_json(d: NetworkDiff, depth: int | None = None, checks: list | None = None) -> str:
    import json

    return json.dumps(to_dict(d, depth, checks), indent=2)


RENDER = {"text": text, "markdown": markdown}
