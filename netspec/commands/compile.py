"""`netspec compile`: a spec as standalone source for a backend (torch: a readable model.py)."""

from __future__ import annotations

import sys

from ..files import write_atomic
from .common import add_spec_options

BACKENDS = ("torch",)


def add_parser(sub) -> None:
    p = sub.add_parser("compile", help="write a spec as standalone Python source (PyTorch)",
                       description="Write the network as a standalone, readable PyTorch module: one class per "
                                   "user block and a top-level class, needing torch only at run time.")
    p.add_argument("spec", metavar="SPEC", help="a .net file or the name of a zoo spec")
    p.add_argument("--backend", choices=BACKENDS, default="torch", help="target (default: torch)")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write the source (default: standard output)")
    p.add_argument("--class-name", metavar="NAME", help="name of the top-level class (default: from the network)")
    add_spec_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..backends.torch.codegen import generate, is_identifier
    from ..frontend import load

    if args.class_name is not None and not is_identifier(args.class_name):
        print(f"error: --class-name {args.class_name!r} is not a Python identifier", file=sys.stderr)
        return 2
    network = load(args.spec, params=dict(args.params), input=args.input)
    source = generate(network, class_name_override=args.class_name)
    if args.output in (None, "-"):
        sys.stdout.write(source)
    else:
        write_atomic(args.output, source)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0
