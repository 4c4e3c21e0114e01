"""The language server: pygls' LanguageServer with one handler per LSP request. Each handler reads
the document's latest check (documents.Snapshot) and answers through one feature module.

Documents are checked again on every change (a full check of ResNet-50 costs about 11 ms:
benchmarks/bench_lsp.py), and so are the open specs that import a changed document. Imported files
are parsed once per version (their text when open, else their mtime), by the elaborator's cache.
"""

from __future__ import annotations

import logging

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from .. import __version__
from ..limits import Limits
from . import completion, definition, fixes, hints, hover, problems
from .documents import Snapshot, check_document, filename_of
from .imports import block_definitions
from .ranges import to_point, to_range

log = logging.getLogger(__name__)


class NetspecServer(LanguageServer):
    def __init__(self, limits: Limits | None = None):
        super().__init__("netspec", __version__)
        self.limits = limits
        self.snapshots: dict[str, Snapshot] = {}  # uri -> the latest check of the open document
        self.parsed: dict[str, Snapshot] = {}  # uri -> the latest check that parsed, for completion while typing

    # ---------------------------------------------------------------- checking

    def open_texts(self) -> dict[str, str]:
        return {s.filename: self.workspace.get_text_document(uri).source for uri, s in self.snapshots.items()}

    def check(self, uri: str) -> Snapshot:
        doc = self.workspace.get_text_document(uri)
        texts = self.open_texts()
        snapshot = check_document(uri, doc.source, doc.version, texts, self.limits)
        self.snapshots[uri] = snapshot
        if snapshot.checked.tree is not None:
            self.parsed[uri] = snapshot
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, version=doc.version, diagnostics=problems.diagnostics(snapshot, self.workspace.position_codec)))
        log.debug("checked %s in %.1f ms", uri, snapshot.seconds * 1000)
        return snapshot

    def check_with_dependents(self, uri: str) -> None:
        """Check a document, then every open spec that imports it."""
        changed = self.check(uri).filename
        dependents = [other for other, s in self.snapshots.items() if other != uri and changed in s.imports]
        for other in dependents:
            self.check(other)
        if dependents:
            self.refresh_hints()

    def refresh_hints(self) -> None:
        """Ask the client to fetch inlay hints again: an import changed the shapes of documents that
        did not change themselves (only if the client says it can)."""
        workspace = self.client_capabilities.workspace
        support = workspace.inlay_hint if workspace is not None else None
        if support is not None and support.refresh_support:
            self.workspace_inlay_hint_refresh(None)

    def importers(self, filename: str) -> list[Snapshot]:
        return [s for s in self.snapshots.values() if filename in s.imports]


server = NetspecServer()


def _snapshot(ls: NetspecServer, uri: str) -> Snapshot | None:
    return ls.snapshots.get(uri)


# ---------------------------------------------------------------- document sync


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: NetspecServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.snapshots.pop(params.text_document.uri, None)
    ls.check_with_dependents(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: NetspecServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.check_with_dependents(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: NetspecServer, params: types.DidSaveTextDocumentParams) -> None:
    for uri in list(ls.snapshots):  # a save may be the moment other files changed on disk too
        ls.check(uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: NetspecServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    closed = ls.snapshots.pop(uri, None)
    ls.parsed.pop(uri, None)
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
    if closed is not None and ls.importers(closed.filename):
        for snapshot in ls.importers(closed.filename):  # they read the file from disk again
            ls.check(snapshot.uri)
        ls.refresh_hints()


# ---------------------------------------------------------------- requests


@server.feature(types.TEXT_DOCUMENT_HOVER)
def on_hover(ls: NetspecServer, params: types.HoverParams) -> types.Hover | None:
    snapshot = _snapshot(ls, params.text_document.uri)
    if snapshot is None or snapshot.checked.tree is None:
        return None
    codec = ls.workspace.position_codec
    indexes = [snapshot.index, *(s.index for s in ls.importers(snapshot.filename))]
    found = hover.find(snapshot.checked.tree, snapshot.filename, to_point(params.position, snapshot.lines, codec),
                       indexes)
    if found is None:
        return None
    item, rows, index = found
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown,
                                                    value=hover.hover_text(rows, index)),
                       range=to_range(item.loc, snapshot.lines, codec))


@server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
def on_inlay_hint(ls: NetspecServer, params: types.InlayHintParams) -> list[types.InlayHint]:
    snapshot = _snapshot(ls, params.text_document.uri)
    if snapshot is None:
        return []
    indexes = [snapshot.index, *(s.index for s in ls.importers(snapshot.filename))]
    return hints.inlay_hints(snapshot.filename, snapshot.lines, indexes, ls.workspace.position_codec,
                             params.range.start.line + 1, params.range.end.line + 1)


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
def on_definition(ls: NetspecServer, params: types.DefinitionParams) -> types.Location | None:
    snapshot = ls.parsed.get(params.text_document.uri)
    if snapshot is None:
        return None
    codec = ls.workspace.position_codec
    return definition.definition(snapshot, to_point(params.position, snapshot.lines, codec), codec)


@server.feature(types.TEXT_DOCUMENT_FORMATTING)
def on_formatting(ls: NetspecServer, params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
    from ..commands.fmt import format_spec
    from ..diagnostics import SpecError
    from ..elaborate.library import reading_open_files
    from ..limits import using

    doc = ls.workspace.get_text_document(params.text_document.uri)
    snapshot = _snapshot(ls, params.text_document.uri)
    filename = snapshot.filename if snapshot else filename_of(params.text_document.uri)
    try:
        with using(ls.limits), reading_open_files(ls.open_texts()):
            formatted = format_spec(doc.source, filename)
    except SpecError:  # as `netspec fmt`: a spec with errors is left as it is (its diagnostics say why)
        return None
    if formatted == doc.source:
        return []
    lines = doc.source.split("\n")
    end = types.Position(len(lines) - 1, ls.workspace.position_codec.client_num_units(lines[-1]))
    return [types.TextEdit(range=types.Range(start=types.Position(0, 0), end=end), new_text=formatted)]


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["(", ","]))
def on_completion(ls: NetspecServer, params: types.CompletionParams) -> types.CompletionList:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    before = doc.source[:doc.offset_at_position(params.position)]
    snapshot = ls.parsed.get(params.text_document.uri)
    blocks = {} if snapshot is None else block_definitions(snapshot.checked.tree, snapshot.filename,
                                                           snapshot.libraries)
    return types.CompletionList(is_incomplete=False, items=completion.complete(before, blocks))


@server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]))
def on_code_action(ls: NetspecServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    snapshot = _snapshot(ls, params.text_document.uri)
    if snapshot is None:
        return []
    return fixes.quick_fixes(snapshot, params.range, ls.workspace.position_codec)


def serve(limits: Limits | None = None) -> None:
    """Run the server on stdin/stdout until the client says exit."""
    server.limits = limits
    server.start_io()


__all__ = ["NetspecServer", "serve", "server"]
