"""`netspec summary SPEC`: the layer table of a network, its parameters, MACs, memory and receptive field."""

from __future__ import annotations

from .common import add_spec_options, whole_number

FORMATS = ("table", "json", "markdown")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "summary", help="print the layer table: shapes, parameters, MACs, memory, receptive field",
        description="Analyse a spec without building it: every layer's output shape, parameters and "
                    "multiply-accumulates, the totals, activation memory and receptive field.")
    p.add_argument("spec", metavar="SPEC", help="a .net file, or the name of a zoo spec (resnet50)")
    add_spec_options(p)
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--depth", type=whole_number(1), metavar="N", help="collapse blocks nested deeper than N")
    p.add_argument("--dtype", default="float32", metavar="DTYPE",
                   help="element type for memory figures: float32 (default), float16, bfloat16, int8, ...")
    p.set_defaults(run=run)


def run(args) -> int:
    import sys

    from ..analysis.core import DTYPE_BYTES, analyze
    from ..analysis.report import RENDER
    from ..diagnostics import EXIT_USAGE
    from ..frontend import load

    if args.dtype not in DTYPE_BYTES:
        print(f"netspec summary: error: unknown --dtype {args.dtype!r}; known: {', '.join(DTYPE_BYTES)}",
              file=sys.stderr)
        return EXIT_USAGE
    network = load(args.spec, params=dict(args.params), input=args.input)
    print(RENDER[args.format](analyze(network, args.dtype), args.depth))
    return 0
