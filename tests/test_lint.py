"""Design lints, expect lines, and the `netspec lint` / `netspec summary` commands."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

import netspec
from netspec.analysis import analyze, check_expects, lint
from netspec.analysis.expect import matches, render_like, updated_text
from netspec.analysis.lints import LINTS
from netspec.commands import lint as lint_cmd
from netspec.commands import summary as summary_cmd
from netspec.diagnostics import SpecError

LINT_SPECS = Path(__file__).parent / "specs" / "lints"


def run_cli(*argv: str) -> int:
    """Run one of this module's commands as `netspec` would (argparse errors exit 2)."""
    parser = argparse.ArgumentParser(prog="netspec")
    sub = parser.add_subparsers(dest="command", required=True)
    summary_cmd.add_parser(sub)
    lint_cmd.add_parser(sub)
    args = parser.parse_args(list(argv))
    try:
        return args.run(args)
    except SpecError as err:
        print(err.render())
        return 1


def codes(path: Path, disable=()) -> list[str]:
    network = netspec.load(path)
    return [d.code for d in lint(network, analyze(network), disable)]


# ---------------------------------------------------------------- every lint: a spec that triggers it, one that does not


@pytest.mark.parametrize("lint_id", sorted(LINTS))
def test_lint_triggers_on_its_bad_spec(lint_id):
    assert lint_id in codes(LINT_SPECS / f"{lint_id}.bad.net")


@pytest.mark.parametrize("lint_id", sorted(LINTS))
def test_lint_quiet_on_its_good_spec(lint_id):
    assert lint_id not in codes(LINT_SPECS / f"{lint_id}.ok.net")


def test_every_lint_spec_names_a_registered_lint():
    ids = {p.name.split(".")[0] for p in LINT_SPECS.glob("*.net")}
    assert ids == set(LINTS)


def test_lint_warnings_are_located_and_explained():
    network = netspec.load(LINT_SPECS / "bias-before-bn.bad.net")
    (d,) = [d for d in lint(network) if d.code == "bias-before-bn"]
    assert d.level == "warning" and d.help
    assert d.span.line == 3 and d.span.column == 1
    assert "16 redundant parameters" in d.message
    assert "^" in d.render()


def test_stride_tiling_names_the_dropped_rows_for_the_seed_example():
    network = netspec.load(LINT_SPECS / "stride-tiling.bad.net")
    (d,) = [d for d in lint(network) if d.code == "stride-tiling"]
    assert "7x7" in d.message and "last 1 row" in d.message
    # stride 1 and 2 tile the same input
    for stride in (1, 2):
        n = netspec.parse(f"network t\ninput 1x7x7\nconv3-1/{stride}(pad=valid)\n")
        assert "stride-tiling" not in [x.code for x in lint(n)]


def test_lint_off_in_the_spec(tmp_path):
    text = (LINT_SPECS / "stride-tiling.bad.net").read_text()
    spec = tmp_path / "quiet.net"
    spec.write_text(text + "lint off stride-tiling, early-bottleneck\n")
    assert codes(spec) == []
    spec.write_text(text + "lint off stride-tilling\n")
    found = [d for d in lint(netspec.load(spec))]
    unknown = [d for d in found if d.code == "unknown-lint"]
    assert unknown and "stride-tiling" in unknown[0].help


def test_disable_on_the_command_line(capsys):
    bad = str(LINT_SPECS / "large-fc.bad.net")
    assert run_cli("lint", "--strict", bad) == 1
    assert "large-fc" in capsys.readouterr().out
    assert run_cli("lint", "--strict", "--disable", "large-fc,receptive-field", bad) == 0
    assert run_cli("lint", "--disable", "large_fc", bad) == 2
    assert "large-fc" in capsys.readouterr().err  # the suggestion


# ---------------------------------------------------------------- expect lines


