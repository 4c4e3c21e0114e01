"""Every construct of the language, elaborated into the IR and checked against hand computation."""

from __future__ import annotations

import pytest

import netspec
from netspec import ir
from conftest import SPECS

CONSTRUCTS = SPECS / "constructs"


def nodes(net: ir.Network) -> dict[str, ir.NodeBase]:
    return {n.path: n for n in ir.walk(net.body)}


def test_every_layer_type():
    net = netspec.load(CONSTRUCTS / "layers.net")
    by_path = nodes(net)
    conv = [n for n in ir.layers(net.body) if isinstance(n, ir.Conv)]
    # conv3-16 'same': 32 -> 32, bias on (no batch norm follows)
    assert conv[0].out_shape == (16, 32, 32) and conv[0].padding == (1, 1, 1, 1) and conv[0].bias
    # conv5-16/2 valid: floor((32 - 5) / 2) + 1 = 14
    assert conv[1].stride == (2, 2) and conv[1].out_shape == (16, 14, 14)
    # conv1x7 pad 0x3 keeps 14x14
    assert conv[2].kernel == (1, 7) and conv[2].padding == (0, 0, 3, 3) and conv[2].out_shape == (24, 14, 14)
    # dilation 2 'same': padding d*(k-1)/2 = 2; groups 4; bias off as written
    assert conv[3].dilation == (2, 2) and conv[3].padding == (2, 2, 2, 2) and conv[3].groups == 4
    assert not conv[3].bias
    # depthwise stride 2: groups = in = out = 24, 'same' -> ceil(14 / 2) = 7
    assert conv[4].groups == 24 and conv[4].out_channels == 24 and conv[4].out_shape == (24, 7, 7)
    # an even kernel 'same' pads one more after than before; bias off: a batch norm follows
    assert conv[5].padding == (0, 1, 0, 1) and conv[5].out_shape == (8, 7, 7) and not conv[5].bias
    bn = next(n for n in ir.layers(net.body) if isinstance(n, ir.BatchNorm))
    assert (bn.num_features, bn.eps, bn.momentum) == (8, 0.001, 0.01)
    lrn = next(n for n in ir.layers(net.body) if isinstance(n, ir.LRN))
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 1e-4, 0.75, 2.0)
    fns = [n.fn for n in ir.layers(net.body) if isinstance(n, ir.Activation)]
    assert fns == ["relu", "relu6", "leaky_relu", "prelu", "elu", "selu", "sigmoid", "tanh", "hardswish",
                   "hardsigmoid", "silu", "gelu", "identity", "softmax"]
    pools = [n for n in ir.layers(net.body) if isinstance(n, (ir.Pool, ir.AdaptivePool))]
    # maxpool3/2 pad 1 ceil: ceil((7 + 2 - 3) / 2) + 1 = 4
    assert pools[0].ceil_mode and pools[0].out_shape == (8, 4, 4)
    assert pools[1].mode == "avg" and not pools[1].count_include_pad and pools[1].out_shape == (8, 2, 2)
    assert by_path["upsample1"].out_shape == (8, 4, 4)
    assert pools[2].output_size == (3, 3) and pools[2].out_shape == (8, 3, 3)
    assert pools[3].mode == "max" and pools[3].out_shape == (8, 2, 2)
    assert pools[4].output_size == (1, 1)
    assert by_path["flatten1"].out_shape == (8,)
    assert by_path["dropout1"].p == 0.3
    fc1, fc2 = [n for n in ir.layers(net.body) if isinstance(n, ir.Linear)]
    assert (fc1.in_features, fc1.out_features, fc1.bias) == (8, 32, True)
    assert (fc2.in_features, fc2.out_features, fc2.bias) == (32, 10, False)
    assert net.output_shape == (10,)


