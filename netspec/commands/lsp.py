"""`netspec lsp`: the language server for editors, on stdin/stdout (docs/EDITORS.md).

Needs pygls (`pip install "netspec[lsp]"`); without it the command says so and exits 3, as for
any other missing resource. The limits for untrusted specs (--max-*, --import-path) apply to
every document it checks.
"""

from __future__ import annotations

import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "lsp", help="the language server for editors (stdio): diagnostics, hover with shapes, ...",
        description="Run the netspec language server on stdin/stdout: diagnostics as you type, hover with "
                    "shapes, parameters, MACs and receptive field, inlay hints, go to definition, "
                    "formatting, completion and quick fixes. Editors start it themselves (docs/EDITORS.md).")
    p.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default and only way; "
                                                       "accepted because some editors pass it)")
    from ..limits import add_options

    add_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..diagnostics import EXIT_OK, EXIT_RUNTIME
    from ..limits import current

    try:
        from ..lsp.server import serve
    except ImportError as exc:
        if exc.name not in ("pygls", "lsprotocol") and not str(exc.name or "").startswith(("pygls.", "lsprotocol.")):
            raise
        print('netspec lsp: error: the language server needs pygls: pip install "netspec[lsp]"', file=sys.stderr)
        return EXIT_RUNTIME
    serve(current())
    return EXIT_OK