@pytest.mark.parametrize("written, value, ok", [
    ("4.09G", 4_089_184_256, True),  # resnet50 at 224
    ("4.1G", 4_089_184_256, True),
    ("4.08G", 4_089_184_256, False),
    ("4.090G", 4_089_184_256, False),  # three decimals written: 4.089
    ("4089184256", 4_089_184_256, True),
    ("4,089,184,256", 4_089_184_256, True),
    ("4089184257", 4_089_184_256, False),
    ("15.47G", 15_470_264_320, True),  # VGG-16
    ("25.56M", 25_557_032, True),
    ("1000", "1000", True),
    ("512x7x7", "512x7x7", True),
    ("512x7x8", "512x7x7", False),
])
def test_expect_matching(written, value, ok):
    assert matches(written, value) is ok


def test_expect_rendering_keeps_the_written_style():
    assert render_like("4.09G", 4_089_184_256) == "4.09G"
    assert render_like("1.0M", 93_322) == "0.1M"
    assert render_like("138357544", 93_322) == "93322"


MNIST = """network mnist
input 1x28x28   # channel-first
default conv(pad=valid, after=[relu])
conv3-32 maxpool conv3-64 maxpool conv3-64
flatten fc-64 relu fc-10 softmax
"""


def test_expect_checks(tmp_path):
    ok = netspec.parse(MNIST + "expect params 93322\nexpect output 10\nexpect macs 2.79M\n")
    # 26*26*32*9 + 11*11*64*288 + 3*3*64*576 + 576*64 + 64*10
    assert analyze(ok).macs == 194_688 + 2_230_272 + 331_776 + 36_864 + 640 == 2_794_240
    assert check_expects(ok) == []
    bad = netspec.parse(MNIST + "expect params 93323\nexpect output 1x10\n")
    errors = check_expects(bad)
    assert [e.code for e in errors] == ["expect", "expect"]
    assert "93,322" in errors[0].message and errors[0].span.line == 6
    assert "--update" in errors[0].help


def test_expect_on_symbolic_input_says_what_is_missing():
    n = netspec.parse("network t\ninput 3xHxW\nconv3-8\nexpect macs 1G\n")
    (e,) = check_expects(n)
    assert "concrete input" in e.message


def test_update_rewrites_expect_lines_in_place(tmp_path, capsys):
    spec = tmp_path / "mnist.net"
    original = MNIST + "expect params 1   # from Keras\nexpect macs 9.99M\n"
    spec.write_text(original)
    assert run_cli("lint", str(spec)) == 1
    capsys.readouterr()
    assert run_cli("lint", "--update", str(spec)) == 0
    assert "updated expect lines: params 1 -> 93322; macs 9.99M -> 2.79M; output (added) 10" in capsys.readouterr().out
    text = spec.read_text()
    assert "expect params 93322   # from Keras\n" in text
    assert "expect macs 2.79M\n" in text
    assert text.splitlines()[2] == "expect output 10"  # added after the input line
    # everything else byte for byte
    assert text.replace("expect output 10\n", "").replace("93322", "1").replace("2.79M", "9.99M") == original
    assert run_cli("lint", str(spec)) == 0
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file


def test_update_adds_missing_figures_after_the_input_line():
    text = "network t\ninput 3x8x8\nconv3-4 relu gap fc-2\n"
    n = netspec.parse(text)
    new = updated_text(text, n, analyze(n))
    assert new.splitlines()[2:5] == ["expect params 122", "expect macs 6920", "expect output 2"]
    assert netspec.parse(new).expects[0].value == "122"  # 3*9*4 + 4 + 4*2 + 2
    assert check_expects(netspec.parse(new)) == []


# ---------------------------------------------------------------- the lint command


def test_lint_exit_codes(tmp_path, capsys):
    clean = LINT_SPECS / "bias-before-bn.ok.net"
    warned = LINT_SPECS / "bias-before-bn.bad.net"
    assert run_cli("lint", str(clean)) == 0
    assert run_cli("lint", str(warned)) == 0  # warnings alone pass...
    assert run_cli("lint", "--strict", str(warned)) == 1  # ...unless strict
    broken = tmp_path / "broken.net"
    broken.write_text("network b\ninput 3x8x8\nconv3-8 fc-10 conv3-8\n")
    assert run_cli("lint", str(broken)) == 1
    out = capsys.readouterr().out
    assert "broken.net:3:" in out and "error[" in out
    assert run_cli("lint", str(tmp_path / "missing.net")) == 2
    assert run_cli("lint") == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_cli("lint", str(empty)) == 2


