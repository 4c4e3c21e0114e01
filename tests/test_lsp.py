"""`netspec lsp` driven as an editor drives it: a server process on a pipe, JSON-RPC over its stdio
(pygls' LanguageClient), documents opened and edited, diagnostics received, requests answered.

One server process serves the whole module. Every figure a test checks comes from elsewhere: hand
computation for the tiny specs, `netspec lint`'s own diagnostics (checked in this process) for the
words and ranges, the formatter run here for formatting, the library file's text for definitions.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path

import pytest

pytest.importorskip("pygls")

from lsprotocol import types  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402
from pygls.uris import from_fs_path  # noqa: E402

from conftest import ROOT  # noqa: E402

TIMEOUT = 60


class Editor:
    """An LSP client on a pipe to a `python -m netspec lsp` process, for synchronous tests: the
    client's event loop runs in a thread of its own."""

    def __init__(self, cwd: Path):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = LanguageClient("netspec-tests", "0")
        self.published: dict[str, list[types.PublishDiagnosticsParams]] = defaultdict(list)
        self.arrived = threading.Condition()
        self.versions: dict[str, int] = {}

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: types.PublishDiagnosticsParams) -> None:
            with self.arrived:
                self.published[params.uri].append(params)
                self.arrived.notify_all()

        self.hint_refreshes = 0

        @self.client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
        def refresh(params) -> None:
            self.hint_refreshes += 1

        self.run(self.client.start_io(sys.executable, "-m", "netspec", "lsp", cwd=str(cwd)))
        can_refresh = types.WorkspaceClientCapabilities(
            inlay_hint=types.InlayHintWorkspaceClientCapabilities(refresh_support=True))
        self.run(self.client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(workspace=can_refresh), root_uri=from_fs_path(str(cwd)))))
        self.notify(self.client.initialized, types.InitializedParams())

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(TIMEOUT)

    def notify(self, send, params) -> None:
        self.loop.call_soon_threadsafe(send, params)

    def close(self) -> None:
        self.run(self.client.shutdown_async(None))
        self.notify(self.client.exit, None)
        self.run(self.client.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)

    # ---------------------------------------------------------------- documents

    def open(self, path: Path, text: str | None = None) -> list[types.Diagnostic]:
        uri = from_fs_path(str(path))
        self.versions[uri] = 1
        self.notify(self.client.text_document_did_open, types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="netspec", version=1,
                                                 text=path.read_text() if text is None else text)))
        return self.diagnostics(uri, 1)

    def replace(self, path: Path, text: str) -> list[types.Diagnostic]:
        """The whole text replaced, as an editor sends an edit (an incremental change over the full range)."""
        uri = from_fs_path(str(path))
        self.versions[uri] += 1
        whole = types.Range(start=types.Position(0, 0), end=types.Position(10**6, 0))
        self.notify(self.client.text_document_did_change, types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
            content_changes=[types.TextDocumentContentChangePartial(range=whole, text=text)]))
        return self.diagnostics(uri, self.versions[uri])

    def close_document(self, path: Path) -> None:
        self.notify(self.client.text_document_did_close, types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=from_fs_path(str(path)))))

    def diagnostics(self, uri: str, version: int) -> list[types.Diagnostic]:
        """The diagnostics published for this version of the document (waits for them)."""
        with self.arrived:
            ok = self.arrived.wait_for(lambda: any(p.version == version for p in self.published[uri]), TIMEOUT)
            assert ok, f"no diagnostics for version {version} of {uri}"
            return [p for p in self.published[uri] if p.version == version][-1].diagnostics

    def latest(self, path: Path) -> list[types.Diagnostic]:
        """The last diagnostics published for a document, once the server has answered everything sent
        so far (a request's answer comes after the notifications it sent before it)."""
        self.hover(path, 1, 1)
        with self.arrived:
            return self.published[from_fs_path(str(path))][-1].diagnostics

    # ---------------------------------------------------------------- requests

    def hover(self, path: Path, line: int, column: int) -> types.Hover | None:
        """Hover at a 1-based line and column, as netspec counts them."""
        return self.run(self.client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=from_fs_path(str(path))),
            position=types.Position(line - 1, column - 1))))


@pytest.fixture(scope="module")
def editor(tmp_path_factory):
    e = Editor(tmp_path_factory.mktemp("workspace"))
    yield e
    e.close()


def _doc(path: Path) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=from_fs_path(str(path)))