def test_composition():
    net = netspec.load(CONSTRUCTS / "composition.net")
    n = nodes(net)
    assert n["stem"].label == "stem" and n["stem"].out_shape == (32, 32, 32)
    # [conv3-32 relu]x2 unrolls in place, names continue
    assert n["conv2"].kind == "conv" and n["relu2"].kind == "activation"
    # residual: identity, then projection (option B), then pad (option A), then explicit
    assert n["stage1.residual1"].shortcut is None
    proj = n["stage1.residual2"].shortcut
    assert [c.kind for c in proj.children] == ["conv", "batchnorm"]
    assert proj.children[0].stride == (2, 2) and proj.children[0].kernel == (1, 1) and not proj.children[0].bias
    pad = n["stage1.residual3"].shortcut
    assert [c.kind for c in pad.children] == ["pool", "channel_pad"]
    assert (pad.children[1].before, pad.children[1].after) == (32, 32)
    assert n["stage1.residual4.shortcut.conv1"].kind == "conv"
    # concat: 16 + 16 + 8 channels, branches named
    assert n["mixed"].out_shape == (40, 8, 8) and len(n["mixed"].branches) == 3
    assert n["mixed.branch3.maxpool1"].stride == (1, 1)
    # dense(3): each layer sees all earlier outputs; 40 + 3 * 8 = 64
    assert [l.in_shape[0] for l in n["dense1"].layers] == [40, 48, 56] and n["dense1"].out_shape == (64, 8, 8)
    # dense with layers written out: 64 + 4 + 6
    assert n["dense2"].out_shape == (74, 8, 8)
    # gate: squeeze to in // 4 = 18 and back to 74, output shape unchanged
    assert n["gate1.body.fc1"].out_features == 18 and n["gate1"].out_shape == (74, 8, 8)
    # side output: the main path passes through
    assert net.side_outputs == ("aux",) and n["aux"].out_shape == (74, 8, 8) and n["aux.body"].out_shape == (10,)
    # named tensors: concat with @mid (128) and add with @pre
    assert n["concat1"].out_shape == (168, 8, 8) and n["concat1"].refs == ("mid",)
    assert n["group1.add1"].mode == "add" and n["group1.add1"].ref_shapes == ((168, 8, 8),)


def test_unet_symbolic_input_constraints():
    net = netspec.load(CONSTRUCTS / "unet.net")
    assert net.input_shape == (1, "H", "W")
    assert "H must be a multiple of 4" in net.constraints and "W must be a multiple of 4" in net.constraints
    n = nodes(net)
    assert n["enc2"].out_shape == (16, "H/2", "W/2")
    concrete = netspec.load(CONSTRUCTS / "unet.net", input="1x64x64")
    assert concrete.output_shape == (2, 64, 64) and concrete.constraints == ()
    wider = netspec.load(CONSTRUCTS / "unet.net", params={"base": 4})
    assert nodes(wider)["bottom.conv1"].out_channels == 16


def test_symbolic_resnet_stride_constraint():
    net = netspec.parse("network fcn\ninput 3xHxW\nconv7-64/2 maxpool3/2(pad=1) [conv3-64/2]x3 conv1-21")
    assert "H must be a multiple of 32" in net.constraints
    assert net.output_shape == (21, "H/32", "W/32")


def test_blocks_params_imports_and_scaling():
    net = netspec.load(CONSTRUCTS / "abstraction.net")
    n = nodes(net)
    assert net.meta["paper"].startswith("He et al.")
    assert net.params == {"num_classes": 10, "width": 1.0, "depth": 1.0}
    assert n["stage1.basic1"].block == "basic"  # imported from lib/blocks.net
    # the block's own default (after=[bn relu]) applies inside it; its second conv opts for [bn] only
    body = n["stage1.basic1.residual1.body"]
    assert [c.kind for c in body.children] == ["conv", "batchnorm", "activation", "conv", "batchnorm"]
    assert n["stage2.basic1.residual1.shortcut.conv"].stride == (2, 2)
    assert len(n["stage1"].children) == 2 and len(n["stage2"].children) == 2
    scaled = netspec.load(CONSTRUCTS / "abstraction.net", params={"width": 0.5, "depth": 2.0, "num_classes": 7})
    m = nodes(scaled)
    assert m["stem1.conv1"].out_channels == 8  # divisible(8) = 8
    assert len(m["stage1"].children) == 4 and len(m["stage2"].children) == 4
    assert scaled.output_shape == (7,)
    # width 0.3: 16 * 0.3 = 4.8 rounds up to 8, never below the divisor
    assert nodes(netspec.load(CONSTRUCTS / "abstraction.net", params={"width": 0.3}))["stem1.conv1"].out_channels == 8


def test_expressions_and_in_channels():
    net = netspec.parse("network t(k=12)\ninput 24x8x8\nconv1-{4*k} conv3-{k} conv1-{in//2} "
                        "conv1-{(2 + 3) ** 2 - 1} conv1-{max(8, k * 2 // 3)} conv1-{ceil(k / 5)}")
    outs = [n.out_channels for n in ir.layers(net.body) if isinstance(n, ir.Conv)]
    # `in` is the channels entering the enclosing body: 24 at the top level
    assert outs == [48, 12, 12, 24, 8, 3]


