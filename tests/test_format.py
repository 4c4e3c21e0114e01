"""The formatter: canonical layout, comments kept, idempotent, and parse(format(x)) == x."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netspec
from netspec.formatter import format_network, format_text
from conftest import ROOT, SPECS, run_cli


def without_spans(value):
    """An IR dump with source positions removed: what formatting must not change."""
    if isinstance(value, dict):
        return {k: without_spans(v) for k, v in value.items() if k not in ("span", "source")}
    if isinstance(value, (list, tuple)):
        return [without_spans(v) for v in value]
    return value


def same_network(a: netspec.Network, b: netspec.Network) -> bool:
    return without_spans(a.model_dump()) == without_spans(b.model_dump())


def all_specs() -> list[Path]:
    """Every spec in the repository but the deliberately broken ones."""
    found = sorted((ROOT / "specs").rglob("*.net")) + sorted(SPECS.rglob("*.net"))
    return [p for p in found if "broken" not in p.parts]


def test_layout_is_normalised():
    messy = ("network   t( k = 4 )\ninput 3x8x8\n\n\n\n# stem\nconv3-{ k*2 }  relu   # a comment\n"
             "concat {conv1-4|\n conv1-2 conv3-4}\n[ conv3-8 ]x2\n")
    assert format_text(messy) == (
        "network t(k=4)\ninput 3x8x8\n\n# stem\nconv3-{k * 2} relu  # a comment\n"
        "concat {\n  conv1-4\n  | conv1-2 conv3-4\n}\n[conv3-8]x2\n")


def test_parameters_and_arguments_keep_their_lines():
    """A block header or a call written over several lines keeps the author's grouping of its items
    (EfficientNet's family block takes a stage table: one line would be 400 characters)."""
    text = ("network t\ninput 3x8x8\nblock b(\n   c,   d=2,  # two\n  e=[1,\n 2]) { conv3-{c} }\n"
            "x: b(4,\n  d=5  # five\n)\nconv3-4 b(4,\n 5) relu\n")
    assert format_text(text) == (
        "network t\ninput 3x8x8\nblock b(\n  c, d=2,  # two\n  e=[1, 2]\n) {\n  conv3-{c}\n}\n"
        "x: b(\n  4,\n  d=5  # five\n)\nconv3-4 b(4, 5) relu\n")  # sharing its line: one line
    assert format_text(format_text(text)) == format_text(text)
    assert same_network(netspec.parse(text), netspec.parse(format_text(text)))


def test_expressions_keep_their_meaning():
    text = "network t(a=2, b=3)\ninput 8x8x8\nconv1-{(a + b) * 2} conv1-{a - (b - 4)} conv1-{2 ** 3 ** 1} conv1-{-(a - 3) + 8}\n"
    out = format_text(text)
    assert "{(a + b) * 2}" in out and "{a - (b - 4)}" in out
    assert same_network(netspec.parse(text), netspec.parse(out))


@pytest.mark.parametrize("path", all_specs(), ids=lambda p: p.name)
def test_every_repo_spec_is_formatted_and_round_trips(path):
    text = path.read_text(encoding="utf-8")
    assert format_text(text, str(path)) == text, f"run: netspec fmt {path}"
    if re.search(r"^\s*input\b", text, re.M):
        net = netspec.load(path)
        flat = netspec.parse(format_network(net), filename=str(path))
        assert flat.spec_hash == net.spec_hash and flat.output_shape == net.output_shape


def test_fmt_cli_rewrites_atomically_and_check_passes_after(tmp_path):
    spec = tmp_path / "x.net"
    spec.write_text("network t\ninput 3x8x8\nconv3-8    relu\n")
    assert run_cli("fmt", "--check", str(spec)).returncode == 1
    assert run_cli("fmt", str(spec)).returncode == 0
    assert spec.read_text() == "network t\ninput 3x8x8\nconv3-8 relu\n"
    assert run_cli("fmt", "--check", str(spec)).returncode == 0
    assert [p.name for p in tmp_path.iterdir()] == ["x.net"]  # no temporary files left behind


def test_fmt_refuses_a_broken_spec_and_leaves_it_alone(tmp_path):
    spec = tmp_path / "x.net"
    original = "network t\ninput 3x8x8\nconv3-8   convv3-8\n"
    spec.write_text(original)
    result = run_cli("fmt", str(spec))
    assert result.returncode == 1 and "did you mean" in result.stderr
    assert spec.read_text() == original


def test_flat_form_keeps_an_explicit_shortcut():
    """Regression: a written shortcut whose layers were named conv and bn was printed as shortcut=project,
    which re-parses to a 1x1 projection instead of the 3x3 conv the spec wrote."""
    text = "network r\ninput 8x16x16\nresidual { conv3-16/2 | conv: conv3-16/2 bn: bn } gap fc-2\n"
    net = netspec.parse(text)
    assert net.body.children[0].shortcut_kind == "explicit"
    flat = netspec.parse(format_network(net))
    assert flat.spec_hash == net.spec_hash
    assert flat.body.children[0].shortcut.children[0].kernel == (3, 3)


@pytest.mark.parametrize("written, kind", [("residual { conv3-8 }", "identity"),
                                           ("residual { conv3-16/2 }", "project"),
                                           ("residual(shortcut=project) { conv3-8 }", "project"),
                                           ("residual(shortcut=pad) { conv3-16/2 }", "pad")])
def test_flat_form_keeps_each_shortcut_kind(written, kind):
    net = netspec.parse(f"network r\ninput 8x16x16\n{written} gap fc-2\n")
    assert net.body.children[0].shortcut_kind == kind
    assert netspec.parse(format_network(net)).spec_hash == net.spec_hash


# ---------------------------------------------------------------- generated specs

LEAVES = st.sampled_from(["conv3-8", "conv1-{c}", "conv3-{2 * c}(bias=false) bn", "relu", "conv5-4(pad=2)",
                          "maxpool3/1(pad=1)", "avgpool3/1(pad=1, count_include_pad=false)", "dropout(0.2)",
                          "silu", "conv1x3-6", "dwconv3", "lrn", "conv3-8(dilation=2)", "identity",
                          # expressions: kernels and strides computed, comparisons, conditionals, lists
                          "conv{c - 1}-8", "dwconv{1 + 2}/{1}", "conv{3}-{c if c > 2 else 3}/1(groups={1})",
                          "conv1-{[4, 8][c // 4 - 1]}", "conv1-{len([1, 2]) * c}(bias=not c == 4 or false)",
                          "unit(k={[8, 4][1]})", "conv1-{round(pow(c, 2), 8) if c != 0 and true else 1}",
                          "conv1-{sum([2, 4, 8][:c // 4]) + len(range(6)[c:])}",
                          # a call with its arguments over several lines (kept so: a stage table a row a line)
                          "unit(\n  k=4,\n  s=1\n)", "unit(k=8,\ns=1)"])


def bodies(depth: int):
    leaf_seq = st.lists(LEAVES, min_size=1, max_size=3).map(" ".join)
    if depth == 0:
        return leaf_seq
    inner = bodies(depth - 1)
    return st.one_of(
        leaf_seq,
        st.tuples(inner, st.integers(1, 3)).map(lambda t: f"[{t[0]}]x{t[1]}"),
        st.lists(inner, min_size=1, max_size=3).map(lambda bs: "concat { " + " | ".join(bs) + " }"),
        inner.map(lambda b: f"residual {{ {b} }}"),
        inner.map(lambda b: f"residual(shortcut=project) {{ {b} }}"),
        inner.map(lambda b: f"residual {{ {b} conv3-8/2 | conv3-8/2 bn }}"),  # an explicit shortcut
        inner.map(lambda b: f"{b} gate {{ gap fc-{{in}} sigmoid }}"),
        st.sampled_from(["unit", "unit(6)", "unit(k=4, s=2)", "[unit]x2"]),
        inner.map(lambda b: f"{{ {b} }}"),
        inner.map(lambda b: f"dense(2) {{ {b} }}"),
        inner.map(lambda b: f"if c > 2 {{ {b} }}"),
        st.tuples(inner, inner).map(lambda t: f"if {{c == 4 and not false}} {{ {t[0]} }} else {{ {t[1]} }}"),
        st.tuples(inner, inner).map(lambda t: f"if c < 0 {{ {t[0]} }} else if c >= 4 {{\n{t[1]}\n}} else {{ }}"),
        inner.map(lambda b: f"for i in range(2) {{ {b} }}"),
        st.just("for w in [4, 8] { conv1-{w} relu }"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]}\n# note\n{t[1]}"),
        st.tuples(st.sampled_from(["a", "stage", "x1"]), inner).map(lambda t: f"{t[0]}: {{ {t[1]} }}"),
    )


