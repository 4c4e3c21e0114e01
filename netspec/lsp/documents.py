"""An open document, checked: the text as the editor has it, checked exactly as `netspec lint` checks a
file (netspec.checks.check_text), with the span index and the imported libraries kept for the requests
that follow. A check never raises: whatever goes wrong inside becomes a diagnostic on the first line."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from pygls import uris

from ..checks import Checked, check_text
from ..diagnostics import Diagnostic, Span
from ..elaborate.library import reading_open_files
from ..limits import Limits, current, using
from .imports import Library, library_files
from .index import SpanIndex
from .ranges import lines_of


@dataclass
class Snapshot:
    uri: str
    filename: str  # the path spans name: resolved, like the elaborator's imported files
    text: str
    version: int | None
    checked: Checked
    libraries: list[Library] = field(default_factory=list)
    seconds: float = 0.0  # how long the check took

    def __post_init__(self):
        self.lines = lines_of(self.text)
        self.index = SpanIndex(self.checked.analysis)
        self.imports = frozenset(lib.path for lib in self.libraries)

    def library(self, path: str) -> Library | None:
        return next((lib for lib in self.libraries if lib.path == path), None)


def filename_of(uri: str) -> str:
    """The file name a document is checked under: its resolved path, or `<uri>` for unsaved buffers
    (whose imports are then read from the current folder, as for text without a file)."""
    path = uris.to_fs_path(uri) if uri.startswith("file:") else None
    if path is None:
        return f"<{uri}>"
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError):
        return path


def check_document(uri: str, text: str, version: int | None, open_texts: Mapping[str, str],
                   limits: Limits | None = None) -> Snapshot:
    """Check the text of an open document; `open_texts` (resolved path -> text) stand in for imports."""
    filename = filename_of(uri)
    start = time.perf_counter()
    try:
        with using(limits), reading_open_files(open_texts):
            checked = _too_big(text, filename) or check_text(text, filename)
    except Exception as exc:  # a bug must cost a diagnostic, never the editor's server
        where = Span.model_construct(file=filename, line=1, column=1, end_line=1, end_column=1)
        checked = Checked(filename, [Diagnostic(f"netspec could not check this file: {type(exc).__name__}: {exc}",
                                                where, code="internal")])
    try:
        with using(limits), reading_open_files(open_texts):
            libraries = library_files(checked.tree, filename) if checked.tree is not None else []
    except Exception:  # only go to definition and completion miss them
        libraries = []
    return Snapshot(uri, filename, text, version, checked, libraries, time.perf_counter() - start)


def _too_big(text: str, filename: str) -> Checked | None:
    """A buffer past --max-spec-bytes is refused before it is parsed, as `netspec lint` refuses the file."""
    size = len(text.encode("utf-8", errors="replace"))
    if size <= current().max_spec_bytes:
        return None
    where = Span.model_construct(file=filename, line=1, column=1, end_line=1, end_column=1)
    refused = current().refuse("max_spec_bytes", f"the document is {size:,} bytes, more than a spec may be",
                               where, code="io")
    return Checked(filename, list(refused.diagnostics))


__all__ = ["Snapshot", "check_document", "filename_of"]
