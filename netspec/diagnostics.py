"""One diagnostic type for every error and warning netspec reports about a spec.

A diagnostic has a level, an id, a message in plain words, a primary location, labelled
secondary locations (e.g. each branch of a concat that disagrees), and help text
(a suggestion such as "did you mean `conv3-64`?"). `render` draws the source line with
a caret under the offending token, in the style of rustc and Elm.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal

from .frozen import Frozen

# Exit codes shared by every command.
EXIT_OK = 0
EXIT_SPEC_ERROR = 1  # the spec (or a figure it expects) is wrong: the user's input
EXIT_USAGE = 2  # the command line is wrong (argparse uses 2 as well)
EXIT_RUNTIME = 3  # a resource the command needs is missing or unreadable (data, checkpoint)


class Span(Frozen):
    """Where something stands in a source file: 1-based line and column, end exclusive.

    A pydantic model because IR nodes carry it (and serialise it to JSON).
    """

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Label:
    span: Span
    message: str


@dataclass(frozen=True)
class Diagnostic:
    message: str
    span: Span | None = None
    level: Literal["error", "warning"] = "error"
    code: str = "error"  # a stable id: "syntax", "shape-mismatch", "bias-before-bn", ...
    labels: tuple[Label, ...] = ()
    help: str | None = None
    notes: tuple[str, ...] = ()

    def render(self, sources: dict[str, str] | None = None) -> str:
        """Human-readable text: `file:line:col: error[code]: message`, then the caret picture."""
        where = f"{self.span}: " if self.span else ""
        out = [f"{where}{self.level}[{self.code}]: {self.message}"]
        if self.span is not None:
            out += _caret(self.span, sources)
        for label in self.labels:
            out.append(f"  {label.span}: {label.message}")
            out += _caret(label.span, sources, indent="    ")
        out += [f"  note: {n}" for n in self.notes]
        if self.help:
            out.append(f"  help: {self.help}")
        return "\n".join(out)


class SpecError(Exception):
    """A spec could not be read, parsed or checked. Carries one or more diagnostics."""

    exit_code = EXIT_SPEC_ERROR

    def __init__(self, diagnostics: Diagnostic | Iterable[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics = (diagnostics,) if isinstance(diagnostics, Diagnostic) else tuple(diagnostics)
        self.sources = dict(sources or {})  # file name -> text, for files not on disk ("<string>")
        super().__init__(self.diagnostics[0].message if self.diagnostics else "spec error")

    def render(self) -> str:
        return "\n".join(d.render(self.sources) for d in self.diagnostics)


class ResourceError(Exception):
    """A file a command needs (weights, a checkpoint) is missing, unreadable or not what it claims:
    exit status 3, the message in plain words, never a traceback. Backends subclass it."""

    exit_code = EXIT_RUNTIME


def error(message: str, span: Span | None = None, *, code: str = "error", help: str | None = None,
          labels: Iterable[Label] = (), notes: Iterable[str] = ()) -> SpecError:
    """Shorthand for raising a single located error: `raise error("...", span)`."""
    return SpecError(Diagnostic(message, span, code=code, help=help, labels=tuple(labels), notes=tuple(notes)))


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A suggestion for a typo, or None when nothing is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


_MAX_SHOWN = 160  # characters of a source line shown around the caret (a 1 MB line stays readable)


def _caret(span: Span, sources: dict[str, str] | None, indent: str = "  ") -> list[str]:
    text = _line_of(span, (sources or {}).get(span.file))
    if text is None:
        return []
    col = max(span.column - 1, 0)
    width = span.end_column - span.column if span.end_line == span.line else len(text) - col
    width = max(1, min(width, 60))
    start = max(0, col - _MAX_SHOWN // 2)
    shown = "".join(ch if ch.isprintable() else "?" for ch in text[start:start + _MAX_SHOWN].expandtabs(1))
    prefix = "..." if start else ""
    gutter = f"{span.line} | "
    return [f"{indent}{gutter}{prefix}{shown}",
            f"{indent}{' ' * (len(gutter) + len(prefix) + col - start)}{'^' * width}"]


def _line_of(span: Span, source: str | None) -> str | None:
    if source is None:
        source = _file_text(span.file)
        if source is None:
            return None
    starts = _line_starts(source)
    if not 1 <= span.line <= len(starts):
        return None
    start = starts[span.line - 1]
    end = starts[span.line] - 1 if span.line < len(starts) else len(source)
    return source[start:end].rstrip("\r\n")


@lru_cache(maxsize=16)
def _line_starts(source: str) -> list[int]:
    """Where each line of a source begins: computed once per source, so a file with thousands of
    findings is drawn in linear time (a str caches its hash, so the lookup costs nothing)."""
    starts = [0]
    find = source.find
    at = find("\n")
    while at != -1:
        starts.append(at + 1)
        at = find("\n", at + 1)
    if starts[-1] == len(source) and len(starts) > 1:
        starts.pop()  # a final newline ends the last line; it does not start another
    return starts


def _file_text(path: str) -> str | None:
    try:
        return _read_cached(path, Path(path).stat().st_mtime_ns)
    except OSError:
        return None


@lru_cache(maxsize=16)
def _read_cached(path: str, mtime_ns: int) -> str:
    return Path(path).read_text(encoding="utf-8", errors="replace")