def test_defaults_scope_head_rule_and_opt_out():
    net = netspec.parse("""
network t
input 3x8x8
default conv(after=[bn relu])
default fc(after=[relu dropout(0.5)])
conv3-8 conv3-8(after=none) conv3-8(after=[relu])
fc-32 fc-10 soft-max
""")
    kinds = [n.kind for n in ir.layers(net.body)]
    assert kinds == ["conv", "batchnorm", "activation", "conv", "conv", "activation",
                     "flatten", "linear", "activation", "dropout", "linear", "activation"]
    convs = [n for n in ir.layers(net.body) if isinstance(n, ir.Conv)]
    assert [c.bias for c in convs] == [False, True, True]  # bias off where batch norm follows


def test_labels_name_scopes():
    net = netspec.parse("network t\ninput 3x8x8\nblock b { conv3-4 relu }\nstem: conv3-4\nlayer1: { b b }\nhead: fc-2")
    paths = [n.path for n in ir.layers(net.body)]
    assert paths == ["stem", "layer1.b1.conv1", "layer1.b1.relu1", "layer1.b2.conv1", "layer1.b2.relu1",
                     "flatten1", "head"]


def test_vgg_column_d_in_paper_notation():
    """The seeds' Table 1, column D, written as tabled, builds the real VGG-16."""
    net = netspec.load(SPECS / "constructs" / "vgg_d_table.net")
    convs = [n for n in ir.layers(net.body) if isinstance(n, ir.Conv)]
    assert len(convs) == 13 and all(c.kernel == (3, 3) and c.padding == (1, 1, 1, 1) for c in convs)
    assert [c.out_channels for c in convs] == [64] * 2 + [128] * 2 + [256] * 3 + [512] * 6
    pools = [n for n in ir.layers(net.body) if isinstance(n, ir.Pool)]
    assert len(pools) == 5 and all(p.kernel == (2, 2) and p.stride == (2, 2) for p in pools)
    fcs = [n for n in ir.layers(net.body) if isinstance(n, ir.Linear)]
    assert [(f.in_features, f.out_features) for f in fcs] == [(25088, 4096), (4096, 4096), (4096, 1000)]
    kinds = [n.kind for n in ir.layers(net.body)]
    # every conv and the two hidden fc layers are followed by ReLU; the classifier by soft-max only
    assert kinds.count("activation") == 13 + 2 + 1 and kinds[-1] == "activation"
    assert net.body.children[-1].fn == "softmax" and net.body.children[-2].kind == "linear"
    params = sum(c.out_channels * c.in_channels * 9 + c.out_channels for c in convs)
    params += sum(f.in_features * f.out_features + f.out_features for f in fcs)
    assert params == 138_357_544  # Table 2: 138 M


@pytest.mark.parametrize("override, expected", [("3x64x64", (3, 64, 64)), ((1, 28, 28), (1, 28, 28))])
def test_input_override(override, expected):
    net = netspec.parse("network t\ninput 3x32x32\nconv3-8", input=override)
    assert net.input_shape == expected


def test_head_rule_reaches_into_groups_and_block_calls():
    net = netspec.parse("""
network t
input 3x8x8
default fc(after=[relu dropout])
block head(n) { dropout fc-64 fc-{n} }
conv3-8
side aux { gap fc-32 fc-10 }
gap
classifier: { dropout fc-128 head(10) } soft-max
""")
    paths = [n.path for n in ir.layers(net.body)]
    # the final fc of the network and of the side output are bare; every other fc has its defaults
    assert paths[-2:] == ["classifier.head1.fc2", "softmax1"]
    assert "aux.body.fc2" in paths and paths[paths.index("aux.body.fc2") + 1] == "gap1"
    assert paths[paths.index("classifier.head1.fc1") + 1:][:2] == ["classifier.head1.relu1",
                                                                   "classifier.head1.dropout2"]


def test_repeat_zero_times_is_empty():
    net = netspec.parse("network t(n=1)\ninput 3x8x8\nconv3-4 [conv3-8]x{n - 1} conv3-2")
    assert [n.out_channels for n in ir.layers(net.body)] == [4, 2]


def test_symbolic_input_minimum_and_multiple_are_derived_and_reported():
    net = netspec.parse("network t\ninput 3xHxW\nconv3-8(pad=valid) [conv3-8(pad=valid)]x3 maxpool")
    # four valid 3x3 convs take 8 pixels, the pool halves: H - 8 must be even and at least 2
    assert net.constraints == ("H must be a multiple of 2 and at least 10", "W must be a multiple of 2 and at least 10")
    for size, ok in [(10, True), (12, True), (8, False)]:
        try:
            netspec.parse("network t\ninput 3xHxW\nconv3-8(pad=valid) [conv3-8(pad=valid)]x3 maxpool",
                          input=f"3x{size}x{size}")
        except netspec.SpecError:
            assert not ok
        else:
            assert ok
    from netspec.analysis import analyze

    assert analyze(net).to_dict()["constraints"] == list(net.constraints)
