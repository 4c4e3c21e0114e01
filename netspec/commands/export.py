"""`netspec export`: a spec (with weights, optionally optimised) as an ONNX file or a torch.export .pt2."""

from __future__ import annotations

import sys

from .common import add_spec_options

FORMATS = ("onnx", "pt2")


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a spec's model to ONNX or torch.export (.pt2)",
                       description="Build the network with PyTorch and export it (eval mode, logits only, "
                                   "dynamic batch dimension).")
    p.add_argument("spec", metavar="SPEC", help="a .net file or the name of a zoo spec")
    p.add_argument("--format", choices=FORMATS, required=True, help="onnx or pt2")
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="the file to write")
    p.add_argument("--weights", metavar="FILE", help="weights to load first (.safetensors, or a torch checkpoint)")
    p.add_argument("--optimize", action="store_true", help="fold batch norms and fuse convs before exporting")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed when no weights are given (default 0)")
    add_spec_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..backends import BackendError, get
    from ..diagnostics import EXIT_RUNTIME

    try:
        backend = get("torch")  # the formats are torch's: ONNX through torch.onnx, .pt2 through torch.export
    except BackendError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_RUNTIME
    try:
        model = backend.build(args.spec, seed=args.seed, weights=args.weights, input=args.input,
                              optimize="inference" if args.optimize else None, **dict(args.params))
    except backend.WeightsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_RUNTIME
    try:
        backend.export(model, args.output, args.format)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
