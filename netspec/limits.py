"""Bounds on what one spec may ask for, so that a hostile or mistaken file fails fast instead of
eating the machine: each is checked before the work it bounds, and a spec past one gets a
located error that names the limit and the flag that raises it.

The defaults fit the zoo many times over (its largest network, densenet264, has under 1,000
nodes, nests 8 deep and has 73 M parameters). Raise one for a single run with its flag
(`--max-layers 50000`) or in Python:

    >>> import netspec
    >>> from netspec.limits import Limits
    >>> net = netspec.parse("input 3x8x8\\n[conv3-8]x3 gap fc-2", limits=Limits(max_layers=4))
    Traceback (most recent call last):
    ...
    netspec.diagnostics.SpecError: the network expands to more than 4 layers (--max-layers)
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from typing import Iterator

from .diagnostics import Span, error


@dataclass(frozen=True)
class Limits:
    """One field per bound; the help of its command-line flag is the field's metadata."""

    max_layers: int = field(default=100_000, metadata={"help": "layers after every repeat and block is expanded"})
    max_repeat: int = field(default=1_000, metadata={"help": "the count of one repeat [...]xN or dense(N)"})
    max_depth: int = field(default=64, metadata={
        "help": "nesting of groups, repeats, blocks and operators in an expression"})
    max_expression: int = field(default=1_000, metadata={"help": "numbers, names and operators in one expression"})
    max_channels: int = field(default=2 ** 24, metadata={"help": "channels of a feature map, features of a vector"})
    max_spatial: int = field(default=2 ** 16, metadata={"help": "height or width of a feature map"})
    max_params: int = field(default=10 ** 11, metadata={"help": "trainable parameters of the network"})
    max_activation_bytes: int = field(default=10 ** 11, metadata={
        "help": "activation memory of one sample's forward pass (float32)"})
    max_import_depth: int = field(default=32, metadata={"help": "files importing files importing files"})
    max_spec_bytes: int = field(default=8 * 1024 * 1024, metadata={"help": "size of one spec file"})
    # folders, besides the importing file's folder and the zoo, that `import` may read from
    import_path: tuple[str, ...] = ()

    @staticmethod
    def bounds() -> list[str]:
        """The names of the numeric limits, in the order of `--help`."""
        return [f.name for f in fields(Limits) if f.name.startswith("max_")]

    def refuse(self, name: str, message: str, where: Span | None = None, code: str = "limit"):
        """A located error for a spec past limit `name`, saying how to raise it."""
        flag = "--" + name.replace("_", "-")
        return error(f"{message} ({flag})", where, code=code,
                     help=f"the limit is {getattr(self, name):,}; if this is intended, raise it with "
                          f"{flag} N (or Limits({name}=N) in Python)")


def too_deep_for_python(where: Span | None):
    """What a RecursionError becomes when --max-depth was raised past what Python's stack holds."""
    return error("the spec nests too deeply for Python's stack (--max-depth)", where, code="limit",
                 help=f"lower --max-depth (the default, {Limits().max_depth}, is safe)")


_current: ContextVar[Limits] = ContextVar("netspec_limits", default=Limits())


def current() -> Limits:
    """The limits in force here: the defaults, or what `using` set."""
    return _current.get()


@contextmanager
def using(limits: Limits | None) -> Iterator[Limits]:
    """Put `limits` in force for the code in the block (None keeps the current ones)."""
    if limits is None:
        yield current()
        return
    token = _current.set(limits)
    try:
        yield limits
    finally:
        _current.reset(token)


def env_import_path() -> tuple[str, ...]:
    """The folders named in NETSPEC_PATH (separated like PATH)."""
    return tuple(p for p in os.environ.get("NETSPEC_PATH", "").split(os.pathsep) if p)


def add_options(parser) -> None:
    """--import-path and one --max-NAME flag per limit, for every command that reads a spec."""
    import argparse

    # a command's own group of options (train's "spec") takes them as they are: groups do not nest
    g = parser.add_argument_group("limits for untrusted specs") if isinstance(parser, argparse.ArgumentParser) \
        else parser
    g.add_argument("--import-path", dest="import_path", metavar="DIR", action="append", default=[],
                   help="a folder `import` may also read from (repeatable; NETSPEC_PATH adds more)")
    for f in fields(Limits):
        if f.name.startswith("max_"):
            g.add_argument("--" + f.name.replace("_", "-"), dest=f.name, metavar="N", type=_positive,
                           default=None, help=f"{f.metadata['help']} (default {f.default:,})")


def from_args(args) -> Limits | None:
    """The limits a parsed command line asks for, or None when it has no limit options."""
    if not hasattr(args, "max_layers"):
        return None
    changes = {name: getattr(args, name) for name in Limits.bounds() if getattr(args, name) is not None}
    return replace(Limits(), import_path=tuple(args.import_path), **changes)


def _positive(text: str) -> int:
    import argparse

    try:
        n = int(text.replace("_", ""))
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return n
