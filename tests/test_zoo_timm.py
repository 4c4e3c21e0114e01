"""The zoo's timm models against timm itself: Inception-v4 and Inception-ResNet-v2, which torchvision lacks.

For each: the tensors the IR's layers define, in definition order, have the shapes of timm's state_dict
in its order (which is what lets timm's weights load by structure); the parameter count and the
analysis' MACs equal timm's (conv and linear multiply-accumulates counted with forward hooks at
299x299: the figures tests/test_zoo.py pins); every batch norm has timm's eps and every average pool
leaves its padding out as timm's; and after importing timm's weights, with the batch-norm statistics
randomised first so that a tensor in the wrong place shows, the logits agree in eval mode, as built
and with the inference passes.

Skipped where timm is not importable; run with a venv that has torchvision and timm:
    .venv-tv/bin/pip install timm
    .venv-tv/bin/python -m pytest -q -s tests/test_zoo_timm.py
(-s prints the measured max abs difference per model).
"""

from __future__ import annotations

import pytest

import netspec
from netspec.analysis import analyze
from netspec.ir import layers

timm = pytest.importorskip("timm")
torch = pytest.importorskip("torch")

from test_torch_torchvision import randomise_bn  # noqa: E402
from test_zoo_torchvision import build_meta, hooked_macs, state_shapes, tensor_shapes  # noqa: E402

pytestmark = pytest.mark.timm

NAMES = ["inception_v4", "inception_resnet_v2"]
# Both take 75x75 at the least (a 1x1 grid at the end); at 139x139 the last grid is 3x3, so the 1x3
# and 3x1 convs' padding and the average pools' count_include_pad=False act on its borders.
SIZE = "3x139x139"


@pytest.fixture(scope="module")
def reference():
    """timm's model with its own initialisation and randomised batch-norm statistics, one per name."""
    cache = {}

    def get(name):
        if name not in cache:
            torch.manual_seed(0)
            model = timm.create_model(name, pretrained=False).eval()
            randomise_bn(model)
            cache[name] = model
        return cache[name]

    return get


def random_input(size: str) -> torch.Tensor:
    return torch.randn(2, *[int(d) for d in size.split("x")], generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", NAMES)
def test_same_tensors_in_the_same_order_and_same_counts(name):
    net = netspec.load(name)
    model = build_meta(lambda: timm.create_model(name))
    assert tensor_shapes(net.body) == state_shapes(model)
    assert tuple(model.pretrained_cfg["input_size"]) == net.input_shape
    a = analyze(net)
    assert a.trainable_params == sum(p.numel() for p in model.parameters())
    assert a.macs == hooked_macs(model, net.input_shape)


@pytest.mark.parametrize("name", NAMES)
def test_bn_eps_and_average_pools_follow_timm(name):
    net = netspec.load(name)
    model = build_meta(lambda: timm.create_model(name))
    ours = [n.eps for n in layers(net.body) if n.kind == "batchnorm"]
    theirs = [m.eps for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert ours == theirs and set(theirs) == {0.001}
    ours = [n.count_include_pad for n in layers(net.body) if n.kind == "pool" and n.mode == "avg"]
    theirs = [m.count_include_pad for m in model.modules() if isinstance(m, torch.nn.AvgPool2d)]
    assert ours == theirs and theirs and not any(theirs)


@pytest.mark.parametrize("name", NAMES)
def test_same_logits_as_timm(name, reference):
    from netspec.backends.torch import build, load_weights
    from netspec.backends.torch.modules import Scale

    ref = reference(name)
    model = build(netspec.load(name, input=SIZE), init="skip").eval()
    report = load_weights(model, ref.state_dict())
    assert report.ok and not report.moved
    x = random_input(SIZE)
    with torch.no_grad():
        expected, got = ref(x), model(x)
    diff = (expected - got).abs().max().item()
    print(f"\n{name}: input {SIZE}, max |logit| {expected.abs().max().item():.3g}, max abs diff {diff:.3g}")
    assert diff < 1e-6  # exact in practice (0); 1e-4 would let a wrong batch-norm eps (~9e-5 here) through
    scales = [m for m in model.modules() if isinstance(m, Scale)]
    if scales:  # the comparison sees the residual scales: one block's 0.17 made 0.1 moves the logits
        assert scales[0].factor == 0.17
        scales[0].factor = 0.1
        with torch.no_grad():
            assert (expected - model(x)).abs().max().item() > 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_inference_optimised_model_stays_close_to_timm(name, reference):
    """Batch norms folded, 1x1 convs fused, channels_last: float32 rounding of the folded weights only."""
    from netspec.backends.torch import build

    ref = reference(name)
    fast = build(netspec.load(name, input=SIZE), weights=ref.state_dict(), optimize="inference",
                 channels_last=True)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    x = random_input(SIZE)
    with torch.no_grad():
        expected, got = ref(x), fast(x)
    diff = (expected - got).abs().max().item()
    print(f"\n{name} optimised: max abs diff {diff:.3g} (max |logit| {expected.abs().max().item():.3g})")
    assert diff < 1e-4 * max(1.0, expected.abs().max().item())
