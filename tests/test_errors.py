"""The corpus of broken specs: each gives a located, plain-words error, never a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import netspec
from conftest import ROOT, SPECS, run_cli

BROKEN = sorted((SPECS / "broken").glob("*.net"))
# the two files that cannot carry an `# expect:` comment
EXPECTED_WITHOUT_COMMENT = {"empty.net": "no `input` line", "binary_junk.net": "is a binary file"}


def expected_fragment(path: Path) -> str:
    if path.name in EXPECTED_WITHOUT_COMMENT:
        return EXPECTED_WITHOUT_COMMENT[path.name]
    match = re.search(r"# expect: (.*)", path.read_text(encoding="utf-8"))
    assert match, f"{path.name} needs an `# expect:` comment"
    return match.group(1).strip()


def test_corpus_is_large_enough():
    assert len(BROKEN) >= 40


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_spec_gives_located_error(path):
    with pytest.raises(netspec.SpecError) as info:
        netspec.load(path)
    text = info.value.render()
    assert expected_fragment(path) in text
    first = text.splitlines()[0]
    assert re.match(r"\S+\.(net|txt):\d+:\d+: error\[[a-z-]+\]: ", first), first
    assert f"{path}:" in text  # an error inside an imported file also points at the import
    assert "^" in text  # the caret under the offending token
    assert "Traceback" not in text


def test_cli_exit_code_for_every_broken_spec():
    """`netspec fmt --check` on the whole corpus: exit 1, every file reported, no traceback."""
    result = run_cli("fmt", "--check", *map(str, BROKEN))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    for path in BROKEN:
        assert f"{path}:" in result.stderr, path.name
        assert expected_fragment(path) in result.stderr


@pytest.mark.parametrize("path", BROKEN[:3], ids=[p.stem for p in BROKEN[:3]])
def test_cli_one_file_at_a_time(path):
    result = run_cli("fmt", "--check", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert expected_fragment(path) in result.stderr


def test_one_megabyte_line(tmp_path):
    spec = tmp_path / "long.net"
    spec.write_text("network t\ninput 3x8x8\n" + "conv3-8 " * 10 + "x" * 1_000_000 + "\n")
    with pytest.raises(netspec.SpecError) as info:
        netspec.load(spec)
    text = info.value.render()
    assert "unknown layer or block" in text
    assert max(len(line) for line in text.splitlines()) < 400  # the caret picture is cut to size
    result = run_cli("fmt", "--check", str(spec))
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_random_binary(tmp_path):
    spec = tmp_path / "junk.net"
    spec.write_bytes(bytes(range(256)) * 8)
    result = run_cli("fmt", "--check", str(spec))
    assert result.returncode == 1 and "binary" in result.stderr and "Traceback" not in result.stderr


def test_non_utf8(tmp_path):
    spec = tmp_path / "latin1.net"
    spec.write_bytes("network t\ninput 3x8x8\nconv3-8 # caf\xe9\n".encode("latin-1"))
    with pytest.raises(netspec.SpecError, match="not UTF-8"):
        netspec.load(spec)


def test_missing_file_and_folder(tmp_path):
    result = run_cli("fmt", "--check", str(tmp_path / "nope.net"))
    assert result.returncode == 1 and "no such spec file" in result.stderr
    with pytest.raises(netspec.SpecError, match="is a folder"):
        netspec.load(tmp_path)


def test_concat_mismatch_labels_every_branch():
    with pytest.raises(netspec.SpecError) as info:
        netspec.parse("network t\ninput 3x32x32\nconcat {\n  conv3-8\n  | maxpool conv1-8\n  | conv1-4\n}")
    text = info.value.render()
    assert "gives 8x32x32" in text and "gives 8x16x16" in text and "gives 4x32x32" in text


def test_unknown_override_suggests():
    with pytest.raises(netspec.SpecError) as info:
        netspec.parse("network t(num_classes=10)\ninput 3x8x8\nfc-{num_classes}", params={"num_clases": 3})
    assert "did you mean `num_classes`" in info.value.render()


def test_error_in_imported_file_points_into_it(tmp_path):
    (tmp_path / "lib.net").write_text("block b(c) {\n  conv3-{c}(strde=2)\n}\n")
    (tmp_path / "net.net").write_text('import "lib.net"\nnetwork t\ninput 3x8x8\nb(4)\n')
    with pytest.raises(netspec.SpecError) as info:
        netspec.load(tmp_path / "net.net")
    text = info.value.render()
    assert f"{tmp_path / 'lib.net'}:2:" in text and "did you mean `stride`" in text


@pytest.mark.parametrize("command", ["summary", "lint", "compile", "export", "train"])
def test_every_command_that_reads_a_spec_reports_the_same_error(command, tmp_path, capsys):
    from netspec.cli import main

    out = ["-o", str(tmp_path / "out")] if command in ("compile", "export") else []
    out += ["--format", "onnx"] if command == "export" else []
    out += ["--out", str(tmp_path / "run")] if command == "train" else []
    for path in BROKEN:
        assert main([command, str(path), *out]) == 1, (command, path.name)
        captured = capsys.readouterr()
        text = captured.out + captured.err  # lint reports on stdout: findings are its output
        assert expected_fragment(path) in text and "Traceback" not in text, (command, path.name, text)
    assert not (tmp_path / "out").exists() and not (tmp_path / "run").exists()  # nothing half-written


# ---------------------------------------------------------------- every error in one run, in the user's words


def diagnostics_of(text: str):
    with pytest.raises(netspec.SpecError) as info:
        netspec.parse(text)
    return info.value.diagnostics


def test_two_unknown_layers_are_two_errors():
    found = diagnostics_of("network t\ninput 3x8x8\nconvv3-8 relu\nconv3-8 rleu\ngap fc-2\n")
    assert [(d.code, d.span.line) for d in found] == [("undefined", 3), ("undefined", 4)]


def test_errors_in_blocks_and_statements_are_all_reported_once():
    text = ("network t\ninput 3x8x8\nexpect flops 1G\nblock b(c) { conv1-{c} rleu }\n"
            "b(4) b(8) conv3-8(foo=1) gap fc-{nope}\n")
    found = diagnostics_of(text)
    messages = [d.message for d in found]
    assert messages == ["unknown expectation `flops`", "unknown layer or block `rleu`",
                        "`conv` has no argument `foo`", "unknown name `nope`"]


def test_shape_errors_after_a_first_error_are_not_echoes():
    # the unknown layer is left out, so the shapes after it are guesses: their errors are not reported
    found = diagnostics_of("network t\ninput 3x8x8\nfc-10 convv3-8 conv3-8\n")
    assert [d.code for d in found] == ["undefined"]


def test_errors_are_capped():
    found = diagnostics_of("network t\ninput 3x8x8\n" + "rleu\n" * 30 + "fc-2\n")
    assert len(found) == 20 and len({d.span.line for d in found}) == 20


def test_two_syntax_errors_on_two_lines():
    found = diagnostics_of("network t\ninput 3x8x8\nconv3-{4 +} relu\nconv3-8 relu conv3-8 8\nconv3-(2)\n")
    assert [(d.code, d.span.line) for d in found] == [("syntax", 3), ("syntax", 4), ("syntax", 5)]


INTERNAL_NAMES = re.compile(r"\b[a-z]+_kw\b|__anon|\b[A-Z]{2,}(_[A-Z]+)*\b|\.\.\.$|`[a-z]+_[a-z]+`")


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_no_grammar_names_in_messages(path):
    try:
        netspec.load(path)
    except netspec.SpecError as err:
        for d in err.diagnostics:
            if d.code == "syntax":
                assert not INTERNAL_NAMES.search(d.message), d.message
                assert not d.message.endswith("...")


def test_kernel_expression_with_a_space_says_so():
    found = diagnostics_of("network t(k=3, s=2)\ninput 8x32x32\ndwconv {k}/{s} relu\n")
    assert "`add_kw`" not in found[0].message and "a layer, a block, `[`" in found[0].message
    assert "dwconv{k}/{s}" in found[0].help


@pytest.mark.parametrize("written, wrong", [("deconvv2-8/2", "dwconv-8"), ("upconvv2-8/2", "conv-8"),
                                            ("dwconv3-8", None), ("convv3-8/2(bias=false)", None),
                                            ("maxpol3/2", None), ("bottlenek(8)", None)])
def test_a_suggestion_is_accepted_where_it_would_stand(written, wrong):
    """Whatever did-you-mean offers, put in place of the mistake, elaborates."""
    head = "network t\ninput 8x16x16\nblock bottleneck(c) { conv1-{c} relu }\n"
    found = diagnostics_of(f"{head}{written} relu\ngap fc-2\n")
    help_ = found[0].help or ""
    if wrong is not None:
        assert f"`{wrong}`" not in help_
    match = re.search(r"did you mean `([^`]*)`", help_)
    if match:
        netspec.parse(f"{head}{match.group(1)} relu\ngap fc-2\n")  # raises if the suggestion is not valid here
    else:
        assert written.startswith(("deconv", "upconv", "dwconv3-8")), help_  # no suggestion only when none fits


def test_every_suggestion_in_the_corpus_is_accepted_in_place():
    checked = 0
    for path in BROKEN:
        try:
            netspec.load(path)
        except netspec.SpecError as err:
            text = path.read_text(encoding="utf-8", errors="replace")
            for d in err.diagnostics:
                match = re.search(r"did you mean `([^`]*)`", d.help or "")
                if not match or not d.message.startswith("unknown layer or block") or d.span.file != str(path):
                    continue
                lines = text.split("\n")
                line = lines[d.span.line - 1]
                lines[d.span.line - 1] = line[:d.span.column - 1] + match.group(1) + line[d.span.end_column - 1:]
                try:
                    netspec.parse("\n".join(lines), filename=str(path))
                except netspec.SpecError as again:
                    assert all(a.span is None or a.span.line != d.span.line for a in again.diagnostics), \
                        (path.name, match.group(1), again.render())
                checked += 1
    assert checked >= 3


def test_a_reader_that_goes_away_ends_the_command_quietly():
    # `netspec summary resnet50 | head -1`: the pipe closes before netspec writes; no traceback, exit 128 + SIGPIPE
    proc = subprocess.Popen([sys.executable, "-m", "netspec", "summary", "resnet50"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, stderr
    assert stderr == ""