def _range(line: int, column: int, end_line: int, end_column: int) -> types.Range:
    """An LSP range from netspec's 1-based, end-exclusive lines and columns."""
    return types.Range(start=types.Position(line - 1, column - 1), end=types.Position(end_line - 1, end_column - 1))


def _lint(path: Path, text: str):
    """What `netspec lint` reports for this text, checked in this process."""
    from netspec.commands.lint import check_file

    path.write_text(text)
    return check_file(path, set(), False).diagnostics


def _apply(text: str, edit: types.TextEdit) -> str:
    lines = text.split("\n")
    r = edit.range
    start = sum(len(line) + 1 for line in lines[:r.start.line]) + r.start.character
    end = sum(len(line) + 1 for line in lines[:r.end.line]) + r.end.character
    return text[:start] + edit.new_text + text[end:]


TINY = """network tiny
input 3x32x32
conv3-8 relu maxpool
fc-10
"""


# ---------------------------------------------------------------- diagnostics


def test_diagnostics_appear_with_the_cli_range_code_and_words_then_clear(editor, tmp_path):
    spec = tmp_path / "tiny.net"
    spec.write_text(TINY)
    clean = editor.open(spec)
    assert [d.code for d in clean] == [d.code for d in _lint(spec, TINY)]  # the same two design warnings
    assert all(d.severity == types.DiagnosticSeverity.Warning for d in clean)

    broken = TINY.replace("conv3-8 relu", "convv3-8 relu")
    got = editor.replace(spec, broken)
    want = _lint(tmp_path / "broken.net", broken)
    assert [d.code for d in got] == [d.code for d in want] == ["undefined"]
    assert got[0].severity == types.DiagnosticSeverity.Error
    assert got[0].range == _range(3, 1, 3, 9)  # `convv3-8`, line 3 (hand count)
    assert got[0].message.split("\n")[0] == want[0].message == "unknown layer or block `convv3`"
    assert f"help: {want[0].help}" in got[0].message

    assert [d.code for d in editor.replace(spec, TINY)] == [d.code for d in clean]


def test_every_error_of_the_file_at_once_and_failed_expect_lines(editor, tmp_path):
    spec = tmp_path / "two.net"
    text = TINY.replace("conv3-8 relu", "conv3-8(strde=2) relu").replace("fc-10", "fc-10 swishh")
    text += "expect params 1\n"
    got = editor.open(spec, text)
    want = _lint(tmp_path / "two_cli.net", text)
    assert [(d.code, d.message.split("\n")[0]) for d in got] == [(d.code, d.message) for d in want]
    assert len(got) >= 2  # both wrong words, in one run

    good = TINY + "expect params 20000\n"  # conv 3*3*3*8+8 = 224, fc 8*16*16*10+10 = 20,490: 20,714
    got = editor.replace(spec, good)
    expect = [d for d in got if d.code == "expect"]
    assert len(expect) == 1 and expect[0].range.start.line == 4
    assert "20,714" in expect[0].message
    assert not [d for d in editor.replace(spec, TINY + "expect params 20714\n") if d.code == "expect"]


def test_shape_error_labels_each_branch(editor, tmp_path):
    spec = tmp_path / "concat.net"
    text = "network c\ninput 3x32x32\nconcat { conv3-8 | conv3-8/2 }\nfc-10\n"
    got = editor.open(spec, text)
    want = _lint(tmp_path / "concat_cli.net", text)
    assert [d.code for d in got] == [d.code for d in want] and want[0].level == "error"
    assert got[0].range.start.line == 2
    assert len(got[0].related_information or ()) == len(want[0].labels) > 0


def test_bad_input_gets_diagnostics_and_the_server_keeps_answering(editor, tmp_path):
    spec = tmp_path / "hostile.net"
    hostile = [
        "\x01 ]]] ((( {{{",
        "network x\ninput 3x32x32\n" + "[" * 5000 + "relu" + "]" * 5000,  # nesting past the limit
        "network x\ninput 3x32x32\n[conv3-8]x1000000000\n",  # a repeat bomb, refused before it unrolls
        "network x\ninput 3x" + "9" * 400 + "x2\nrelu\n",  # a number past every bound
        "",
    ]
    editor.open(spec, TINY)
    for text in hostile:
        got = editor.replace(spec, text)
        want = _lint(tmp_path / "hostile_cli.net", text)
        assert [d.code for d in got] == [d.code for d in want] != [], text[:40]
        assert [d.message.split("\n")[0] for d in got] == [d.message for d in want]
    editor.replace(spec, TINY)
    hover = editor.hover(spec, 3, 2)
    assert hover is not None and "8x32x32" in hover.contents.value


