"""`netspec fmt`: rewrite specs in the canonical layout, or check that they are (--check)."""

from __future__ import annotations

import difflib
import sys

from ..diagnostics import EXIT_OK, EXIT_SPEC_ERROR, EXIT_USAGE, SpecError
from ..files import write_atomic
from .common import spec_files


def add_parser(sub) -> None:
    p = sub.add_parser("fmt", help="format .net files in the canonical layout",
                       description="Rewrite .net files in the canonical layout. Comments, blank lines and "
                                   "the grouping of layers on lines are kept.")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".net files or folders")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is not formatted")
    p.add_argument("--diff", action="store_true", help="print what would change, change nothing")
    from ..limits import add_options

    add_options(p)
    p.set_defaults(run=run)


def format_spec(text: str, filename: str) -> str:
    """The canonical layout of a spec's text; SpecError if it does not elaborate (a spec with errors
    is not formatted). The language server formats a document through this function too."""
    from ..formatter import format_text
    from ..frontend import check

    check(text, filename)
    return format_text(text, filename)


def run(args) -> int:
    from ..sources import read_spec_text

    try:
        files = spec_files(args.paths)
    except FileNotFoundError as exc:
        print(f"netspec fmt: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    status = EXIT_OK
    for path in files:
        try:
            text = read_spec_text(path)
            formatted = format_spec(text, str(path))
        except SpecError as err:
            print(err.render(), file=sys.stderr)
            status = EXIT_SPEC_ERROR
            continue
        if formatted == text:
            continue
        if args.check or args.diff:
            if args.diff:
                sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), formatted.splitlines(True),
                                                           str(path), f"{path} (formatted)"))
            else:
                print(f"would reformat {path}", file=sys.stderr)
            status = EXIT_SPEC_ERROR
        else:
            write_atomic(path, formatted)
            print(f"reformatted {path}", file=sys.stderr)
    return status
