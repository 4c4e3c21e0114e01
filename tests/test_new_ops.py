"""The layers ShuffleNet V2, ConvNeXt, EfficientNet, U-Net and Inception-ResNet need: `shuffle`,
`layernorm`, `layer_scale`, `drop_path`, `deconv`, `scale`. Shapes and counts are computed by hand here;
numerics are compared with torch's own modules (and torchvision's definitions, written out in the test)."""

from __future__ import annotations

import pytest

import netspec
from netspec.analysis import analyze
from netspec.analysis.notation import describe
from netspec.formatter import format_network

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from netspec.backends.torch import build, generate_source  # noqa: E402
from netspec.backends.torch.weights import load_weights  # noqa: E402


def parse(body: str, input: str = "8x6x6") -> netspec.ir.Network:
    return netspec.parse(f"network t\ninput {input}\n{body}\n")


def only(net, kind):
    return next(n for n in netspec.ir.layers(net.body) if n.kind == kind)


def row(net, kind):
    node = only(net, kind)
    return next(r for r in analyze(net).rows if r.path == node.path)


def run_generated(net, x, state):
    """The module of `netspec compile`'s source, loaded with `state`, on x."""
    scope: dict = {}
    exec(compile(generate_source(net, class_name="Generated"), "<generated>", "exec"), scope)
    model = scope["Generated"]()
    model.load_state_dict(state)
    return model.eval()(x)


def round_trips(net) -> None:
    again = netspec.parse(format_network(net))
    assert again.spec_hash == net.spec_hash


# ---------------------------------------------------------------- layernorm


def test_layernorm_on_a_feature_map_normalises_each_pixel_over_the_channels():
    net = parse("layernorm")
    node = only(net, "layernorm")
    assert node.eps == 1e-6 and node.num_features == 8 and tuple(node.out_shape) == (8, 6, 6)
    assert row(net, "layernorm").params == 2 * 8
    model = build(net, seed=0).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p))
    weight, bias = [p.detach() for p in model.parameters()]
    x = torch.randn(2, 8, 6, 6)
    # torchvision's LayerNorm2d: channels last, F.layer_norm, channels first again
    expected = nn.functional.layer_norm(x.permute(0, 2, 3, 1), (8,), weight, bias, 1e-6).permute(0, 3, 1, 2)
    assert torch.allclose(model(x), expected, atol=1e-6)
    # by hand: zero mean and unit variance over the channels of one pixel before the affine part
    manual = (x - x.mean(1, keepdim=True)) / torch.sqrt(x.var(1, unbiased=False, keepdim=True) + 1e-6)
    assert torch.allclose(model(x), manual * weight[:, None, None] + bias[:, None, None], atol=1e-5)
    assert torch.allclose(run_generated(net, x, model.state_dict()), expected, atol=1e-6)
    round_trips(net)


def test_layernorm_on_a_vector_is_torchs_layernorm():
    net = parse("fc-12 layernorm(eps=1e-5)", input="8")
    assert row(net, "layernorm").params == 24
    model = build(net, seed=0).eval()
    ref = nn.LayerNorm(12, eps=1e-5)
    with torch.no_grad():
        ref.weight.normal_(), ref.bias.normal_()
    state = model.state_dict()
    ln = next(k for k in state if k.startswith("layernorm")).split(".")[0]
    state[f"{ln}.weight"], state[f"{ln}.bias"] = ref.weight.detach(), ref.bias.detach()
    model.load_state_dict(state)
    x = torch.randn(3, 8)
    fc = getattr(model, next(k for k in state if k.startswith("fc")).split(".")[0])
    assert torch.allclose(model(x), ref(fc(x)), atol=1e-6)
    round_trips(net)


def test_the_triton_backend_refuses_layernorm_by_name():
    from netspec.backends import BackendError
    from netspec.backends.triton.plan import check_supported

    with pytest.raises(BackendError, match="the triton backend does not support `layernorm` yet"):
        check_supported(parse("conv3-8 layernorm relu"))
    check_supported(parse("conv3-8 relu"))  # and lets a supported network through


