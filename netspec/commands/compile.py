"""`netspec compile`: a spec as standalone source for a backend (torch: a readable model.py; triton: a folder
of kernels and a runner)."""

from __future__ import annotations

import sys

from ..files import write_atomic
from .common import add_spec_options

def add_parser(sub) -> None:
    p = sub.add_parser("compile", help="write a spec as standalone Python source (PyTorch, or Triton kernels)",
                       description="Write the network as a standalone, readable PyTorch module: one class per "
                                   "user block and a top-level class, needing torch only at run time; with "
                                   "--backend triton, a folder of kernels and a model.py that launches them.")
    p.add_argument("spec", metavar="SPEC", help="a .net file or the name of a zoo spec")
    from ..backends import BACKENDS

    p.add_argument("--backend", choices=list(BACKENDS), default="torch",
                   help="; ".join(f"{b.name}: {b.summary}" for b in BACKENDS.values()) + " (default: torch)")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write the source (default: standard output)")
    p.add_argument("--class-name", metavar="NAME", help="name of the top-level class (default: from the network)")
    p.add_argument("--report", action="store_true",
                   help="triton: print, for every kernel, the spec lines it covers, its fused epilogue, tile "
                        "sizes, MACs and bytes moved, and where fusion stopped and why (writes no files)")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                   help="triton: the storage precision the kernels are generated for (default: float32)")
    add_spec_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..backends import BackendError, get
    from ..diagnostics import EXIT_RUNTIME, EXIT_USAGE
    from ..files import write_tree
    from ..frontend import load

    if args.class_name is not None and not args.class_name.isidentifier():
        print(f"error: --class-name {args.class_name!r} is not a Python identifier", file=sys.stderr)
        return EXIT_USAGE
    network = load(args.spec, params=dict(args.params), input=args.input)
    try:
        backend = get(args.backend)
    except BackendError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_RUNTIME
    if args.report:
        if not hasattr(backend, "report"):
            print(f"error: --report is for the triton backend (the {args.backend} backend has no kernels)",
                  file=sys.stderr)
            return EXIT_USAGE
        sys.stdout.write(backend.report(network, dtype=args.dtype))
        return 0
    options = {} if args.class_name is None else {"class_name": args.class_name}
    if args.backend == "triton":
        options["dtype"] = args.dtype
    try:
        source = backend.generate_source(network, **options)
    except BackendError as err:  # a layer this backend has no kernel for
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(source, dict):  # a folder of files
        if args.output in (None, "-"):
            print(f"error: the {args.backend} backend writes a folder: give it with -o DIR", file=sys.stderr)
            return EXIT_USAGE
        write_tree(args.output, source)
    elif args.output in (None, "-"):
        sys.stdout.write(source)
        return 0
    else:
        write_atomic(args.output, source)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
