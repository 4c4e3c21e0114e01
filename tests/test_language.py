"""The expression language and the elements that make a family one spec: comparisons, `and or not`,
`a if c else b`, log/pow/round-to-a-multiple, lists and indexing, kernels as expressions,
`if` and `for` elements. Figures are computed by hand or come from the zoo's hand-written specs."""

from __future__ import annotations

import math

import pytest

import netspec
from netspec.analysis import analyze
from conftest import SPECS, run_cli

ZOO = SPECS.parent.parent / "specs"


def channels(expr: str, params: str = "") -> int:
    """The channels of `conv1-{expr}` in a network with the given parameters."""
    net = netspec.parse(f"network t({params})\ninput 3x8x8\nconv1-{{{expr}}}\n" if params
                        else f"network t\ninput 3x8x8\nconv1-{{{expr}}}\n")
    return net.body.children[0].out_channels


@pytest.mark.parametrize("expr, value", [
    ("8 if 2 > 1 else 4", 8), ("8 if 2 < 1 else 4", 4), ("8 if 1 == 1 and 2 != 2 else 4", 4),
    ("8 if 1 == 1 or 2 != 2 else 4", 8), ("8 if not 1 >= 2 else 4", 8), ("8 if 3 <= 3 else 4", 8),
    ("1 + 2 if false else 5 * 2", 10),  # `if` binds loosest: (1 + 2) if false else (5 * 2)
    ("8 if true else 2 if true else 4", 8),
    ("pow(2, 5)", 32), ("log(64, 2)", 6), ("round(log(math_e))", 1),
    ("round(37, 8)", 40), ("round(36, 8)", 32),  # 36/8 = 4.5: halves go to the even neighbour, as torch.round
    ("round(2.5)", 2), ("len([3, 4, 6, 3])", 4), ("sum([3, 4, 6, 3])", 16), ("max([3, 9, 2])", 9),
    ("[8, 16, 32][1]", 16), ("[8, 16, 32][-1]", 32), ("len(range(5))", 5), ("range(2, 10, 3)[2]", 8),
    # slices, with Python's bounds: sum(ds[:i]) is the index of stage i's first block (0 for i = 0)
    ("sum([2, 4, 4][:2])", 6), ("sum([2, 4, 4][:0]) + 1", 1), ("[2, 4, 8][1:][0]", 4), ("len([2, 4, 8][-2:])", 2),
    ("sum([2, 4, 8][1:2])", 4), ("len([2, 4, 8][5:]) + 1", 1), ("sum([2, 4, 8][:])", 14), ("sum(range(10)[2:4])", 5),
])
def test_expression_values(expr, value):
    assert channels(expr, "math_e=2.718281828459045") == value


def test_a_false_branch_is_never_evaluated():
    # `d[i - 1]` with i = 0 would read d[-1]: harmless; `1 // 0` would be an error, but it is never reached
    assert channels("4 if true else 1 // 0") == 4
    assert channels("4 if i == 0 or d[i - 1] // 0 > 1 else 2", "i=0, d=[1]") == 4


@pytest.mark.parametrize("expr, message", [
    ("[1, 2][2]", "index 2 is out of range: the list has 2 items"),
    ("1 if 3 else 2", "expected true or false, got 3"),
    ("3 < true", "expected a number, got true"),
    ("len(3)", "`len` takes one list"),
    ("3[0]", "only a list can be indexed"),
    ("3[1:]", "only a list can be sliced"),
    ("len([1, 2][0.5:])", "a slice bound is a whole number, got 0.5"),
    ("pow(10, 400)", "far too large"),
    ("log(0)", "`log` cannot take these arguments"),
])
def test_expression_errors_are_located(expr, message):
    with pytest.raises(netspec.SpecError) as err:
        channels(expr)
    d = err.value.diagnostics[0]
    assert message in d.message and d.span.line == 3


def test_equality_of_words_and_numbers():
    assert channels("8 if act == relu else 4", "act=relu") == 8
    assert channels("8 if act == relu else 4", "act=silu") == 4
    assert channels("8 if 1 == true else 4") == 4  # a number never equals a truth value


