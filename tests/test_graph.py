"""`netspec graph`: the DOT text checked structurally (boxes, edges, labels), then laid out by Graphviz.

The DOT is read back with a small parser of the statements the writer emits (one per line), so the
checks are on the text a user gets; where `dot` is installed, Graphviz's own parser must agree on
the counts. Expected counts are worked out by hand from each spec in a comment beside it.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

import netspec
from netspec.analysis import analyze
from netspec.render.graph import diagram, quote, to_dot

from conftest import SPECS, run_cli

HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="needs Graphviz's dot (Debian: apt-get install graphviz)")

NODE = re.compile(r"^\s*(n\d+) \[(.*)\];$")
EDGE = re.compile(r"^\s*(n\d+) -> (n\d+)(?: \[(.*)\])?;$")
ATTR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def parse_dot(text: str) -> tuple[dict[str, dict], list[tuple[str, str, dict]]]:
    """{node id: attributes} in the order the boxes were made, and [(from, to, attributes)], from DOT text."""
    nodes, edges = {}, []
    for line in text.splitlines():
        if m := NODE.match(line):
            nodes[m.group(1)] = {k: unquote(v) for k, v in ATTR.findall(m.group(2))}
        elif m := EDGE.match(line):
            edges.append((m.group(1), m.group(2), {k: unquote(v) for k, v in ATTR.findall(m.group(3) or "")}))
    return dict(sorted(nodes.items(), key=lambda kv: int(kv[0][1:]))), edges


def dot_of(body: str, input: str, depth: int | None = None, show=()) -> str:
    network = netspec.parse(f"network t\ninput {input}\n{body}\n", filename="<test>")
    return to_dot(diagram(network, analyze(network), depth, show))


def first_lines(nodes: dict) -> list[str]:
    return [a["label"].split("\n")[0] for a in nodes.values()]


def by_label(nodes: dict, label: str) -> list[str]:
    return [k for k, a in nodes.items() if a["label"].split("\n")[0] == label]


def check_with_graphviz(text: str, nodes: dict, edges: list) -> None:
    """Graphviz parses the text and counts the same boxes and edges."""
    if not HAVE_DOT:
        return
    done = subprocess.run(["dot", "-Tjson"], input=text, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    laid = json.loads(done.stdout)
    boxes = [o for o in laid.get("objects", []) if "nodes" not in o and "subgraphs" not in o]
    assert len(boxes) == len(nodes)
    assert len(laid.get("edges", [])) == len(edges)


def test_residual_with_projection():
    # the body changes 64x8x8 into 128x4x4, so the shortcut is a 1x1/2 conv of 128 and a bn (option B):
    # boxes input, conv bn relu conv bn, +, relu, output = 9; edges: the chain of 8 plus the skip = 9
    text = dot_of("residual { conv3-128/2 bn relu conv3-128 bn } relu", "64x8x8")
    nodes, edges = parse_dot(text)
    assert first_lines(nodes) == ["input", "conv3-128/2", "bn", "relu", "conv3-128", "bn", "+", "relu", "output"]
    assert len(edges) == 9
    (add,) = by_label(nodes, "+")
    (start,) = by_label(nodes, "input")
    skips = [e for e in edges if e[0] == start and e[1] == add]
    assert len(skips) == 1 and skips[0][2]["label"] == "projection: conv1-128/2 bn"
    assert skips[0][2]["style"] == "dashed"
    assert nodes[add]["xlabel"] == "128x4x4"
    check_with_graphviz(text, nodes, edges)


def test_identity_shortcut_is_a_plain_skip():
    nodes, edges = parse_dot(dot_of("residual { conv3-8 relu conv3-8 }", "8x8x8"))
    (add,) = by_label(nodes, "+")
    assert [e[2].get("label") for e in edges if e[1] == add] == [None, "identity"]


def test_zero_pad_shortcut_says_so():
    # ResNet's option A: a stride-2 body from 16 to 32 maps, the shortcut subsamples and pads 16 zero maps
    nodes, edges = parse_dot(dot_of("residual(shortcut=pad) { conv3-32/2 bn relu conv3-32 bn }", "16x8x8"))
    (add,) = by_label(nodes, "+")
    (skip,) = [a for _, dst, a in edges if dst == add and a.get("style") == "dashed"]
    assert skip["label"].startswith("zero-pad: ") and "channel_pad(+16)" in skip["label"]


def test_inception_module_four_branches_into_one_concat():
    # Table 1's 3a on 192x28x28: 1x1 64 | 1x1 96, 3x3 128 | 1x1 16, 5x5 32 | pool, 1x1 32
    # boxes: input + 1 + 2 + 2 + 2 layers + concat + output = 10
    # edges: input into 4 branch heads, 3 inside branches, 4 branch ends into concat, concat -> output = 12
    text = dot_of("concat { conv1-64 | conv1-96 conv3-128 | conv1-16 conv5-32 | maxpool3/1(pad=1) conv1-32 }",
                  "192x28x28")
    nodes, edges = parse_dot(text)
    assert len(nodes) == 10 and len(edges) == 12
    (start,) = by_label(nodes, "input")
    (join,) = by_label(nodes, "concat")
    heads = sorted(nodes[dst]["label"].split("\n")[0] for src, dst, _ in edges if src == start)
    assert heads == ["conv1-16", "conv1-64", "conv1-96", "maxpool3"]
    into = sorted(nodes[src]["label"].split("\n")[0] for src, dst, _ in edges if dst == join)
    assert into == ["conv1-32", "conv1-64", "conv3-128", "conv5-32"]
    assert nodes[join]["label"] == "concat\n256x28x28"  # 64 + 128 + 32 + 32 channels
    check_with_graphviz(text, nodes, edges)


def test_dense_block_connectivity_and_collapse():
    # 3 layers of growth 4 on 8 maps: layer i reads the input and the i-1 earlier outputs (1 + 2 + 3
    # edges), the block output concatenates all four (4 edges), then output (1): 11 edges, 6 boxes
    text = dot_of("dense(3) { conv3-4 }", "8x8x8")
    nodes, edges = parse_dot(text)
    assert first_lines(nodes) == ["input", "conv3-4", "conv3-4", "conv3-4", "concat", "output"]
    assert len(edges) == 11
    ids = list(nodes)
    fan_in = [sum(1 for _, dst, _ in edges if dst == k) for k in ids]
    assert fan_in == [0, 1, 2, 3, 4, 1]
    assert nodes[ids[4]]["label"] == "concat\n20x8x8"  # 8 + 3 * 4 maps
    check_with_graphviz(text, nodes, edges)
    # at depth 1 the block is one box with its subtotals: 3 convs of 3x3, in 8, 12, 16 maps, out 4, with bias
    nodes, edges = parse_dot(dot_of("dense(3) { conv3-4 }", "8x8x8", depth=1, show=("params",)))
    assert first_lines(nodes) == ["input", "dense(3)", "output"] and len(edges) == 2
    params = 4 * 9 * (8 + 12 + 16) + 3 * 4
    assert nodes["n1"]["label"] == f"dense(3)\n20x8x8\n{params:,} params"


def test_long_dense_block_as_a_running_concat():
    # 8 layers of growth 4 on 8 maps: each layer reads the running concat (the input first), whose
    # next version joins it with the layer's output: 8 + 16 edges, then output; 8, 12, ..., 40 maps
    nodes, edges = parse_dot(dot_of("dense(8) { conv3-4 }", "8x8x8"))
    assert first_lines(nodes) == ["input"] + ["conv3-4", "concat"] * 8 + ["output"]
    assert len(edges) == 8 + 16 + 1
    joins = [a["label"].split("\n")[1] for a in nodes.values() if a["label"].startswith("concat")]
    assert joins == [f"{8 + 4 * i}x8x8" for i in range(1, 9)]
    ids = list(nodes)
    for i in range(8):  # conv i reads the concat before it; the concat after it joins both
        conv, join, before = ids[1 + 2 * i], ids[2 + 2 * i], ids[2 * i]
        assert [s for s, d, _ in edges if d == conv] == [before]
        assert sorted(s for s, d, _ in edges if d == join) == sorted([before, conv])


def test_gate_is_a_side_path_multiplying_back_in():
    # squeeze-excitation on 16 maps: gap, flatten (inserted before fc), fc-4 relu fc-16 sigmoid
    text = dot_of("conv3-16 gate { gap fc-4 relu fc-16 sigmoid }", "3x8x8")
    nodes, edges = parse_dot(text)
    assert first_lines(nodes) == ["input", "conv3-16", "gap", "flatten", "fc-4", "relu", "fc-16", "sigmoid",
                                  "x", "output"]
    (conv,), (sig,), (mul,) = by_label(nodes, "conv3-16"), by_label(nodes, "sigmoid"), by_label(nodes, "x")
    into = {src: attrs for src, dst, attrs in edges if dst == mul}
    assert set(into) == {conv, sig}
    assert into[sig]["label"] == "scale" and into[sig]["style"] == "dashed"
    assert sum(1 for src, _, _ in edges if src == conv) == 2  # into the gate's body and straight to x
    check_with_graphviz(text, nodes, edges)


def test_unet_skips_are_long_edges():
    network = netspec.load(SPECS / "constructs" / "unet.net", input="1x64x64")
    text = to_dot(diagram(network, analyze(network)))
    nodes, edges = parse_dot(text)
    long = [(src, dst, a["label"]) for src, dst, a in edges if a.get("label", "").startswith("@")]
    assert len(long) == 2
    for src, dst, label in long:
        # from the relu that closes enc1 (8x64x64) or enc2 (16x32x32) into the concat that names it
        expected = {"@e1": ("relu\n8x64x64", "concat(@e1)\n24x64x64"), "@e2": ("relu\n16x32x32", "concat(@e2)\n48x32x32")}
        assert (nodes[src]["label"], nodes[dst]["label"]) == expected[label]
    assert not any(a["label"].startswith("@") for a in nodes.values())  # a save is an edge, not a box
    check_with_graphviz(text, nodes, edges)


def test_side_outputs_are_side_exits():
    # GoogLeNet at depth 1: aux1 leaves after 4a, aux2 after 4d; the main path goes on to 4b and 4e
    network = netspec.load("googlenet")
    nodes, edges = parse_dot(to_dot(diagram(network, analyze(network), 1)))
    for aux, before, after in (("aux1", "inception4a", "inception4b"), ("aux2", "inception4d", "inception4e")):
        (exit_box,) = by_label(nodes, aux)
        assert nodes[exit_box]["shape"] == "cds"
        (src,) = [s for s, d, _ in edges if d == exit_box]
        (block,) = [s for s, d, _ in edges if d == src]
        assert nodes[block]["label"].startswith(f"{before}: inception(")
        outs = [nodes[d]["label"].split("(")[0] for s, d, _ in edges if s == block]
        assert sorted(outs) == sorted([f"{after}: inception", nodes[src]["label"].split("(")[0]])


def test_repeated_blocks_collapse_into_one_box_with_subtotals():
    # ResNet-50's stages have 3, 4, 6, 3 bottlenecks, written `bottleneck(c, stride, width)` then
    # `[bottleneck(c, 1, width)]x{n - 1}`: the first of each is drawn alone, the repeat as one box.
    # A layer1 bottleneck on 256 maps holds 256*64 + 64*64*9 + 64*256 weights and 2*(64 + 64 + 256)
    # batch-norm parameters = 70,400; the first reads 64 maps (64*64 instead of 256*64) and adds the
    # projection, 64*256 + 2*256: 70,400 - 16,384 + 4,096 + 16,896 = 75,008
    network = netspec.load("resnet50")
    nodes, _ = parse_dot(to_dot(diagram(network, analyze(network), 2, ("params",))))
    labels = [a["label"].replace("\n", " ") for a in nodes.values()]  # long calls wrap after a comma
    blocks = [l for l in labels if "bottleneck" in l]
    assert blocks[:2] == ["bottleneck(64, stride=1, width=64, groups=1) 256x56x56 75,008 params",
                          f"[bottleneck(64, stride=1, width=64, groups=1)] x2 256x56x56 {2 * 70_400:,} params"]
    assert [re.sub(r" \d+x.*", "", l) for l in blocks[2:]] == [
        "bottleneck(128, stride=2, width=64, groups=1)", "[bottleneck(128, stride=1, width=64, groups=1)] x3",
        "bottleneck(256, stride=2, width=64, groups=1)", "[bottleneck(256, stride=1, width=64, groups=1)] x5",
        "bottleneck(512, stride=2, width=64, groups=1)", "[bottleneck(512, stride=1, width=64, groups=1)] x2"]


def test_labels_are_escaped():
    assert quote('a "b" \\l\nc') == '"a \\"b\\" \\\\l\\nc"'


# ---------------------------------------------------------------- the command


@needs_dot
@pytest.mark.parametrize("suffix, magic", [("svg", b"<?xml"), ("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_cli_pictures(suffix, magic, tmp_path):
    out = tmp_path / f"r.{suffix}"
    done = run_cli("graph", "resnet18", "-o", str(out), "--depth", "2", "--show", "params,macs,rf")
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(magic)


@needs_dot
def test_cli_svg_names_every_stage(tmp_path):
    out = tmp_path / "r.svg"
    assert run_cli("graph", "resnet18", "-o", str(out), "--depth", "1").returncode == 0
    svg = html.unescape(out.read_text())  # Graphviz writes '-' as &#45;
    for stage in ("layer1: basic_stage", "layer4: basic_stage", "fc: fc-1000", "512x7x7"):
        assert stage in svg


def test_cli_dot_without_graphviz(tmp_path):
    # no dot on PATH: the .dot is still written and the message says how to get Graphviz
    out = tmp_path / "r.png"
    env = {**os.environ, "PATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "netspec", "graph", "lenet5", "-o", str(out)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 3
    assert not out.exists()
    assert (tmp_path / "r.dot").read_text().startswith('digraph "lenet5"')
    assert "apt-get install graphviz" in done.stderr and f"dot -Tpng {tmp_path / 'r.dot'}" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_dot_text(tmp_path):
    out = tmp_path / "g.dot"
    assert run_cli("graph", "lenet5", "-o", str(out), "--set", "num_classes=7").returncode == 0
    nodes, edges = parse_dot(out.read_text())
    assert first_lines(nodes)[-2:] == ["output: fc-7", "output"] and len(edges) == len(nodes) - 1  # a chain


@pytest.mark.parametrize("args", [("-o", "x.jpg"), ("-o", "x.svg", "--show", "flops"), ("-o", "x.svg", "--depth", "0")])
def test_cli_usage_errors(args, tmp_path):
    done = run_cli("graph", "lenet5", *args, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_cli_spec_error(tmp_path):
    bad = tmp_path / "bad.net"
    bad.write_text("network bad\ninput 3x32x32\nconvv3-64\n")
    done = run_cli("graph", str(bad), "-o", str(tmp_path / "bad.svg"))
    assert done.returncode == 1 and "bad.net:3:1" in done.stderr and "Traceback" not in done.stderr


def test_readme_picture_comes_from_the_command_beside_it(tmp_path):
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = re.search(r"^netspec graph (.+) -o (docs/\S+\.png)$", readme, re.M)
    assert command and f"]({command.group(2)})" in readme
    assert (ROOT / command.group(2)).read_bytes().startswith(b"\x89PNG")
    out = tmp_path / "readme.dot"
    assert run_cli("graph", *command.group(1).split(), "-o", str(out)).returncode == 0
    labels = [a["label"].replace("\n", " ") for a in parse_dot(out.read_text())[0].values()]
    # ResNet-34's stages: 3, 4, 6, 3 basic blocks; a basic block on 64 maps holds 2 * (64*64*9 + 2*64)
    # parameters and 2 * 56*56*64 * 64*9 MACs: two of them, 2 * 2 * 115,605,504 = 462.42 M
    assert f"[basic(64, stride=1)] x2 64x56x56 {2 * 2 * (64 * 64 * 9 + 2 * 64):,} params, 462.42 M MACs" in labels


ZOO = sorted(p.stem for p in (SPECS.parent.parent / "specs").glob("*.net"))


@pytest.mark.parametrize("name", ZOO)
def test_every_zoo_spec_draws_every_layer_once(name):
    # fully expanded, each layer of the IR is one box (a save is an edge label) carrying its path,
    # and the picture is connected: everything but the input has an edge in, everything but the
    # output and the side exits an edge out
    from netspec.ir import LAYER_KINDS, walk

    network = netspec.load(name)
    drawn = diagram(network, analyze(network))
    layers = [n.path for n in walk(network.body) if n.kind in LAYER_KINDS and n.kind != "save"
              and ".shortcut." not in n.path]  # a residual's shortcut is the label of its skip edge
    assert sorted(b.path for b in drawn.boxes if b.role not in ("io", "join", "exit")) == sorted(layers)
    has_in, has_out = {e.dst for e in drawn.edges}, {e.src for e in drawn.edges}
    for b in drawn.boxes:
        assert b.id in has_in or b.lines[0] == "input", b
        assert b.id in has_out or b.lines[0] == "output" or b.role == "exit", b
    assert sum(b.role == "exit" for b in drawn.boxes) == len(network.side_outputs)


@needs_dot
@pytest.mark.parametrize("name", ZOO)
def test_every_zoo_spec_lays_out(name):
    network = netspec.load(name)
    text = to_dot(diagram(network, analyze(network), 2, ("params", "macs", "rf")))
    check_with_graphviz(text, *parse_dot(text))
