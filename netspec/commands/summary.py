"""`netspec summary SPEC`: the layer table of a network, its parameters, MACs, memory and receptive field."""

from __future__ import annotations

import argparse

FORMATS = ("table", "json", "markdown")


def parse_value(text: str):
    """A `--set` value as the spec would read it: true/false, an int, a float, else the string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def assignment(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not name.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. num_classes=10), got {text!r}")
    return name.strip(), parse_value(value.strip())


def positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a depth of 1 or more, got {text!r}")
    return n


def emit(text: str) -> None:
    """Print a command's output; a reader that stops early (`| head`) is not an error."""
    import os
    import sys

    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush stays quiet


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "summary", help="print the layer table: shapes, parameters, MACs, memory, receptive field",
        description="Analyse a spec without building it: every layer's output shape, parameters and "
                    "multiply-accumulates, the totals, activation memory and receptive field.")
    p.add_argument("spec", metavar="SPEC", help="a .net file, or the name of a zoo spec (resnet50)")
    p.add_argument("--input", metavar="CxHxW", help="analyse for this input shape (e.g. 3x224x224)")
    p.add_argument("--set", dest="params", action="append", type=assignment, default=[], metavar="NAME=VALUE",
                   help="override a network parameter (repeatable): --set num_classes=10")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--depth", type=positive, metavar="N", help="collapse blocks nested deeper than N")
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
    emit(RENDER[args.format](analyze(network, args.dtype), args.depth))
    return 0