def test_kernel_and_stride_as_expressions():
    net = netspec.parse("network t(k=5, s=2, w=8, g=2)\ninput 8x16x16\n"
                        "dwconv{k}/{s} conv{k - 2}-{w}/{s}(groups={w // g}) conv-8(kernel=3) maxpool{s}/{s}\n")
    dw, conv, by_keyword, pool = net.body.children
    assert (dw.kernel, dw.stride, dw.groups) == ((5, 5), (2, 2), 8)
    assert (conv.kernel, conv.stride, conv.groups, conv.out_channels) == ((3, 3), (2, 2), 4, 8)
    assert by_keyword.kernel == (3, 3)
    assert pool.kernel == (2, 2) and pool.out_shape == (8, 2, 2)
    with pytest.raises(netspec.SpecError, match="takes no kernel size"):
        netspec.parse("network t\ninput 8x16x16\nrelu{3}\n")
    with pytest.raises(netspec.SpecError, match="kernel size is given twice"):
        netspec.parse("network t\ninput 8x16x16\nconv{3}-8(kernel=3)\n")


def test_list_parameters_from_the_spec_and_from_set():
    text = ("network t(depths=[1, 2], widths=[8, 16])\ninput 3x16x16\n"
            "for i in range(len(depths)) { for j in range(depths[i]) { conv3-{widths[i]} relu } }\ngap fc-2\n")
    net = netspec.parse(text)
    convs = [n for n in netspec.ir.walk(net.body) if n.kind == "conv"]
    assert [c.out_channels for c in convs] == [8, 16, 16]
    assert net.params["depths"] == [1, 2]
    net = netspec.parse(text, params={"depths": [2, 1]})
    assert [c.out_channels for c in netspec.ir.walk(net.body) if c.kind == "conv"] == [8, 8, 16]


def test_set_takes_a_list_on_the_command_line(tmp_path):
    spec = tmp_path / "t.net"
    spec.write_text("network t(widths=[8, 16])\ninput 3x16x16\nfor w in widths { conv3-{w} relu }\ngap fc-2\n")
    shown = run_cli("summary", str(spec), "--set", "widths=[4,6,10]")
    assert shown.returncode == 0, shown.stderr
    assert "conv3-4" in shown.stdout and "conv3-6" in shown.stdout and "conv3-10" in shown.stdout


def test_block_takes_a_list_argument():
    net = netspec.parse("network t\ninput 3x16x16\nblock stage(ws) { for w in ws { conv3-{w} } }\n"
                        "stage([4, 6]) stage(ws={[in, in + 2]}) gap fc-2\n")
    first, second = net.body.children[:2]
    assert first.block_args == {"ws": [4, 6]}
    assert [c.out_channels for c in second.children] == [3, 5]  # `in` at the call: the network's input


def test_if_element_takes_one_branch_in_place():
    block = ("block mb(c, s=1, se=false) {\n  conv1-{in * 4} relu dwconv3/{s} relu\n"
             "  if se { gate { gap fc-{in // 4} relu fc-{in} sigmoid } }\n  conv1-{c} bn\n"
             "  if s == 1 and in == c { identity } else if s == 2 { maxpool1/1 } else { }\n}\n")
    net = netspec.parse("network t\ninput 8x16x16\n" + block + "mb(8) mb(16, s=2, se=true) mb(24) gap fc-2\n")
    first, second, third = net.body.children[:3]
    assert [n.kind for n in first.children][-1] == "activation"  # identity: stride 1 and 8 == 8
    assert "gate" in [n.kind for n in second.children] and second.children[-1].kind == "pool"
    assert "gate" not in [n.kind for n in first.children]
    assert third.children[-1].kind == "batchnorm"  # 16 -> 24, stride 1: the empty else
    # `in` inside the if is the block's input (8), not what enters the if (32 channels after conv1)
    gate = next(n for n in second.children if n.kind == "gate")
    assert gate.in_shape[0] == 32  # the gate sits after the 4x expansion


def test_if_needs_a_truth_value():
    with pytest.raises(netspec.SpecError, match="expected true or false, got 2"):
        netspec.parse("network t\ninput 3x8x8\nif 2 { relu }\nconv1-2\n")


