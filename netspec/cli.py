"""The `netspec` command line: one subcommand per module in netspec/commands/.

Each command module exposes `add_parser(subparsers)` (which sets `run` as the
handler) and must not import torch at module level: `netspec lint` and
`netspec summary` run where torch is not installed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from .diagnostics import EXIT_RUNTIME, EXIT_SPEC_ERROR, ResourceError, SpecError

# Order is the order of `netspec --help`.
COMMANDS = ("fmt", "summary", "lint", "diff", "graph", "report", "zoo", "compile", "bench", "export", "train", "eval",
            "shard", "lsp")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with `only` one command's subparser: a run of one command
    imports that command's module alone (the others cost a cold `netspec lint` ~15 ms)."""
    parser = argparse.ArgumentParser(
        prog="netspec",
        description="A compiler for convolutional networks written as text.",
        epilog="Exit codes: 0 success, 1 error in a spec (or a failed check), 2 usage error, "
               "3 a missing or unreadable resource, 141 the reader of the output went away (`| head`).",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"netspec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in (only,) if only in COMMANDS else COMMANDS:
        importlib.import_module(f"netspec.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .limits import from_args, using

    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        with using(from_args(args)):
            code = int(args.run(args) or 0)
        sys.stdout.flush()  # a reader that went away shows here, in the handler below, not at exit
        return code
    except BrokenPipeError:  # `netspec fmt --diff | head`: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except SpecError as err:
        print(err.render(), file=sys.stderr)
        return EXIT_SPEC_ERROR
    except ResourceError as err:  # weights or a checkpoint that cannot be used (backends.torch.WeightsError)
        print(f"error: {err}", file=sys.stderr)
        return EXIT_RUNTIME
    except FileNotFoundError as err:
        print(f"error: {err.filename or err}: no such file", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