def test_lint_folder_skips_block_libraries(tmp_path, capsys):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.net").write_text("block unit(c) { conv3-{c} bn relu }\n")
    (tmp_path / "a.net").write_text('network a\ninput 3x8x8\nimport "lib/blocks.net"\nunit(8) gap fc-2\n')
    assert run_cli("lint", "--format", "json", str(tmp_path)) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [Path(f["path"]).name for f in doc["files"]] == ["a.net", "blocks.net"]
    assert doc["errors"] == 0


def test_lint_github_annotations(capsys):
    run_cli("lint", "--format", "github", str(LINT_SPECS / "asymmetric-padding.bad.net"))
    lines = capsys.readouterr().out.splitlines()
    annotation = [line for line in lines if "title=netspec asymmetric-padding" in line][0]
    assert re.match(r"^::warning file=[^,]*asymmetric-padding\.bad\.net,line=4,col=1,.*::`conv2-16` pads", annotation)
    assert "\n" not in annotation and "%0Ahelp: " in annotation


def test_lint_json(capsys):
    assert run_cli("lint", "--format", "json", str(LINT_SPECS / "head-activation.bad.net")) == 0
    doc = json.loads(capsys.readouterr().out)
    (found,) = [d for d in doc["files"][0]["diagnostics"] if d["code"] == "head-activation"]
    assert found["level"] == "warning" and found["line"] == 4 and found["column"] == 11


def test_lint_list(capsys):
    assert run_cli("lint", "--list") == 0
    out = capsys.readouterr().out
    assert all(lint_id in out for lint_id in LINTS)


# ---------------------------------------------------------------- the summary command


def write(tmp_path, text, name="m.net"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_summary_table(tmp_path, capsys):
    assert run_cli("summary", write(tmp_path, MNIST)) == 0
    out = capsys.readouterr().out
    assert "Total params:" in out and "93,322" in out
    assert re.search(r"^conv\d?\s+conv3-32\s+32x26x26\s+320\s", out, re.MULTILINE)
    assert "2.79 M" in out  # MACs in human units


def test_summary_json_and_overrides(tmp_path, capsys):
    spec = write(tmp_path, MNIST.replace("network mnist", "network mnist(n=10)").replace("fc-10", "fc-{n}"))
    assert run_cli("summary", spec, "--format", "json", "--set", "n=5", "--input", "1x32x32") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["output"] == "5" and doc["input"] == "1x32x32"
    assert doc["trainable_params"] == sum(layer["params"] for layer in doc["layers"])
    assert doc["activation_bytes"] == 4 * doc["activation_elements"]


def test_summary_depth_and_markdown(tmp_path, capsys):
    spec = write(tmp_path, "network d\ninput 3x16x16\nstem: { conv3-8 bn relu }\n"
                           "body: { residual { conv3-8 bn relu conv3-8 bn } relu }\ngap fc-2\n")
    assert run_cli("summary", spec, "--depth", "1", "--format", "markdown") == 0
    out = capsys.readouterr().out
    assert "| stem | block | 8x16x16 |" in out
    assert "conv1" not in out  # collapsed below depth 1
    with pytest.raises(SystemExit) as exc:
        run_cli("summary", spec, "--depth", "0")
    assert exc.value.code == 2


def test_summary_reports_spec_errors_with_location(tmp_path, capsys):
    spec = write(tmp_path, "network e\ninput 3x8x8\nconv9-8(pad=valid)\n")
    assert run_cli("summary", spec) == 1
    out = capsys.readouterr().out
    assert "m.net:3:" in out


def test_pre_commit_hooks_run_netspec_lint_on_net_files():
    text = (Path(__file__).parent.parent / ".pre-commit-hooks.yaml").read_text()
    hooks = re.findall(r"^- id: (\S+)$", text, re.MULTILINE)
    assert hooks == ["netspec-lint", "netspec-lint-strict"]
    assert re.findall(r"^  entry: (.+)$", text, re.MULTILINE) == ["netspec lint", "netspec lint --strict"]
    (pattern,) = set(re.findall(r"^  files: (\S+)$", text, re.MULTILINE))
    assert re.search(pattern, "specs/resnet50.net") and not re.search(pattern, "specs/notes.txt")


def test_docs_show_the_real_summary_and_every_lint(capsys):
    doc = (Path(__file__).parent.parent / "docs" / "ANALYSIS.md").read_text()
    shown = re.search(r"```\n\$ netspec summary resnet50 --depth 1\n(.*?)```", doc, re.S).group(1)
    assert run_cli("summary", "resnet50", "--depth", "1") == 0
    assert capsys.readouterr().out == shown
    for lint_id in LINTS:
        assert f"| `{lint_id}` |" in doc


def test_early_bottleneck_leaves_decoders_and_per_pixel_classifiers_alone():
    # an encoder that grows channels, a decoder that upsamples back, a 1x1 conv to 2 classes
    n = netspec.parse("network seg\ninput 3x64x64\nconv3-16/2 relu conv3-32/2 relu upsample(4) conv1-2\n")
    assert "early-bottleneck" not in [d.code for d in lint(n)]
    # the same squeeze in the middle of the encoder is reported
    n = netspec.parse("network sq\ninput 3x64x64\nconv3-128 relu conv1-8 relu conv3-64/2 relu gap fc-2\n")
    assert "early-bottleneck" in [d.code for d in lint(n)]


def test_lint_github_annotation_for_a_spec_error(tmp_path, capsys):
    broken = tmp_path / "broken.net"
    broken.write_text("network b\ninput 3x8x8\nconv9-8(pad=valid)\n")
    assert run_cli("lint", "--format", "github", str(broken)) == 1
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("::error")]
    assert re.match(r"::error file=[^,]*broken\.net,line=3,col=1,", line)