def test_compile_for_triton_says_which_layer_it_cannot_run(tmp_path, capsys):
    from netspec.cli import main

    spec = tmp_path / "t.net"
    spec.write_text("network t\ninput 8x6x6\nconv3-8 layernorm relu\n")
    assert main(["compile", "--backend", "triton", str(spec), "-o", str(tmp_path / "out")]) == 2
    assert "layernorm1: the triton backend does not support `layernorm` yet" in capsys.readouterr().err


# ---------------------------------------------------------------- layer_scale


def test_layer_scale_multiplies_each_channel_by_a_learned_factor():
    net = parse("layer_scale(0.5)")
    assert row(net, "layer_scale").params == 8
    model = build(net, seed=0).eval()
    (gamma,) = model.parameters()
    assert torch.equal(gamma.detach().flatten(), torch.full((8,), 0.5))
    with torch.no_grad():
        gamma.copy_(torch.randn_like(gamma))
    x = torch.randn(2, 8, 6, 6)
    assert torch.allclose(model(x), x * gamma.detach().reshape(1, 8, 1, 1))
    assert torch.allclose(run_generated(net, x, model.state_dict()), model(x))
    round_trips(net)


# ---------------------------------------------------------------- scale


def test_scale_multiplies_by_a_constant_and_has_no_weights():
    net = parse("scale(0.17)")
    r = row(net, "scale")
    assert (r.params, r.macs, r.cost.ops) == (0, 0, 8 * 6 * 6)  # one multiply per element, no MACs
    model = build(net, seed=0).eval()
    assert not list(model.parameters()) and not list(model.buffers())
    x = torch.randn(2, 8, 6, 6)
    assert torch.equal(model(x), x * 0.17)
    assert torch.equal(run_generated(net, x, model.state_dict()), x * 0.17)
    round_trips(net)
    assert "scale(0.17)" in format_network(net)


def test_a_scaled_residual_is_inception_resnets_block():
    # Szegedy et al. 2017, Figure 20: relu(x + s * branch(x)); timm's Block35 computes conv(x) * s + x
    net = parse("residual { conv1-8(bias=true) scale(0.17) } relu")
    assert analyze(net).trainable_params == 8 * 8 + 8  # the scale adds nothing
    model = build(net, seed=0).eval()
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        assert torch.equal(model(x), torch.relu(conv(x) * 0.17 + x))
        assert torch.equal(run_generated(net, x, model.state_dict()), model(x))


def test_scale_needs_its_factor():
    with pytest.raises(netspec.SpecError, match=r"scale needs its factor, e.g. `scale\(0.17\)`"):
        parse("scale")
    with pytest.raises(netspec.SpecError, match="the factor must be a number, got true"):
        parse("scale(true)")


def test_the_triton_backend_refuses_scale_by_name():
    from netspec.backends import BackendError
    from netspec.backends.triton.plan import check_supported

    with pytest.raises(BackendError, match="the triton backend does not support `scale` yet"):
        check_supported(parse("residual { conv1-8 scale(0.2) } relu"))


# ---------------------------------------------------------------- drop_path


