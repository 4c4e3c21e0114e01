"""`netspec report SPEC|RUN_DIR -o report.html`: one self-contained HTML page about a network (and its training)."""

from __future__ import annotations

from pathlib import Path

from .common import add_spec_options, assignment, whole_number

TRAINED_WITH = "# trained with --set "  # the note `netspec train` puts atop a run's spec.net


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="write one self-contained HTML page: table, diagram, cost charts, lints, source",
        description="Write one HTML file with everything netspec knows about a network: the layer table "
                    "(blocks fold and unfold), the diagram, where parameters, MACs and memory sit, the "
                    "receptive field along the main path, the design lints and the spec's source. Given a "
                    "`netspec train` run folder, the page adds its curves and held-out accuracy. The page "
                    "loads nothing from anywhere: it can be mailed or archived as it is.")
    p.add_argument("spec", metavar="SPEC", help="a .net file, a zoo name (resnet50), or a run folder (runs/lenet5)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file to write")
    add_spec_options(p)
    p.add_argument("--depth", type=whole_number(1), metavar="N",
                   help="draw blocks nested deeper than N as one box (default: the deepest that stays legible)")
    p.set_defaults(run=run)


def run_overrides(spec_text: str) -> dict:
    """The --set values a run was trained with, from the note atop its spec.net."""
    first = spec_text.splitlines()[0] if spec_text else ""
    if not first.startswith(TRAINED_WITH):
        return {}
    return dict(assignment(item.strip()) for item in first[len(TRAINED_WITH):].split(",") if item.strip())


def run(args) -> int:
    import sys

    from ..analysis.core import analyze
    from ..analysis.lints import run_lints
    from ..diagnostics import EXIT_RUNTIME
    from ..files import write_atomic
    from ..frontend import load
    from ..render.html import AUTO, report

    source = Path(args.spec)
    run_folder = None
    params = dict(args.params)
    if source.is_dir():
        run_folder, spec = source, source / "spec.net"
        if not spec.is_file():
            print(f"netspec report: error: {source} is a folder without spec.net: not a `netspec train` run",
                  file=sys.stderr)
            return EXIT_RUNTIME
        params = {**run_overrides(spec.read_text(encoding="utf-8")), **params}
        args.spec = str(spec)
    network = load(args.spec, params=params, input=args.input)
    analysis = analyze(network)
    page = report(network, analysis, run_lints(network, analysis),
                  depth=args.depth if args.depth is not None else AUTO, run_folder=run_folder)
    write_atomic(args.output, page)
    print(f"wrote {args.output}")
    return 0
