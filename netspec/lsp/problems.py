"""netspec's diagnostics as LSP diagnostics: the same range, code and words as `netspec lint` prints
(the message, then its notes and help as the CLI's `note:` and `help:` lines), labels as related
information. A finding located in an imported file (a lint on a layer of a library block, an error in
the library) is shown on the import line that brings the file in, its message starting with where it
stands, and linked there."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pygls import uris
from pygls.workspace.position_codec import PositionCodec

from ..diagnostics import Diagnostic
from .documents import Snapshot
from .ranges import lines_of, to_range

SEVERITY = {"error": types.DiagnosticSeverity.Error, "warning": types.DiagnosticSeverity.Warning}


def message_of(d: Diagnostic) -> str:
    return "\n".join([d.message, *(f"note: {n}" for n in d.notes), *([f"help: {d.help}"] if d.help else [])])


def _lines(snapshot: Snapshot, file: str) -> list[str] | None:
    if file == snapshot.filename:
        return snapshot.lines
    if file in snapshot.checked.sources:
        return lines_of(snapshot.checked.sources[file])
    lib = snapshot.library(file)
    return lines_of(lib.text) if lib is not None else None


def _location(snapshot: Snapshot, span, codec: PositionCodec) -> types.Location | None:
    lines = _lines(snapshot, span.file)
    if lines is None or span.file.startswith("<"):
        return None
    return types.Location(uri=uris.from_fs_path(span.file) or span.file, range=to_range(span, lines, codec))


def _top_of_file(snapshot: Snapshot, codec: PositionCodec) -> types.Range:
    first = snapshot.lines[0] if snapshot.lines else ""
    return types.Range(start=types.Position(0, 0), end=types.Position(0, codec.client_num_units(first)))


def to_lsp(d: Diagnostic, snapshot: Snapshot, codec: PositionCodec) -> types.Diagnostic:
    related = []
    message = message_of(d)
    if d.span is None:
        where = _top_of_file(snapshot, codec)
    elif d.span.file == snapshot.filename:
        where = to_range(d.span, snapshot.lines, codec)
    else:  # in an imported file: at the import that brings it in
        lib = snapshot.library(d.span.file)
        where = to_range(lib.via.loc, snapshot.lines, codec) if lib is not None else _top_of_file(snapshot, codec)
        message = f"{Path(d.span.file).name}:{d.span.line}:{d.span.column}: {message}"
        found = _location(snapshot, d.span, codec)
        if found is not None:
            related.append(types.DiagnosticRelatedInformation(location=found, message=d.message))
    for label in d.labels:
        found = _location(snapshot, label.span, codec)
        if found is not None:
            related.append(types.DiagnosticRelatedInformation(location=found, message=label.message))
    return types.Diagnostic(range=where, message=message, severity=SEVERITY.get(d.level), code=d.code,
                            source="netspec", related_information=related or None)


def diagnostics(snapshot: Snapshot, codec: PositionCodec) -> list[types.Diagnostic]:
    return [to_lsp(d, snapshot, codec) for d in snapshot.checked.diagnostics]


__all__ = ["SEVERITY", "diagnostics", "message_of", "to_lsp"]