SPEC_TEXT = st.tuples(st.lists(bodies(2), min_size=1, max_size=4), st.sampled_from([" ", "\n", "\n\n", "  # c\n"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SPEC_TEXT)
def test_generated_specs_round_trip(spec):
    parts, sep = spec
    text = ("network g(c=4)\ninput 4x12x12\nblock unit(k=8, s=1) { conv3-{k}/{s} relu }\n"
            + sep.join(parts) + "\ngap fc-3\n")
    try:
        net = netspec.parse(text)
    except netspec.SpecError as err:
        # real, reported errors of a generated text: a generated name used twice in one scope, or a
        # residual body that subsamples more than its explicit shortcut (`residual { residual {
        # conv3-8/2 | conv3-8/2 bn } conv3-8/2 | conv3-8/2 bn }`: 3x3 against 6x6, cannot be added)
        assert err.diagnostics[0].code in ("duplicate-name", "shape-mismatch")
        return
    once = format_text(text)
    assert format_text(once) == once  # idempotent
    assert same_network(net, netspec.parse(once))
    flat = netspec.parse(format_network(net))
    assert flat.spec_hash == net.spec_hash


def test_if_and_for_keep_their_lines_and_comments():
    text = ("network t(d=[1, 2], se=true)\ninput 3x16x16\nblock b(c, s=1) {\n  if s == 1 and in == c {\n"
            "    # identity shortcut\n    residual { conv3-{c} bn relu }\n  } else if se {\n"
            "    conv3-{c}/{s} bn relu  # strided\n  } else {\n  }\n}\nfor i in range(len(d)) {\n"
            "  b(8 * (i + 1), s=2 if i > 0 else 1)\n}\nmaxpool(kernel=2, stride=2) gap fc-2\n")
    assert format_text(text) == text
    net = netspec.parse(text)
    assert netspec.parse(format_network(net)).spec_hash == net.spec_hash
    assert net.params == {"d": [1, 2], "se": True}