def test_for_needs_a_list():
    with pytest.raises(netspec.SpecError, match=r"write range\(3\)"):
        netspec.parse("network t\ninput 3x8x8\nfor i in 3 { relu }\nconv1-2\n")


def test_regnet_family_from_its_four_parameters_matches_the_zoo():
    """RegNet's quantised linear rule written once: the stage table comes out of w_0, w_a, w_m and the depth,
    and the network equals the zoo's hand-tabled regnet_x_400mf (5,495,976 parameters)."""
    # torchvision then makes each width divisible by the group width (152 -> 160)
    width = "divisible(round(w0 * pow(wm, round(log((w0 + wa * {j}) / w0, wm))), 8), g)"
    text = ("network regnet(depth=22, w0=24, wa=24.48, wm=2.54, g=16)\ninput 3x224x224\n"
            'import "lib/regnet.net"\nconv3-32/2(pad=1) bn relu\n'
            "for j in range(depth) {\n"
            f"  x_block({width.format(j='j')}, g, 2 if j == 0 or {width.format(j='j')} != "
            f"{width.format(j='(j - 1)')} else 1)\n"
            "}\ngap fc-1000\n")
    net = netspec.parse(text, filename=str(ZOO / "regnet_family.net"))
    zoo = netspec.load(ZOO / "regnet_x_400mf.net")
    ours, theirs = analyze(net), analyze(zoo)
    assert ours.total.params == theirs.total.params == 5495976
    assert ours.total.macs == theirs.total.macs
    widths = [b.block_args["w"] for b in net.body.children if getattr(b, "block", None) == "x_block"]
    stages = [(w, widths.count(w)) for w in dict.fromkeys(widths)]
    assert stages == [(32, 1), (64, 2), (160, 7), (400, 12)]  # the paper's RegNetX-400MF table
    assert math.isclose(24 + 24.48 * 21, 538.08)  # the last block's u_j, for the record of the rule


def test_new_constructs_format_back():
    from netspec.formatter import format_text

    text = ("network t(d=[1, 2], k=3)\ninput 3x8x8\n"
            "if {k == 3 and not d[0] > 1} { conv{k}-8 } else if k < 3 { conv1-8 } else { }\n"
            "for i in range(len(d)) {\n  conv3-{d[i] * 4 if i > 0 else 4}(groups={1}) relu\n}\n"
            "gap fc-{(2 if true else 3) + 1}\n")
    once = format_text(text)
    assert "if k == 3 and not d[0] > 1 { conv{k}-8 } else if k < 3 { conv1-8 } else { }" in once
    assert "conv3-{d[i] * 4 if i > 0 else 4}(groups=1) relu" in once
    assert "fc-{(2 if true else 3) + 1}" in once
    assert format_text(once) == once
    assert netspec.parse(once).spec_hash == netspec.parse(text).spec_hash


def test_repeats_are_recorded_only_for_alike_copies():
    alike = netspec.parse("network t\ninput 4x8x8\n[conv3-8 relu]x3 gap fc-2\n")
    assert [(r.start, r.stop, r.count) for r in alike.body.repeats] == [(0, 6, 3)]
    # `in` is 4 in the first copy and 8 in the second: the `if` takes two ways, the copies differ
    differ = netspec.parse("network t\ninput 4x8x8\n[if in == 4 { conv3-8 } else { conv3-8 relu }]x2 gap fc-2\n")
    assert [n.kind for n in differ.body.children[:3]] == ["conv", "conv", "activation"]
    assert differ.body.repeats == ()
    # a for loop's iterations are not claimed as a repeat either
    looped = netspec.parse("network t\ninput 4x8x8\nfor i in range(3) { conv3-8 relu } gap fc-2\n")
    assert looped.body.repeats == () and len(looped.body.children) == 9  # 3 x 2, gap, flatten, fc


def test_a_brace_glued_to_a_layer_without_a_kernel_says_to_add_a_space():
    with pytest.raises(netspec.SpecError) as err:
        netspec.parse("network t\ninput 3x8x8\nblock b { relu }\nb{3} relu{conv3-8}\ngap fc-2\n")
    assert [d.message for d in err.value.diagnostics] == ["`b` takes no kernel size", "`relu` takes no kernel size"]
    assert "relu { ... }" in err.value.diagnostics[1].help
