"""`netspec diff OLD NEW`: what a change to a spec does to the network, for review and CI."""

from __future__ import annotations

from .common import add_spec_options, assignment, whole_number

FORMATS = ("text", "markdown", "json")


def _rules(text: str):
    """argparse type of --fail-on, imported when used: building the parser stays cheap for every command."""
    from ..analysis.thresholds import rules

    return rules(text)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "diff", help="compare two specs: layers added, removed and changed; params, MACs, memory, RF deltas",
        description="Align two networks by scope path and by structure, and report the layers and blocks "
                    "added, removed, changed, moved or renamed, with the deltas of output shape, parameters, "
                    "MACs, activation memory and receptive field per stage and in total.",
        epilog="--fail-on rules: params>+5%% (grows by more than 5%%), macs<-10%% (shrinks by more than 10%%), "
               "memory>+20MB (a signed value is a change), params>30M (an unsigned value bounds the new "
               "network); metrics: params, macs, memory, rf. Exit 1 when a rule is crossed.")
    p.add_argument("old", metavar="OLD", help="a .net file or a zoo name (with --git: the spec to compare with its past)")
    p.add_argument("new", metavar="NEW", nargs="?", help="a .net file or a zoo name (not with --git)")
    p.add_argument("--git", metavar="REV", help="compare OLD as it was at this git revision (HEAD~1, main) with "
                                                "the working tree; its imports are read at REV too")
    add_spec_options(p, input_help="analyse both networks for this input shape")
    p.add_argument("--set-old", dest="old_params", metavar="NAME=VALUE", action="append", type=assignment,
                   default=[], help="override a parameter of the old network only (after --set)")
    p.add_argument("--set-new", dest="new_params", metavar="NAME=VALUE", action="append", type=assignment,
                   default=[], help="override a parameter of the new network only (after --set)")
    p.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    p.add_argument("--depth", type=whole_number(1), metavar="N", help="list changes no deeper than N")
    p.add_argument("--fail-on", dest="fail_on", metavar="RULE", action="append", type=_rules, default=[],
                   help="exit 1 when the change crosses RULE, e.g. 'params>+5%%' (repeatable, or comma-separated)")
    p.add_argument("--dtype", default="float32", metavar="DTYPE", help="element type for memory figures")
    p.set_defaults(run=run, usage_error=p.error)


def _load(spec: str, rev: str | None, params: dict, input):
    from ..frontend import load
    from ..revision import load_at

    return load(spec, params=params, input=input) if rev is None else load_at(spec, rev, params=params, input=input)


def run(args) -> int:
    import sys

    from ..analysis.core import DTYPE_BYTES
    from ..analysis.diff import diff
    from ..analysis.diff_report import RENDER, to_json
    from ..analysis.thresholds import check
    from ..diagnostics import EXIT_RUNTIME, EXIT_SPEC_ERROR, EXIT_USAGE
    from ..revision import RevisionError

    if (args.new is None) == (args.git is None):
        args.usage_error("give OLD and NEW, or one SPEC with --git REV")
    if args.dtype not in DTYPE_BYTES:
        print(f"netspec diff: error: unknown --dtype {args.dtype!r}; known: {', '.join(DTYPE_BYTES)}", file=sys.stderr)
        return EXIT_USAGE
    shared = dict(args.params)
    try:
        old = _load(args.old, args.git, {**shared, **dict(args.old_params)}, args.input)
    except RevisionError as err:
        print(f"netspec diff: error: {err}", file=sys.stderr)
        return EXIT_RUNTIME
    new = _load(args.new or args.old, None, {**shared, **dict(args.new_params)}, args.input)
    result = diff(old, new, dtype=args.dtype)
    checks = [check(rule, result) for group in args.fail_on for rule in group]
    if args.format == "json":
        print(to_json(result, args.depth, [c.to_dict() for c in checks]))
    else:
        print(RENDER[args.format](result, args.depth))
    for c in checks:
        if c.crossed is not False:
            print(f"netspec diff: {c.message()}", file=sys.stderr)
    return EXIT_SPEC_ERROR if any(c.crossed is not False for c in checks) else 0
