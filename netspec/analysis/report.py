"""An Analysis as text: a table like Keras' model.summary() and torchinfo, Markdown, or JSON.

Plain string formatting: printing a summary must not pay for importing a rendering library.
Sizes are in decimal units (1 MB = 10^6 bytes), as torchinfo reports them.
"""

from __future__ import annotations

from . import receptive
from .core import Analysis, Row
from .counts import numel
from .notation import shape_str



def human(n: int | None, unit: str = "") -> str:
    """25557032 -> '25.56 M'."""
    if n is None:
        return "?"
    for scale, suffix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {suffix}{unit}"
    return f"{n} {unit}".rstrip()


def _int(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def _bytes(n: int | None) -> str:
    if n is None:
        return "?"
    for scale, unit in ((10**9, "GB"), (10**6, "MB"), (10**3, "KB")):
        if n >= scale:
            return f"{n / scale:,.2f} {unit}"
    return f"{n} B"


def _count(n: int) -> str:
    """12345678 -> '12,345,678 (12.35 M)'; small counts need no second spelling."""
    return f"{n:,} ({human(n)})" if n >= 1000 else f"{n:,}"


def _pair(a, b) -> str:
    return receptive.fmt(a) if a == b else f"{receptive.fmt(a)}x{receptive.fmt(b)}"


def field_text(row_or_field) -> str:
    f = row_or_field.field if isinstance(row_or_field, Row) else row_or_field
    return f"{_pair(*f.size)}/{_pair(*f.jump)}"


def _visible(analysis: Analysis, depth: int | None) -> list[Row]:
    if depth is None:
        return list(analysis.rows)
    return [r for r in analysis.rows if r.depth <= depth]


def _cells(analysis: Analysis, depth: int | None) -> list[list[str]]:
    out = []
    parents: list[str] = []  # path of the shown row at each depth above the current one
    for r in _visible(analysis, depth):
        del parents[r.depth - 1:]
        parent = parents[-1] if parents else ""
        # the path below the parent row: a one-layer block adds no row, so its name stays in the child's
        name = r.path[len(parent) + 1:] if parent and r.path.startswith(parent + ".") else (r.path or r.op)
        parents.append(r.path)
        collapsed = r.leaf or (depth is not None and r.depth == depth)
        # a block that is opened shows its subtotal in parentheses: its rows below add up to it
        params, macs = _int(r.cost.params), human(r.cost.macs)
        figures = [params, macs] if collapsed else [f"({params})", f"({macs})"]
        out.append(["  " * (r.depth - 1) + name, r.op, shape_str(r.out_shape), *figures, field_text(r)])
    return out


HEADER = ["Layer", "Op", "Output", "Params", "MACs", "RF/stride"]


def _totals(a: Analysis) -> list[tuple[str, str]]:
    rows = [
        ("Input", f"{shape_str(a.input_shape)}  ->  output {shape_str(a.output_shape)}"),
        *([("Constraints", "; ".join(a.constraints))] if a.constraints else []),
        ("Total params", _count(a.params)),
        ("Trainable params", _count(a.trainable_params)),
        ("Non-trainable params", f"{a.non_trainable_params:,}" +
         (" (batch-norm running statistics)" if a.non_trainable_params else "")),
        ("MACs", f"{human(a.macs)} ({_int(a.macs)} multiply-accumulates of conv and fc, one sample)"),
        ("Other ops", f"{human(a.ops)} (bias, batch norm, activations, pooling, adds)"),
        ("Input size", _bytes(None if numel(a.input_shape) is None else numel(a.input_shape) * a.bytes_per_element)),
        ("Activations", f"{_bytes(a.activation_bytes)} ({human(a.activation_elements)} elements, {a.dtype}, "
                        "forward, one sample)"),
        ("Params size", _bytes(a.param_bytes)),
    ]
    if a.head_field is not None:
        rows.append(("Receptive field", f"{field_text(a.head_field)} (size/stride) at the head, {a.head_path}"))
    else:
        rows.append(("Receptive field", f"{field_text(a.output_field)} (size/stride) at the output"))
    return rows


def table(a: Analysis, depth: int | None = None) -> str:
    cells = _cells(a, depth)
    numeric = {3, 4}
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(HEADER)]

    def line(values):
        return "  ".join(v.rjust(w) if i in numeric else v.ljust(w)
                         for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    rule = "=" * max(len(line(HEADER)), 60)
    out = [f"Network: {a.network}", rule, line(HEADER), "-" * len(rule)]
    out += [line(c) for c in cells]
    out.append(rule)
    label = max(len(k) for k, _ in _totals(a))
    out += [f"{k + ':':<{label + 1}} {v}" for k, v in _totals(a)]
    out.append(rule)
    return "\n".join(out)


def markdown(a: Analysis, depth: int | None = None) -> str:
    cells = _cells(a, depth)
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    out = [f"### {a.network}", "", "| " + " | ".join(HEADER) + " |",
           "|" + "|".join("---:" if i in (3, 4) else "---" for i in range(len(HEADER))) + "|"]
    for c in cells:
        indent = "&nbsp;" * (2 * (len(c[0]) - len(c[0].lstrip())))
        out.append("| " + " | ".join([indent + esc(c[0].lstrip()), *(esc(x) for x in c[1:])]) + " |")
    out.append("")
    out += [f"- **{k}**: {v}" for k, v in _totals(a)]
    return "\n".join(out)


def to_json(a: Analysis, depth: int | None = None) -> str:
    import json

    return json.dumps(a.to_dict(depth), indent=2)


RENDER = {"table": table, "markdown": markdown, "json": to_json}