# ---------------------------------------------------------------- hover and hints


def test_hover_shows_shape_params_macs_and_receptive_field(editor, tmp_path):
    spec = tmp_path / "hover.net"
    editor.open(spec, TINY)
    conv = editor.hover(spec, 3, 3).contents.value
    # conv3-8 on 3x32x32, 'same' padding: 3*3*3*8 + 8 = 224 params, 3*3*3*8 * 32*32 = 221,184 MACs, RF 3, stride 1
    assert "`8x32x32`" in conv and "params 224" in conv and "MACs 221,184" in conv and "3/1" in conv
    fc = editor.hover(spec, 4, 2).contents.value
    # after maxpool (2/2): 8x16x16 = 2,048 features; fc-10: 2,048*10 + 10 params, 20,480 MACs
    assert "`10`" in fc and "params 20,490" in fc and "MACs 20,480" in fc
    pool = editor.hover(spec, 3, 15)
    assert "`8x16x16`" in pool.contents.value and pool.range == _range(3, 14, 3, 21)


def test_hover_on_a_labelled_block_call_gives_its_subtotals(editor, tmp_path):
    spec = tmp_path / "block.net"
    text = ("network b\ninput 3x32x32\nblock pair(c) {\n  conv3-{c} relu\n  conv3-{c}\n}\n"
            "p: pair(4)\ngap fc-10\n")
    editor.open(spec, text)
    for column in (1, 5):  # on the label, and on the call
        shown = editor.hover(spec, 7, column).contents.value
        # conv3-4 on 3 channels: 3*9*4 + 4 = 112; conv3-4 on 4: 4*9*4 + 4 = 148; together 260
        assert "pair(c=4)" in shown and "params 260" in shown and "`4x32x32`" in shown
        assert "conv1" in shown and "conv2" in shown and "| 112 |" in shown and "| 148 |" in shown
    body = editor.hover(spec, 5, 3).contents.value  # a line of the block's body: its instance
    assert "params 148" in body
    calls = editor.hover(spec, 3, 8).contents.value  # the block's own line: its calls
    assert "pair(c=4)" in calls and "params 260" in calls


def test_inlay_hints_give_each_line_its_output_shape(editor, tmp_path):
    spec = tmp_path / "hints.net"
    text = "network h\ninput 3x32x32\nconv3-8 relu maxpool\n[conv3-16]x2 maxpool\n\ngap fc-10\n"
    editor.open(spec, text)
    got = editor.run(editor.client.text_document_inlay_hint_async(types.InlayHintParams(
        text_document=_doc(spec), range=_range(1, 1, 7, 1))))
    by_line = {h.position.line + 1: h.label for h in got}
    # 3x32x32 -> conv3-8 -> 8x32x32 -> pool -> 8x16x16; two conv3-16 -> 16x16x16 -> pool 16x8x8; gap fc-10 -> 10
    assert by_line == {3: "8x16x16", 4: "16x8x8", 6: "10"}
    assert got[0].position == types.Position(2, len("conv3-8 relu maxpool"))


# ---------------------------------------------------------------- definition, formatting, completion


def _library(tmp_path: Path) -> tuple[Path, Path, str]:
    lib = tmp_path / "lib" / "blocks.net"
    lib.parent.mkdir(exist_ok=True)
    lib_text = "# two blocks\n\nblock pair(c, k=3) {\n  conv{k}-{c} relu\n  conv{k}-{c} relu\n}\n"
    lib.write_text(lib_text)
    spec = tmp_path / "uses.net"
    text = ('network u\ninput 3x32x32\nimport "lib/blocks.net"\nimport "lib/resnet.net"\n'
            "pair(8)\nbasic(8)\ngap fc-10\n")
    spec.write_text(text)
    return spec, lib, text


def test_go_to_definition_of_blocks_and_imports_across_files(editor, tmp_path):
    spec, lib, text = _library(tmp_path)
    assert not [d for d in editor.open(spec) if d.severity == types.DiagnosticSeverity.Error]

    def definition(line, column):
        return editor.run(editor.client.text_document_definition_async(types.DefinitionParams(
            text_document=_doc(spec), position=types.Position(line - 1, column - 1))))

    found = definition(5, 2)  # pair(8)
    assert found.uri == from_fs_path(str(lib.resolve()))
    assert found.range == _range(3, 7, 3, 11)  # `block pair(`: the name, line 3 of the library

    from netspec.sources import zoo_dir

    zoo = zoo_dir() / "lib" / "resnet.net"
    found = definition(6, 3)  # basic(8), from the zoo's library
    line = next(i for i, t in enumerate(zoo.read_text().split("\n"), 1) if t.startswith("block basic("))
    assert found.uri == from_fs_path(str(zoo.resolve())) and found.range.start == types.Position(line - 1, 6)

    found = definition(3, 10)  # the import line itself: the file
    assert found.uri == from_fs_path(str(lib.resolve())) and found.range.start == types.Position(0, 0)