def test_unknown_lint_id_is_located_on_its_lint_off_line(tmp_path, capsys):
    spec = write(tmp_path, "network t\ninput 3x32x32\nlint off large-fc, stride-tilling\nconv3-8 relu gap fc-2\n")
    assert run_cli("lint", "--format", "json", spec) == 0
    (d,) = [d for d in json.loads(capsys.readouterr().out)["files"][0]["diagnostics"] if d["code"] == "unknown-lint"]
    assert (d["line"], d["column"], d["end_column"]) == (3, 20, 34)
    assert d["help"] == "did you mean `stride-tiling`?"


def test_cli_summary_and_lint_never_import_torch():
    """Through the real `netspec` entry point, with every subcommand registered."""
    import subprocess
    import sys

    code = ("import sys\nfrom netspec.cli import main\n"
            "assert main(['summary', 'resnet50', '--format', 'json']) == 0\n"
            f"assert main(['lint', {str(LINT_SPECS)!r}]) == 0\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


# ---------------------------------------------------------------- missing-activation reads the dataflow

def missing_pairs(text: str) -> list[str]:
    """The layers missing-activation flags (their paths)."""
    net = netspec.parse(text)
    return [d.message.split("`")[3] for d in lint(net) if d.code == "missing-activation"]


SE = "gate { gap fc-{in // 4} relu fc-{in} hardsigmoid }"


@pytest.mark.parametrize("name, text", [
    # MobileNetV3's first block (expansion 1: no expansion conv): dw, SE, a 16 -> 16 linear projection
    # with its batch norm, then the next block's 16 -> 64 expansion
    ("mobilenet_v3", f"block ir(e, c, s=1) {{\n  if e != in {{ conv1-{{e}} bn hardswish }}\n"
                     f"  dwconv3/{{s}} bn relu {SE}\n  conv1-{{c}} bn\n}}\n"
                     "conv3-16/2 bn hardswish ir(16, 16, 2) ir(64, 24, 2) gap fc-10\n"),
    # MNASNet's stem: a separable conv 32 -> 16 (depthwise, then a narrowing linear projection), then the
    # first inverted residual's expansion
    ("mnasnet", "conv3-32/2 bn relu dwconv3 bn relu conv1-16 bn conv1-48 bn relu dwconv3/2 bn relu conv1-24 bn "
                "gap fc-10\n"),
    # EfficientNet's MBConv1 (dw, SE, 32 -> 16 projection), then an MBConv6 expanding 16 -> 96
    ("efficientnet", f"conv3-32/2 bn silu {{ dwconv3 bn silu {SE} conv1-16 bn }} "
                     f"{{ conv1-96 bn silu dwconv3/2 bn silu {SE} conv1-24 bn }} gap fc-10\n"),
    # the same block written flat, in groups, and as a block: the dataflow is the same
    ("flat", "conv3-16 bn relu dwconv3 bn relu conv1-16 bn conv1-64 bn relu gap fc-10\n"),
    ("nested", "conv3-16 bn relu { { dwconv3 bn relu } { conv1-16 bn } } { conv1-64 bn relu } gap fc-10\n"),
    # ConvNeXt: the 2x2/2 downsampling conv straight into the next block's 7x7 depthwise conv, and a
    # layer norm (a per-pixel division: not affine) between the stem and the first block
    ("convnext", "conv4-16/4 layernorm residual { dwconv7 layernorm conv1-64 gelu conv1-16 } "
                 "layernorm conv2-32/2 residual { dwconv7 layernorm conv1-128 gelu conv1-32 } gap fc-10\n"),
])
def test_a_linear_bottleneck_then_an_expansion_is_not_flagged(name, text):
    assert missing_pairs(f"network {name}\ninput 3x64x64\n{text}") == []


@pytest.mark.parametrize("text", [
    "conv3-16 bn conv3-16 bn relu gap fc-10",  # flat
    "{ conv3-16 bn } { conv3-16 bn relu } gap fc-10",  # across two groups
    "block a { conv3-16 bn } block b { conv3-16 bn relu } a b gap fc-10",  # across two blocks
    "{ { { conv3-16 } bn } } conv3-16 relu gap fc-10",  # out of a deep nesting
    "conv3-16 bn [conv3-16 bn relu]x1 gap fc-10",  # into a repeat
    "conv3-16 if true { dropout(0.1) conv3-16 } relu gap fc-10",  # through an if
    "conv3-16 drop_path(0.1) layer_scale conv3-16 relu gap fc-10",  # through a drop path and a layer scale
])
def test_a_real_missing_activation_is_flagged_whatever_the_nesting(text):
    assert missing_pairs(f"network t\ninput 16x16x16\n{text}\n") == ["conv3-16"]


def test_a_join_ends_the_search():
    # a residual add and a gate's multiply are not linear layers of one path: not flagged
    assert missing_pairs("network t\ninput 16x16x16\nconv3-16 bn relu residual { conv3-16 bn relu conv3-16 bn } "
                         "conv3-16 relu gap fc-10\n") == []
    # but a residual body's first conv does read what came before it: the dataflow says so
    assert missing_pairs("network t\ninput 16x16x16\nconv3-16 bn residual { conv3-16 bn } relu gap fc-10\n") \
        == ["conv3-16"]
    assert missing_pairs(f"network t\ninput 16x16x16\nconv3-16 bn relu conv3-16 bn {SE} conv3-16 relu "
                         "gap fc-10\n") == []


def test_lint_in_several_processes_reports_what_one_process_does():
    from netspec.limits import Limits, using

    files = sorted(LINT_SPECS.glob("*.net"))
    assert len(files) >= 2 * lint_cmd._FILES_PER_JOB  # enough for two workers
    one = lint_cmd.check_files(files, set(), False, jobs=1)
    two = lint_cmd.check_files(files, set(), False, jobs=2)
    assert [r.path for r in two] == [str(f) for f in files]  # in the order given
    assert [[d.render(r.sources) for d in r.diagnostics] for r in two] == \
        [[d.render(r.sources) for d in r.diagnostics] for r in one]
    assert any(r.diagnostics for r in one)
    # the workers run under the caller's limits, not the defaults
    with using(Limits(max_layers=1)):
        codes = [[[d.code for d in r.diagnostics] for r in lint_cmd.check_files(files, set(), False, jobs=j)]
                 for j in (1, 2)]
    assert codes[0] == codes[1]
    assert sum(c == ["limit"] for c in codes[1]) >= len(files) - 2  # all but the one-layer specs refused
