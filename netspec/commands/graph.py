"""`netspec graph SPEC -o FILE`: the network as a diagram (SVG, PNG, PDF through Graphviz, or DOT text)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_spec_options, whole_number

SUFFIXES = ("svg", "png", "pdf", "dot")


def show_list(text: str) -> tuple[str, ...]:
    """argparse type of --show: a comma-separated subset of params, macs, rf."""
    from ..render.graph import SHOW

    items = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in items if s not in SHOW]
    if unknown or not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(SHOW)}, got {text!r}")
    return items


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "graph", help="draw the network: boxes and arrows as SVG, PNG, PDF or DOT",
        description="Draw the network top to bottom: each box names a layer or block as written and shows "
                    "its output shape; branches side by side, residual shortcuts as skip edges, gates and "
                    "side outputs as side paths, @name skips as long edges. Graphviz's `dot` lays it out.")
    p.add_argument("spec", metavar="SPEC", help="a .net file, or the name of a zoo spec (resnet50)")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="the picture to write; its suffix picks the format: .svg, .png, .pdf or .dot")
    add_spec_options(p, input_help="draw for this input shape instead of the spec's")
    p.add_argument("--depth", type=whole_number(1), metavar="N",
                   help="draw blocks nested deeper than N as one box each, with their subtotals")
    p.add_argument("--show", type=show_list, default=(), metavar="LIST",
                   help="add figures to each box: a comma-separated list of params, macs, rf")
    p.set_defaults(run=run)


def run(args) -> int:
    import sys

    from ..analysis.core import analyze
    from ..diagnostics import EXIT_RUNTIME, EXIT_USAGE
    from ..files import write_atomic
    from ..frontend import load
    from ..render.graph import diagram, to_dot
    from ..render.layout import DotFailed, DotMissing, layout

    out = Path(args.output)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in SUFFIXES:
        print(f"netspec graph: error: cannot tell the format from {out.name!r}: "
              f"name the output .svg, .png, .pdf or .dot", file=sys.stderr)
        return EXIT_USAGE
    network = load(args.spec, params=dict(args.params), input=args.input)
    text = to_dot(diagram(network, analyze(network), args.depth, args.show))
    if fmt == "dot":
        write_atomic(out, text)
        print(f"wrote {out}")
        return 0
    try:
        picture = layout(text, fmt)
    except DotMissing as exc:
        dot_path = out.with_suffix(".dot")
        write_atomic(dot_path, text)
        print(f"netspec graph: Graphviz's `dot` was not found, so {out} was not drawn; wrote {dot_path} instead.\n"
              f"  help: {exc}; then run `dot -T{fmt} {dot_path} -o {out}`", file=sys.stderr)
        return EXIT_RUNTIME
    except DotFailed as exc:
        print(f"netspec graph: error: Graphviz's `dot` could not lay the graph out: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    write_atomic(out, picture)
    print(f"wrote {out}")
    return 0
