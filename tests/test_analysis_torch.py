"""The static figures against torch itself: the built module's parameters and buffers, and the
multiply-accumulates torch's own FlopCounterMode counts while the module runs.

The analysis never imports torch; these tests do, to get an independent count. Specs are
generated (hypothesis) from every layer and combinator the analysis handles.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import netspec  # noqa: E402
from netspec.analysis import analyze  # noqa: E402


def torch_figures(network):
    """(MACs, trainable params, running-stat elements, output shape) measured on the built module."""
    model = netspec.build(network).eval()
    x = torch.zeros(1, *network.input_shape)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = model(x)
    params = sum(p.numel() for p in model.parameters())
    running = sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))
    return counter.get_total_flops() // 2, params, running, tuple(y.shape[1:])


def assert_same(text):
    network = netspec.parse(text)
    a = analyze(network)
    macs, params, running, out = torch_figures(network)
    assert (a.macs, a.trainable_params, a.non_trainable_params, a.output_shape) == (macs, params, running, out), text


# one stage of a random network (`c`: a channel count); only DOWN strides, so 16x16 never collapses
c = st.sampled_from([4, 8, 12])
STAGES = st.one_of(
    st.builds(lambda k, n, bias: f"conv{k}-{n}(bias={'true' if bias else 'false'}) relu",
              st.sampled_from([1, 3, 5]), c, st.booleans()),
    st.builds(lambda n: f"conv3-{n} bn relu", c),
    st.just("conv1x3-16 conv3x1-16 relu"),
    st.just("conv3-16(dilation=2) relu"),
    st.just("conv3-16(groups=4) relu"),
    st.just("dwconv3 bn relu conv1-16 bn relu"),
    st.just("maxpool3/1(pad=1)"),
    st.builds(lambda n: f"residual {{ conv3-{n} bn relu conv3-{n} bn }} relu", c),
    st.builds(lambda a, b: f"concat {{ conv1-{a} | conv3-{b} relu | maxpool3/1(pad=1) }}", c, c),
    st.just("dense(2) { bn relu conv3-4 }"),
    st.just("gate { gap fc-4 relu fc-{in} sigmoid }"),
    st.just("@s dwconv3 relu add(@s)"),
    st.just("prelu lrn dropout"),
)
DOWN = st.sampled_from(["conv3-16/2 bn relu", "maxpool", "avgpool3/2(pad=1)", "dwconv3/2 relu",
                        "residual(shortcut=pad) { conv3-32/2 bn relu conv3-32 bn } relu"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.lists(STAGES, min_size=1, max_size=3), down=DOWN, second=st.lists(STAGES, max_size=3),
       head=st.sampled_from(["gap fc-10", "flatten fc-10", "adaptive_avgpool-2x2 fc-5", "conv1-3"]))
def test_generated_networks_match_torch(first, down, second, head):
    body = " ".join([down] + first + second)
    for i in range(body.count("@s ")):  # each saved tensor gets its own name
        body = body.replace("@s ", f"@s{i} ", 1).replace("add(@s)", f"add(@s{i})", 1)
    # the stem fixes the channels at 16 before the one downsampling; later stages keep a multiple of 4
    assert_same(f"network g\ninput 3x16x16\nconv3-16 relu {body} {head}\n")


@pytest.mark.parametrize("name", ["keras_mnist", "lenet5", "resnet20"])
def test_small_zoo_networks_match_torch(name):
    network = netspec.load(name)
    a = analyze(network)
    assert (a.macs, a.trainable_params, a.non_trainable_params, a.output_shape) == torch_figures(network)
