"""Figures of the static analysis against the seeds' worked examples and hand computation.

Every expected number below is either transcribed from the lecture notes in
../shared/seeds/ (file named in the test) or worked out by hand in a comment next to it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import netspec
from netspec.analysis import analyze


def net(body: str, input: str = "3x32x32", header: str = "") -> netspec.Network:
    return netspec.parse(f"network t\ninput {input}\n{header}\n{body}\n", filename="<test>")


def leaf_rows(a, kinds=None):
    return [r for r in a.leaves() if kinds is None or r.kind in kinds]


# ---------------------------------------------------------------- the seeds' worked examples


@pytest.mark.parametrize("stride, size", [(1, 5), (2, 3), (3, 2)])
def test_seed_7x7_input_3x3_filter(stride, size):
    # 002: "7x7 input, 3x3 filter, stride 1 -> 5x5, stride 2 -> 3x3, stride 3 -> doesn't fit"
    # ((7 - 3) / 3 + 1 = 2.33: torch floors it to 2 and drops the last row and column)
    a = analyze(net(f"conv3-1/{stride}(pad=valid)", "1x7x7"))
    assert a.output_shape == (1, size, size)


def test_seed_32x32x3_ten_5x5_filters_pad_2():
    # 002: "Input volume 32x32x3, 10 5x5 filters with stride 1, pad 2 -> 32x32x10;
    #       each filter has 5*5*3 + 1 = 76 params => 76*10 = 760"
    a = analyze(net("conv5-10(pad=2)"))
    assert a.output_shape == (10, 32, 32)
    assert a.trainable_params == 760
    # every one of the 32*32*10 outputs is a 5*5*3 dot product
    assert a.macs == 32 * 32 * 10 * 75


def test_seed_alexnet_first_layer_and_pool():
    # 002: AlexNet CONV1 96 11x11 filters at stride 4 on 227x227x3 -> 55x55x96,
    #      (227 - 11)/4 + 1 = 55; parameters (11*11*3)*96 = 35K; POOL1 3x3 stride 2 -> 27x27x96
    a = analyze(net("conv11-96/4(pad=valid) relu maxpool3/2", "3x227x227"))
    conv, pool = leaf_rows(a, {"conv", "pool"})
    assert conv.out_shape == (96, 55, 55)
    assert conv.params == 11 * 11 * 3 * 96 + 96 == 34_944
    assert pool.out_shape == (96, 27, 27)
    assert pool.params == 0


KERAS_MNIST = """
default conv(pad=valid, after=[relu])
conv3-32 maxpool conv3-64 maxpool conv3-64
flatten fc-64 relu fc-10 softmax
"""


def test_seed_keras_mnist_summary():
    # 001: model.summary() of the Keras MNIST convnet
    a = analyze(net(KERAS_MNIST, "1x28x28"))
    weighted = leaf_rows(a, {"conv", "linear"})
    assert [r.params for r in weighted] == [320, 18496, 36928, 36928, 650]
    spatial = [r.out_shape[1] for r in leaf_rows(a, {"conv", "pool"})]
    assert spatial == [26, 13, 11, 5, 3]
    assert [r.out_shape for r in leaf_rows(a, {"flatten"})] == [(576,)]
    assert a.trainable_params == a.params == 93_322
    assert a.non_trainable_params == 0


def test_seed_keras_cats_dogs_summary():
    # 001: the cats vs dogs convnet, "Total params: 3,453,121"
    a = analyze(net("""
        default conv(pad=valid, after=[relu])
        conv3-32 maxpool conv3-64 maxpool conv3-128 maxpool conv3-128 maxpool
        flatten fc-512 relu fc-1 sigmoid""", "3x150x150"))
    assert [r.params for r in leaf_rows(a, {"conv", "linear"})] == [896, 18496, 73856, 147584, 3211776, 513]
    assert [r.out_shape[1] for r in leaf_rows(a, {"conv", "pool"})] == [148, 74, 72, 36, 34, 17, 15, 7]
    assert leaf_rows(a, {"flatten"})[0].out_shape == (6272,)
    assert a.trainable_params == 3_453_121


# 002, "VGGNet architecture": the per-layer table as the slide gives it. Its parameter column
# counts weights only (no biases), so the spec below leaves the biases out. (C, H, memory, params)
VGG16_TABLE = [
    (64, 224, 224 * 224 * 64, 1_728), (64, 224, 224 * 224 * 64, 36_864), (64, 112, 112 * 112 * 64, 0),
    (128, 112, 112 * 112 * 128, 73_728), (128, 112, 112 * 112 * 128, 147_456), (128, 56, 56 * 56 * 128, 0),
    (256, 56, 56 * 56 * 256, 294_912), (256, 56, 56 * 56 * 256, 589_824), (256, 56, 56 * 56 * 256, 589_824),
    (256, 28, 28 * 28 * 256, 0),
    (512, 28, 28 * 28 * 512, 1_179_648), (512, 28, 28 * 28 * 512, 2_359_296), (512, 28, 28 * 28 * 512, 2_359_296),
    (512, 14, 14 * 14 * 512, 0),
    (512, 14, 14 * 14 * 512, 2_359_296), (512, 14, 14 * 14 * 512, 2_359_296), (512, 14, 14 * 14 * 512, 2_359_296),
    (512, 7, 7 * 7 * 512, 0),
    (4096, None, 4096, 102_760_448), (4096, None, 4096, 16_777_216), (1000, None, 1000, 4_096_000),
]

VGG16 = """
default conv(bias=false, after=[relu])
default fc(bias=false, after=[relu])
[conv3-64]x2 maxpool [conv3-128]x2 maxpool [conv3-256]x3 maxpool
[conv3-512]x3 maxpool [conv3-512]x3 maxpool
fc-4096 fc-4096 fc-1000
"""


def test_seed_vgg16_memory_and_params_table():
    a = analyze(net(VGG16, "3x224x224"))
    rows = leaf_rows(a, {"conv", "pool", "linear"})
    assert len(rows) == len(VGG16_TABLE)
    for row, (c, h, memory, params) in zip(rows, VGG16_TABLE):
        assert row.out_shape[0] == c
        if h is not None:
            assert row.out_shape[1:] == (h, h)
        assert numel(row.out_shape) == memory
        assert row.params == params
    # ReLUs run in place, so the activations are the input plus the table's memory column
    # (15.2M elements; the slide's "Total memory: 24M" does not add up its own column)
    assert a.activation_elements == 224 * 224 * 3 + sum(m for _, _, m, _ in VGG16_TABLE)
    assert a.activation_bytes == 4 * a.activation_elements
    assert analyze(net(VGG16, "3x224x224"), dtype="float16").activation_bytes == 2 * a.activation_elements
    # "Most parameters in the early fully connected layers", 138M in all
    assert a.trainable_params == sum(p for *_, p in VGG16_TABLE) == 138_344_128


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def test_seed_mobilenet_depthwise_separable_mult_adds():
    # 001: D_K = 3, M = N = 512, D_F = 14: a standard conv costs
    # D_K*D_K*M*N*D_F*D_F = 462M mult-adds, depthwise + pointwise 52.3M
    standard = analyze(net("conv3-512(bias=false)", "512x14x14"))
    separable = analyze(net("dwconv3(bias=false) conv1-512(bias=false)", "512x14x14"))
    assert standard.macs == 3 * 3 * 512 * 512 * 14 * 14 == 462_422_016
    assert separable.macs == 3 * 3 * 512 * 14 * 14 + 512 * 512 * 14 * 14 == 52_283_392
    assert f"{separable.macs / 1e6:.1f}M" == "52.3M"


# ---------------------------------------------------------------- each layer type


def test_conv_groups_dilation_and_bias():
    a = analyze(net("conv3-64(groups=4, dilation=2, bias=false)", "32x16x16"))
    conv = leaf_rows(a, {"conv"})[0]
    assert conv.params == 64 * (32 // 4) * 3 * 3  # each output channel sees 8 of the 32 inputs
    assert conv.macs == 64 * 16 * 16 * 8 * 9
    assert conv.field.size == (5, 5)  # a 3x3 window dilated by 2 spans 5 pixels
    with_bias = leaf_rows(analyze(net("conv3-64(groups=4, bias=true)", "32x16x16")), {"conv"})[0]
    assert with_bias.params == conv.params + 64
    assert with_bias.cost.ops == 64 * 16 * 16  # one bias add per output


def test_depthwise_multiplier():
    conv = leaf_rows(analyze(net("dwconv3(multiplier=2, bias=false)", "8x10x10")), {"conv"})[0]
    assert conv.out_shape == (16, 10, 10)
    assert conv.params == 16 * 1 * 9
    assert conv.macs == 16 * 10 * 10 * 9


def test_linear_flatten_implied():
    a = analyze(net("fc-10", "2x3x3"))
    fc = leaf_rows(a, {"linear"})[0]
    assert fc.params == 18 * 10 + 10
    assert fc.macs == 180
    assert a.output_shape == (10,)


def test_batchnorm_trainable_and_running_stats():
    a = analyze(net("conv3-16 bn", "3x8x8"))
    bn = leaf_rows(a, {"batchnorm"})[0]
    assert bn.params == 32 and bn.cost.buffers == 32  # gamma, beta; running mean, running var
    assert bn.macs == 0 and bn.cost.ops == 2 * 16 * 8 * 8  # scale and shift per element
    conv = leaf_rows(a, {"conv"})[0]
    assert conv.params == 16 * 27  # netspec leaves out the bias a batch norm cancels
    assert a.trainable_params == 16 * 27 + 32
    assert a.non_trainable_params == 32
    assert a.params == a.trainable_params + 32


def test_pooling_and_adaptive_pooling():
    a = analyze(net("maxpool3/2(pad=1) adaptive_avgpool-2x2 gap", "4x9x9"))
    pool, adaptive, gap = leaf_rows(a)
    assert pool.out_shape == (4, 5, 5)  # floor((9 + 2 - 3)/2) + 1
    assert pool.cost.ops == 4 * 5 * 5 * 9 and pool.params == 0
    assert adaptive.out_shape == (4, 2, 2) and adaptive.cost.ops == 4 * 5 * 5
    assert gap.out_shape == (4, 1, 1)
    assert a.macs == 0


def test_ceil_mode_pool_reads_the_partial_window():
    a = analyze(net("maxpool3/2(ceil=true)", "1x8x8"))
    assert a.output_shape == (1, 4, 4)  # ceil((8 - 3)/2) + 1


def test_activations_lrn_dropout_upsample():
    a = analyze(net("prelu lrn dropout(0.3) upsample(2) softmax", "4x5x5"))
    prelu, lrn, dropout, up, softmax = leaf_rows(a)
    assert prelu.params == 1  # one shared slope, torch's default
    assert prelu.cost.elements == 0  # elementwise, in place
    assert lrn.params == 0 and lrn.cost.elements == 100
    assert dropout.cost == type(dropout.cost)()  # the identity at inference
    assert up.out_shape == (4, 10, 10) and up.cost.elements == 400
    assert up.field.jump == (0.5, 0.5)  # two output pixels per input pixel
    assert softmax.cost.elements == 400


# ---------------------------------------------------------------- combinators


def test_concat_sums_channels_and_takes_the_widest_field():
    # an inception-like block: 1x1 | 3x3 | 5x5 | pool + 1x1 on 16 channels
    a = analyze(net("concat { conv1-8 | conv3-8 | conv5-8 | maxpool3/1(pad=1) conv1-8 }", "16x8x8"))
    block = a.rows[0]
    assert block.kind == "concat" and block.out_shape == (32, 8, 8)
    assert block.params == (16 * 1 + 1) * 8 + (16 * 9 + 1) * 8 + (16 * 25 + 1) * 8 + (16 + 1) * 8
    assert block.macs == 64 * 8 * 16 * (1 + 9 + 25 + 1)
    assert block.field.size == (5, 5)  # the 5x5 branch (the pool + 1x1 branch sees 3x3)


def test_residual_identity_and_projection():
    ident = analyze(net("residual { conv3-16 bn relu conv3-16 bn }", "16x8x8"))
    body = 2 * (16 * 16 * 9 + 32)
    assert ident.trainable_params == body
    assert ident.rows[0].cost.ops == sum(r.cost.ops for r in ident.leaves()) + 16 * 8 * 8  # the add
    assert ident.rows[0].field.size == (5, 5)
    # option B: a 1x1/2 conv + bn projects the input to the body's 32x4x4
    proj = analyze(net("residual { conv3-32/2 bn relu conv3-32 bn }", "16x8x8"))
    assert proj.output_shape == (32, 4, 4)
    assert proj.trainable_params == (16 * 9 * 32 + 64) + (32 * 9 * 32 + 64) + (16 * 32 + 64)
    # option A: subsample and zero-pad the channels, no parameters
    pad = analyze(net("residual(shortcut=pad) { conv3-32/2 bn relu conv3-32 bn }", "16x8x8"))
    assert pad.trainable_params == (16 * 9 * 32 + 64) + (32 * 9 * 32 + 64)


def test_dense_block_growth():
    # DenseNet: each of 3 layers sees the concat of the input and all earlier outputs
    a = analyze(net("dense(3) { bn relu conv3-4 }", "8x6x6"))
    assert a.output_shape == (8 + 3 * 4, 6, 6)
    ins = [8, 12, 16]
    assert a.trainable_params == sum(2 * c + c * 9 * 4 + 4 for c in ins)  # the conv keeps its bias
    assert a.non_trainable_params == sum(2 * c for c in ins)
    assert a.macs == sum(36 * 4 * c * 9 for c in ins)
    assert a.rows[0].field.size == (7, 7)  # three 3x3 convs along the longest path


def test_gate_squeeze_excitation():
    a = analyze(net("gate { gap fc-4 relu fc-{in} sigmoid }", "32x8x8"))
    assert a.output_shape == (32, 8, 8)
    assert a.trainable_params == (32 * 4 + 4) + (4 * 32 + 32)
    assert a.macs == 32 * 4 + 4 * 32
    # a gate rescales channels: it moves no spatial information
    assert a.output_field.size == (1, 1)


def test_side_output_has_parameters_but_no_inference_cost():
    # torchvision's published GFLOPS run in eval mode, where auxiliary heads do not run
    a = analyze(net("conv3-8 side aux { gap fc-10 } gap fc-5", "3x8x8"))
    aux = [r for r in a.rows if r.kind == "side"][0]
    assert aux.params == 8 * 10 + 10 and aux.macs == 80
    assert a.trainable_params == (27 * 8 + 8) + 90 + 45
    assert a.macs == 8 * 64 * 27 + 40
    assert a.output_shape == (5,)


def test_save_and_merge():
    a = analyze(net("conv3-8 @skip conv3-8 conv3-8 add(@skip)", "3x8x8"))
    merge = leaf_rows(a, {"merge"})[0]
    assert merge.cost.ops == 8 * 8 * 8
    assert merge.field.size == (7, 7)  # the longer path: three 3x3 convs


# ---------------------------------------------------------------- receptive fields (hand computed)


def test_receptive_field_vgg16_pool5():
    # 3x3 convs add 2*jump; 2x2 pools add jump and double it:
    # stage1 1+2+2=5, pool 6 (j2); stage2 +4+4=14, pool 16 (j4); stage3 +8*3=40, pool 44 (j8);
    # stage4 +16*3=92, pool 100 (j16); stage5 +32*3=196, pool 212 (j32)
    a = analyze(net(VGG16, "3x224x224"))
    pools = leaf_rows(a, {"pool"})
    assert [p.field.size[0] for p in pools] == [6, 16, 44, 100, 212]
    assert [p.field.jump[0] for p in pools] == [2, 4, 8, 16, 32]
    assert a.head_field.size == (212, 212)


def test_receptive_field_alexnet_torchvision():
    # conv11/4: 11 (j4); pool3/2: 11+2*4=19 (j8); conv5: 19+4*8=51; pool: 51+2*8=67 (j16);
    # three conv3: 67+3*2*16=163; pool: 163+2*16=195 (j32)
    a = analyze(net("""default conv(after=[relu])
        conv11-64/4(pad=2) maxpool3/2 conv5-192 maxpool3/2 conv3-384 conv3-256 conv3-256 maxpool3/2
        adaptive_avgpool-6x6 flatten fc-4096 relu fc-4096 relu fc-1000""", "3x224x224"))
    assert a.head_field.size == (195, 195) and a.head_field.jump == (32, 32)
    assert a.trainable_params == 61_100_840  # torchvision.models.alexnet


def test_receptive_field_of_a_conv_that_collapses_the_map():
    # the last 3x3/2 conv reads a 2x2 map: the head reads its units, which see 63 pixels
    a = analyze(net("conv3-8/2 conv3-8/2 conv3-8/2 conv3-8/2 conv3-8/2 flatten fc-10", "3x32x32"))
    assert a.head_field.size == (63, 63)


# ---------------------------------------------------------------- totals and views


def test_depth_views_partition_the_network():
    a = analyze(net("""
        block unit(c) { residual { conv3-{c} bn relu conv3-{c} bn } relu }
        stage1: { unit(16) unit(16) }
        stage2: { unit(16) concat { conv1-8 | conv3-8 } }
        gap fc-10""", "16x8x8"))
    for depth in (None, 1, 2, 3, 4):
        rows = a.at_depth(depth)
        assert sum(r.params for r in rows) == a.trainable_params
        assert sum(r.macs for r in rows) == a.macs
    assert {r.path for r in a.at_depth(1)} >= {"stage1", "stage2"}


def test_symbolic_input_keeps_params_and_leaves_size_dependent_figures_open():
    a = analyze(net("conv3-8 relu conv3-8/2", "3xHxW"))
    assert a.trainable_params == (27 * 8 + 8) + (72 * 8 + 8)
    assert a.macs is None and a.activation_bytes is None
    # and a concrete --input fills them in
    b = analyze(netspec.parse("network t\ninput 3xHxW\nconv3-8 relu conv3-8/2\n", input="3x16x16"))
    assert b.macs == 16 * 16 * 8 * 27 + 8 * 8 * 8 * 72


def test_json_document_fields():
    a = analyze(net(KERAS_MNIST, "1x28x28"))
    doc = a.to_dict()
    for key in ("network", "input", "output", "params", "trainable_params", "macs", "activation_bytes", "layers"):
        assert key in doc
    assert doc["input"] == "1x28x28" and doc["output"] == "10"
    assert sum(layer["params"] for layer in doc["layers"]) == doc["trainable_params"] == 93_322
    assert {"path", "op", "output", "params", "macs"} <= set(doc["layers"][0])
    assert doc["layers"][0]["output"] == "32x26x26"


def test_analysis_never_imports_torch():
    code = ("import sys, netspec\nfrom netspec.analysis import analyze, lint\n"
            "from netspec.analysis.report import table\nfrom netspec.commands import summary, lint as lc\n"
            "n = netspec.parse('network t\\ninput 3x32x32\\nconv3-8 bn relu gap fc-10')\n"
            "a = analyze(n); lint(n, a); table(a)\nassert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fully_convolutional_network_reports_the_output_field():
    # no layer collapses the map: the JSON's field is the output's; 3 -> 3+2*2=7 (j4), then x4 upsampling
    a = analyze(net("conv3-16/2 relu conv3-32/2 relu upsample(4) conv1-2", "3x64x64"))
    doc = a.to_dict()
    assert a.head_field is None and doc["receptive_field_at"] is None
    assert doc["receptive_field"] == [7, 7] and doc["stride"] == [1, 1]


# torchvision's model cards (num_params, GFLOPS at their default input size) for zoo specs
TORCHVISION = [
    ("resnet50", 25_557_032, "4.09"),
    ("resnet18", 11_689_512, "1.81"),
    ("vgg16", 138_357_544, "15.47"),
    ("alexnet", 61_100_840, "0.71"),
    ("inception_v3", 27_161_264, "5.71"),  # params include the auxiliary head, GFLOPS do not
    ("googlenet", None, "1.50"),
    ("densenet121", 7_978_856, "2.83"),
    ("mobilenet_v2", 3_504_872, "0.30"),
    ("squeezenet1_0", 1_248_424, "0.82"),
]


@pytest.mark.parametrize("name, params, gflops", TORCHVISION, ids=[t[0] for t in TORCHVISION])
def test_zoo_matches_torchvision_model_cards(name, params, gflops):
    a = analyze(netspec.load(name))
    if params is not None:
        assert a.trainable_params == params
    assert f"{a.macs / 1e9:.2f}" == gflops


def test_receptive_fields_of_zoo_networks_match_araujo_et_al():
    # Distill 2019, "Computing Receptive Fields of CNNs", table of ImageNet models (stride 32 each)
    for name, size in [("vgg16", 212), ("inception_v3", 1311), ("mobilenet_v1", 315), ("mobilenet_v2", 491)]:
        a = analyze(netspec.load(name))
        assert a.head_field.size == (size, size), name
        assert a.head_field.jump == (32, 32), name