def test_formatting_goes_through_the_formatter(editor, tmp_path):
    from netspec.formatter import format_text

    spec = tmp_path / "fmt.net"
    text = "network f\ninput   3x32x32\nconv3-8    relu  # one\n[conv3-8]x2\nfc-10\n"
    editor.open(spec, text)
    edits = editor.run(editor.client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=_doc(spec), options=types.FormattingOptions(tab_size=2, insert_spaces=True))))
    formatted = _apply(text, edits[0])
    assert formatted == format_text(text) != text
    assert "conv3-8 relu" in formatted.split("\n")[2]
    editor.replace(spec, formatted)
    assert editor.run(editor.client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=_doc(spec), options=types.FormattingOptions(tab_size=2, insert_spaces=True)))) in ([], ())
    editor.replace(spec, "network f\ninput 3x32x32\nconvv3-8\n")  # a spec with errors is not formatted
    assert editor.run(editor.client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=_doc(spec), options=types.FormattingOptions(tab_size=2, insert_spaces=True)))) is None


def _complete(editor, path: Path, line: int, column: int) -> dict[str, types.CompletionItem]:
    got = editor.run(editor.client.text_document_completion_async(types.CompletionParams(
        text_document=_doc(path), position=types.Position(line - 1, column - 1))))
    items = got.items if isinstance(got, types.CompletionList) else got
    return {i.label: i for i in items}


def test_completion_of_layers_blocks_and_keyword_arguments(editor, tmp_path):
    from netspec.ops.registry import ALIASES, OPS

    spec, lib, text = _library(tmp_path)
    editor.open(spec)
    words = _complete(editor, spec, 6, 1)
    assert {"conv", "maxpool", "fc", "bn"} <= set(words) and set(OPS) | set(ALIASES) <= set(words)
    assert "batchnorm" in words and "bn" in words["batchnorm"].detail  # an alias names its layer
    assert words["pair"].detail == "block pair(c, k=3)" and "bottleneck" in words  # its own and the zoo's

    typed = text.replace("pair(8)", "pair(8) conv3-8(str")
    editor.replace(spec, typed)
    args = _complete(editor, spec, 5, len("pair(8) conv3-8(str") + 1)
    assert "stride" in args and args["stride"].insert_text == "stride=" and "default 1" in args["stride"].detail
    assert "default same" in args["pad"].detail and "default 1" in args["groups"].detail

    editor.replace(spec, text.replace("pair(8)", "pair(8, "))
    block_args = _complete(editor, spec, 5, len("pair(8, ") + 1)
    assert set(block_args) == {"c", "k"} and "default 3" in block_args["k"].detail

    from netspec.analysis.lints import LINTS

    editor.replace(spec, text + "lint off ")
    assert set(_complete(editor, spec, text.count("\n") + 1, len("lint off ") + 1)) == set(LINTS)


# ---------------------------------------------------------------- quick fixes


def _fixes(editor, path: Path, diagnostic: types.Diagnostic) -> list[types.CodeAction]:
    return editor.run(editor.client.text_document_code_action_async(types.CodeActionParams(
        text_document=_doc(path), range=diagnostic.range,
        context=types.CodeActionContext(diagnostics=[diagnostic]))))


WIDE = "network w(classes=10)\ninput 3x32x32\nconv3-8 relu maxpool\nfc-{classes}\n"


@pytest.mark.parametrize("typo, fixed", [
    (TINY.replace("conv3-8", "convv3-8"), TINY),  # a layer word: the whole layer is rewritten
    (TINY.replace("conv3-8", "conv3-8(strde=2)"), TINY.replace("conv3-8", "conv3-8(stride=2)")),  # only the name
    (TINY.replace("relu", "reluu"), TINY),
    (TINY + "expect parmas 20714\n", TINY + "expect params 20714\n"),  # in a range of the whole line
    (WIDE.replace("{classes}", "{clases}"), WIDE),  # a name in an expression
    (TINY + "lint off early-botleneck\n", TINY + "lint off early-bottleneck\n"),  # a warning's suggestion
])
def test_a_did_you_mean_has_a_quick_fix_that_writes_the_suggestion(editor, tmp_path, typo, fixed):
    spec = tmp_path / "typo.net"
    got = editor.open(spec, typo)
    wrong = [d for d in got if "did you mean" in d.message]
    assert len(wrong) == 1
    actions = _fixes(editor, spec, wrong[0])
    assert len(actions) == 1 and actions[0].kind == types.CodeActionKind.QuickFix
    [edit] = actions[0].edit.changes[from_fs_path(str(spec))]
    repaired = _apply(typo, edit)
    assert repaired == fixed
    assert not [d for d in editor.replace(spec, repaired) if "did you mean" in d.message]