def torchvision_stochastic_depth(x, p, training):
    """torchvision.ops.stochastic_depth(x, p, "row", training), written out."""
    if not training or p == 0.0:
        return x
    survival = 1.0 - p
    noise = torch.empty([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype, device=x.device).bernoulli_(survival)
    if survival > 0.0:
        noise.div_(survival)
    return x * noise


def test_drop_path_is_the_identity_at_inference_and_costs_nothing():
    net = parse("drop_path(0.3)")
    r = row(net, "drop_path")
    assert (r.params, r.macs) == (0, 0)
    model = build(net, seed=0).eval()
    x = torch.randn(4, 8, 6, 6)
    assert torch.equal(model(x), x)
    round_trips(net)


def test_drop_path_in_training_matches_torchvisions_row_mode():
    model = build(parse("drop_path(0.3)"), seed=0).train()
    x = torch.randn(4000, 8, 6, 6)
    out = model(x)
    kept = (out != 0).flatten(1).any(1)
    # whole samples are dropped or kept, and the kept ones are divided by 1-p
    assert torch.equal(out[~kept], torch.zeros_like(out[~kept]))
    assert torch.allclose(out[kept], x[kept] / 0.7)
    # dropped with probability p: 4000 samples, standard deviation sqrt(4000*0.3*0.7) = 29
    assert abs(int((~kept).sum()) - 1200) < 5 * 29
    # drawn as torchvision draws: the same generator state gives the same mask
    torch.manual_seed(7)
    ours = model(x[:64])
    torch.manual_seed(7)
    assert torch.equal(ours, torchvision_stochastic_depth(x[:64], 0.3, True))
    assert torch.equal(model.eval()(x[:64]), torchvision_stochastic_depth(x[:64], 0.3, False))


def test_drop_path_inside_a_residual_branch_keeps_the_shortcut():
    model = build(parse("residual { conv3-8 drop_path(1.0) }"), seed=0).train()
    x = torch.randn(5, 8, 6, 6)
    assert torch.equal(model(x), x)  # every branch dropped: only the identity shortcut is left


# ---------------------------------------------------------------- shuffle


def torchvision_channel_shuffle(x, groups):
    """torchvision.models.shufflenetv2.channel_shuffle, written out."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).contiguous().view(b, c, h, w)


def test_shuffle_interleaves_the_groups():
    net = parse("shuffle(2)", input="6x1x1")
    model = build(net, seed=0).eval()
    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert model(x).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    x = torch.randn(2, 12, 5, 5)
    model = build(parse("shuffle(3)", input="12x5x5"), seed=0).eval()
    assert torch.equal(model(x), torchvision_channel_shuffle(x, 3))
    r = row(parse("shuffle(3)", input="12x5x5"), "shuffle")
    assert (r.params, r.macs) == (0, 0)
    round_trips(net)


def test_shuffle_needs_channels_divisible_by_its_groups():
    with pytest.raises(netspec.SpecError, match=r"shuffle\(4\) needs channels divisible by 4"):
        parse("shuffle(4)", input="6x4x4")


# ---------------------------------------------------------------- deconv


@pytest.mark.parametrize("layer, kwargs", [
    ("deconv2-4/2", dict(kernel_size=2, stride=2)),
    ("deconv3-4/2(pad=1, output_pad=1)", dict(kernel_size=3, stride=2, padding=1, output_padding=1)),
    ("deconv4-8/2(pad=1, groups=4, bias=false)", dict(kernel_size=4, stride=2, padding=1, groups=4, bias=False)),
    ("deconv3-4(dilation=2)", dict(kernel_size=3, dilation=2)),
    ("deconv1x3-4/3(output_pad=2)", dict(kernel_size=(1, 3), stride=3, output_padding=2)),
])
def test_deconv_is_torchs_conv_transpose(layer, kwargs):
    net = parse(layer, input="8x5x7")
    ref = nn.ConvTranspose2d(8, kwargs.pop("out", int(layer.split("-")[1].split("/")[0].split("(")[0])), **kwargs)
    x = torch.randn(2, 8, 5, 7)
    expected = ref(x)
    node = only(net, "deconv")
    assert tuple(node.out_shape) == tuple(expected.shape[1:])
    r = row(net, "deconv")
    assert r.params == sum(p.numel() for p in ref.parameters())
    # every input element times an (out/groups) x kh x kw window of weights
    kh, kw = ref.kernel_size
    assert r.macs == 8 * 5 * 7 * (ref.out_channels // ref.groups) * kh * kw
    model = build(net, seed=0).eval()
    load_weights(model, ref.state_dict())  # a torchvision-style ConvTranspose2d's weights import as they are
    assert torch.allclose(model(x), expected, atol=1e-5)
    assert torch.allclose(run_generated(net, x, model.state_dict()), expected, atol=1e-5)
    round_trips(net)


def test_deconv_doubles_a_symbolic_size():
    net = parse("conv3-8/2 deconv2-8/2", input="3xHxW")
    assert tuple(only(net, "deconv").out_shape) == (8, "H", "W")


def test_deconv_receptive_field_divides_the_stride_and_adds_the_inputs_it_mixes():
    # after conv3/2: 3 pixels, 2 apart. A 2x2/2 deconv writes each output from one input: 3, 1 apart
    r = row(parse("conv3-8/2 deconv2-8/2", input="3x16x16"), "deconv")
    assert r.field.size == (3, 3) and r.field.jump == (1, 1)
    # a 3x3/2 deconv mixes two neighbouring inputs (2 apart) into some outputs: 3 + 2 = 5
    r = row(parse("conv3-8/2 deconv3-8/2", input="3x16x16"), "deconv")
    assert r.field.size == (5, 5) and r.field.jump == (1, 1)


def test_deconv_refuses_an_output_padding_as_large_as_the_stride():
    with pytest.raises(netspec.SpecError, match=r"output padding \(2\) must be smaller than the stride"):
        parse("deconv2-8/2(output_pad=2)")


# ---------------------------------------------------------------- split


def test_split_feeds_each_branch_its_share_of_the_channels_and_concatenates():
    net = parse("split { identity | conv1-4 relu }", input="8x5x5")
    assert tuple(net.output_shape) == (8, 5, 5)
    slices = [n for n in netspec.ir.layers(net.body) if n.kind == "channel_slice"]
    assert [(s.start, s.stop) for s in slices] == [(0, 4), (4, 8)]
    assert only(net, "conv").in_channels == 4  # the branch runs on its half
    assert analyze(net).total.params == 4 * 4 + 4  # the 1x1 conv on 4 channels, and its bias
    assert describe(net.body.children[0]) == "split(2)"  # the table says what the spec said
    assert describe(parse("concat { identity | conv1-4 }").body.children[0]) == "concat(2)"
    model = build(net, seed=0).eval()
    conv = nn.Conv2d(4, 4, 1)
    load_weights(model, conv.state_dict())
    x = torch.randn(2, 8, 5, 5)
    left, right = x.chunk(2, dim=1)  # torchvision's ShuffleNet V2 unit at stride 1
    expected = torch.cat((left, torch.relu(conv(right))), 1)
    assert torch.allclose(model(x), expected, atol=1e-6)
    assert torch.allclose(run_generated(net, x, model.state_dict()), expected, atol=1e-6)
    assert torch.equal(x, torch.cat((left, right), 1))  # the input was not overwritten through the view
    round_trips(net)


def test_split_needs_channels_divisible_by_its_branches():
    with pytest.raises(netspec.SpecError, match=r"`split` into 3 branches needs channels divisible by 3"):
        parse("split { identity | identity | relu }", input="8x5x5")


def test_channels_picks_a_range_by_hand():
    net = parse("channels(2, 5)", input="8x5x5")
    assert tuple(net.output_shape) == (3, 5, 5)
    x = torch.randn(1, 8, 5, 5)
    assert torch.equal(build(net, seed=0).eval()(x), x[:, 2:5])
    with pytest.raises(netspec.SpecError, match=r"channels\(5, 9\) must pick a non-empty range"):
        parse("channels(5, 9)", input="8x5x5")


def test_a_linear_layers_weights_import_into_a_1x1_conv():
    # ConvNeXt's nn.Linear on channels-last maps is the spec's conv1: (out, in) fills (out, in, 1, 1)
    net = parse("conv1-4", input="8x3x3")
    model = build(net, seed=0).eval()
    linear = nn.Linear(8, 4)
    load_weights(model, linear.state_dict())
    x = torch.randn(2, 8, 3, 3)
    assert torch.allclose(model(x), linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), atol=1e-6)


# ---------------------------------------------------------------- crop


def test_crop_takes_the_centre_of_the_map():
    net = parse("crop(2)", input="3x9x9")
    assert tuple(net.output_shape) == (3, 5, 5)
    x = torch.randn(1, 3, 9, 9)
    assert torch.equal(build(net, seed=0).eval()(x), x[:, :, 2:7, 2:7])
    net = parse("crop(1, 3)", input="3x9x9")
    assert tuple(net.output_shape) == (3, 7, 3)
    assert torch.equal(run_generated(net, x, {}), x[:, :, 1:8, 3:6])
    round_trips(net)
    with pytest.raises(netspec.SpecError, match=r"crop\(5, 5\) would leave nothing"):
        parse("crop(5)", input="3x9x9")


def test_unet_copy_and_crop_joins_the_cropped_copy_first():
    # a level of the paper's U-Net, by hand: the copy cropped to the up-convolved map's size, then it
    net = parse("conv3-4(pad=0) relu concat { crop(2) | maxpool2 conv3-8(pad=0) relu deconv2-4/2 }", input="1x14x14")
    assert tuple(net.output_shape) == (8, 8, 8)
    model = build(net, seed=0).eval()
    x = torch.randn(1, 1, 14, 14)
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    a = torch.relu(convs[0](x))
    b = convs[2](torch.relu(convs[1](nn.functional.max_pool2d(a, 2))))
    assert torch.allclose(model(x), torch.cat((a[:, :, 2:10, 2:10], b), 1), atol=1e-6)


# ---------------------------------------------------------------- zeropad


def test_zeropad_pads_with_zeros_and_crops_where_negative():
    x = torch.randn(1, 3, 7, 7)
    net = parse("zeropad(1)", input="3x7x7")
    assert tuple(net.output_shape) == (3, 9, 9)
    out = build(net, seed=0).eval()(x)
    assert torch.equal(out[:, :, 1:8, 1:8], x) and out[:, :, 0].abs().sum() == 0 and out[:, :, :, -1].abs().sum() == 0
    # left, right, top, bottom as torch's ZeroPad2d: -1 takes a row or column off that side
    net = parse("zeropad(-1, 1, -1, 1)", input="3x7x7")
    assert tuple(net.output_shape) == (3, 7, 7)
    shifted = torch.zeros(1, 3, 7, 7)
    shifted[:, :, :6, :6] = x[:, :, 1:, 1:]  # by hand: the map moved up and left by a pixel, zeros behind
    assert torch.equal(build(net, seed=0).eval()(x), shifted)
    assert torch.equal(run_generated(net, x, {}), shifted)
    net = parse("zeropad(0, 2)", input="3x7x7")  # the sides not written stay as they are
    assert tuple(net.output_shape) == (3, 7, 9) and only(net, "zeropad").top == 0
    assert analyze(net).trainable_params == 0 and analyze(net).macs == 0
    round_trips(net)
    with pytest.raises(netspec.SpecError, match=r"zeropad\(-4, -4, 0, 0\) would leave nothing"):
        parse("zeropad(-4, -4)", input="3x7x7")


def test_zeropad_keeps_a_symbolic_size_symbolic():
    net = parse("conv3-8/2 zeropad(-1, 1, -1, 1) zeropad(0, 1, 0, 1) gap fc-2", input="3xHxW")
    assert only(net, "zeropad").out_shape[1:] == ("H/2", "W/2")
    assert list(netspec.ir.layers(net.body))[2].out_shape[1:] == ("H/2+1", "W/2+1")


def test_factorized_reduction_reads_both_pixel_grids():
    # NASNet's factorized reduction (TF-slim's factorized_reduction), by hand: one 1x1 conv on the even
    # pixels, one on the odd ones (shifted by zeropad; on an odd size the last row of the shift is zero)
    net = parse("concat { avgpool1/2 conv1-2(bias=false) | zeropad(-1, 1, -1, 1) avgpool1/2 conv1-2(bias=false) }",
                input="3x7x7")
    assert tuple(net.output_shape) == (4, 4, 4)
    model = build(net, seed=0).eval()
    x = torch.randn(1, 3, 7, 7)
    even, odd = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    padded = nn.functional.pad(x, (0, 1, 0, 1))  # TF: pad bottom and right by one, then drop the first row and column
    assert torch.allclose(model(x), torch.cat((even(x[:, :, ::2, ::2]), odd(padded[:, :, 1::2, 1::2])), 1), atol=1e-6)
