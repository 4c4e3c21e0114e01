"""Quick fixes: every diagnostic whose help says `did you mean `X`?` gets a code action that writes X.

The elaborator offers a suggestion only if it would be accepted in place. It is either a whole layer
(`convv3-64` -> `conv3-64`, the diagnostic's range being that layer) or a single name (an argument,
an expect figure, a lint id, a variable) inside a larger range (`strde=2`, `expect parmas ...`): then
only the misspelt name, which the message quotes, is replaced."""

from __future__ import annotations

import re

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from ..diagnostics import Diagnostic
from .documents import Snapshot
from .problems import to_lsp
from .ranges import to_range

_SUGGESTION = re.compile(r"did you mean `([^`]+)`\?")
_NAME = re.compile(r"^[A-Za-z_]\w*$")
_QUOTED = re.compile(r"`([^`]+)`")


def suggestion(d: Diagnostic) -> str | None:
    match = _SUGGESTION.search(d.help or "")
    return match.group(1) if match else None


def _text(snapshot: Snapshot, span) -> str:
    lines = snapshot.lines[span.line - 1:span.end_line]
    if not lines:
        return ""
    if len(lines) == 1:
        return lines[0][span.column - 1:span.end_column - 1]
    return "\n".join([lines[0][span.column - 1:], *lines[1:-1], lines[-1][:span.end_column - 1]])


def replacement(d: Diagnostic, written: str, suggested: str) -> tuple[int, int, str]:
    """(start, end, new text) within the diagnostic's text `written`."""
    if _NAME.match(suggested):
        for word in _QUOTED.findall(d.message):
            for match in re.finditer(rf"(?<![\w]){re.escape(word)}(?![\w])", written):
                return match.start(), match.end(), suggested
    return 0, len(written), suggested


def _shift(span, start: int, end: int, written: str):
    """The span of written[start:end] (the suggestion replaces a single-line name)."""
    before = written[:start]
    line = span.line + before.count("\n")
    column = (span.column + len(before)) if "\n" not in before else len(before.rsplit("\n", 1)[1]) + 1
    return span.model_copy(update={"line": line, "column": column, "end_line": line,
                                   "end_column": column + end - start})


def quick_fixes(snapshot: Snapshot, wanted: types.Range, codec: PositionCodec) -> list[types.CodeAction]:
    """A fix for each diagnostic of this document with a suggestion whose range meets `wanted`."""
    out = []
    for d in snapshot.checked.diagnostics:
        suggested = suggestion(d)
        if suggested is None or d.span is None or d.span.file != snapshot.filename:
            continue
        shown = to_lsp(d, snapshot, codec)
        if _before(shown.range.end, wanted.start) or _before(wanted.end, shown.range.start):
            continue
        written = _text(snapshot, d.span)
        start, end, new = replacement(d, written, suggested)
        span = d.span if (start, end) == (0, len(written)) else _shift(d.span, start, end, written)
        edit = types.TextEdit(range=to_range(span, snapshot.lines, codec), new_text=new)
        out.append(types.CodeAction(
            title=f"Replace with `{new}`", kind=types.CodeActionKind.QuickFix, diagnostics=[shown],
            is_preferred=True,
            edit=types.WorkspaceEdit(changes={snapshot.uri: [edit]})))
    return out


def _before(a: types.Position, b: types.Position) -> bool:
    return (a.line, a.character) < (b.line, b.character)


__all__ = ["quick_fixes", "replacement", "suggestion"]