# ---------------------------------------------------------------- imported files that change


def test_an_open_library_stands_in_for_the_file_and_its_edits_reach_the_spec(editor, tmp_path):
    spec, lib, text = _library(tmp_path)
    # pair(8): conv3-8 on 3 channels 3*9*8+8 = 224, on 8: 8*9*8+8 = 584; gap fc-10: 8*10+10 = 90; 898 in all
    text = text.replace("basic(8)\n", "") + "expect params 898\n"
    spec.write_text(text)
    assert not [d for d in editor.open(spec) if d.severity == types.DiagnosticSeverity.Error]
    lib_text = lib.read_text()
    editor.open(lib)
    refreshes = editor.hint_refreshes
    editor.replace(lib, lib_text.replace("conv{k}-{c} relu\n}", "conv{k}-{2 * c} relu\n}"))  # unsaved
    # the second conv now has 16 filters: 224 + 8*9*16+16 = 1,392, fc 16*10+10 = 170: 1,562
    failed = [d for d in editor.latest(spec) if d.code == "expect"]
    assert len(failed) == 1 and "1,562" in failed[0].message
    assert "16x32x32" in editor.hover(spec, 5, 2).contents.value
    assert "16x32x32" in editor.hover(lib, 5, 4).contents.value  # the library's line, from the spec's analysis
    assert editor.hint_refreshes > refreshes  # the spec's hints are stale: the editor is asked to fetch them again

    editor.close_document(lib)  # back to the file on disk
    assert not [d for d in editor.latest(spec) if d.code == "expect"]


def test_without_pygls_the_command_says_how_to_install_it():
    code = "import sys; sys.modules['pygls'] = None; from netspec.cli import main; sys.exit(main(['lsp']))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 3 and 'pip install "netspec[lsp]"' in done.stderr and "Traceback" not in done.stderr


def test_the_server_does_not_import_torch():
    code = ("import sys; from netspec.lsp import server, documents; "
            "s = documents.check_document('file:///x/a.net', 'network a\\ninput 3x8x8\\nconv3-4 relu\\n', 1, {}); "
            "assert s.checked.analysis is not None; assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_buffer_past_the_size_limit_is_refused_before_it_is_parsed():
    from netspec.limits import Limits
    from netspec.lsp.documents import check_document

    text = TINY * 10  # 10 networks in one file would be errors; the size is refused first
    got = check_document("file:///specs/big.net", text, 1, {}, Limits(max_spec_bytes=len(TINY)))
    assert [d.code for d in got.checked.diagnostics] == ["io"] and got.checked.tree is None
    assert f"{len(text):,} bytes" in got.checked.diagnostics[0].message


def test_the_hover_shown_in_docs_editors_is_what_the_server_says(editor, tmp_path):
    import re

    doc = (ROOT / "docs" / "EDITORS.md").read_text()
    spec_text = re.search(r"```net\n(.*?)```", doc, re.S).group(1)
    quoted = "\n".join(line[2:] if line.startswith("> ") else line[1:] for line in doc.split("\n")
                       if line.startswith(">"))
    spec = tmp_path / "tiny.net"
    editor.open(spec, spec_text)
    label = next(i for i, line in enumerate(spec_text.split("\n"), 1) if line.startswith("p:"))
    assert editor.hover(spec, label, 1).contents.value == quoted
    hints = editor.run(editor.client.text_document_inlay_hint_async(types.InlayHintParams(
        text_document=_doc(spec), range=_range(1, 1, label + 2, 1))))
    said = re.search(r"hints read `(\S+)` after lines (\d+), (\d+) and (\d+) and `(\S+)` after line (\d+)", doc)
    shape, a, b, c, head, d = said.groups()
    assert {h.position.line + 1: h.label for h in hints} == {int(a): shape, int(b): shape, int(c): shape,
                                                             int(d): head}
