"""Exactness against torchvision: same logits after importing the torchvision model's weights.

Skipped where torchvision is not importable; run with the torchvision venv:
    .venv-tv/bin/python -m pytest -q -s tests/test_torch_torchvision.py
(-s prints the measured max abs difference per model).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import netspec
from netspec.frontend import zoo_dir

torch = pytest.importorskip("torch")
tv = pytest.importorskip("torchvision")

pytestmark = pytest.mark.torchvision

# spec name -> (torchvision constructor keyword arguments, input for the test: small where the model allows)
COUNTERPARTS = {
    "alexnet": ({}, "3x64x64"),
    "vgg11": ({}, "3x32x32"), "vgg13": ({}, "3x32x32"), "vgg16": ({}, "3x32x32"), "vgg19": ({}, "3x32x32"),
    "vgg11_bn": ({}, "3x32x32"), "vgg13_bn": ({}, "3x32x32"), "vgg16_bn": ({}, "3x32x32"),
    "vgg19_bn": ({}, "3x32x32"),
    "googlenet": ({"aux_logits": True, "init_weights": True, "transform_input": False}, "3x64x64"),
    "inception_v3": ({"aux_logits": True, "init_weights": True, "transform_input": False}, "3x299x299"),
    "resnet18": ({}, "3x64x64"), "resnet34": ({}, "3x64x64"), "resnet50": ({}, "3x64x64"),
    "resnet101": ({}, "3x64x64"), "resnet152": ({}, "3x64x64"),
    "densenet121": ({}, "3x64x64"), "densenet161": ({}, "3x64x64"), "densenet169": ({}, "3x64x64"),
    "densenet201": ({}, "3x64x64"),
    "mobilenet_v2": ({}, "3x64x64"),
    "squeezenet1_0": ({}, "3x64x64"), "squeezenet1_1": ({}, "3x64x64"),
    "resnext50_32x4d": ({}, "3x64x64"), "resnext101_32x8d": ({}, "3x64x64"), "wide_resnet50_2": ({}, "3x64x64"),
    "regnet_x_400mf": ({}, "3x64x64"), "regnet_y_400mf": ({}, "3x64x64"),
    "mnasnet1_0": ({}, "3x64x64"),
    "shufflenet_v2_x1_0": ({}, "3x64x64"),
    "mobilenet_v3_large": ({}, "3x64x64"), "mobilenet_v3_small": ({}, "3x64x64"),
    "convnext_tiny": ({}, "3x64x64"),
    "efficientnet_b0": ({}, "3x64x64"), "efficientnet_b3": ({}, "3x64x64"), "efficientnet_v2_s": ({}, "3x64x64"),
}
ZOO = {p.stem for p in Path(zoo_dir()).glob("*.net")}
NAMES = [n for n in COUNTERPARTS if n in ZOO]


def randomise_bn(model: torch.nn.Module, seed: int = 0) -> None:
    """Running statistics away from (0, 1), so a misplaced batch norm changes the logits."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)


@pytest.mark.parametrize("name", NAMES)
def test_same_logits_as_torchvision(name):
    from netspec.backends.torch import build, load_weights

    kwargs, size = COUNTERPARTS[name]
    torch.manual_seed(0)
    reference = getattr(tv.models, name)(weights=None, **kwargs).eval()
    randomise_bn(reference)
    model = build(netspec.load(name, input=size), init="skip").eval()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters())
    report = load_weights(model, reference.state_dict())
    assert report.ok
    x = torch.randn(2, *[int(d) for d in size.split("x")], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = reference(x), model(x)
    diff = (expected - got).abs().max().item()
    scale = expected.abs().max().item()
    print(f"\n{name}: input {size}, max |logit| {scale:.3g}, max abs diff {diff:.3g}, moved {len(report.moved)}")
    assert diff < 1e-6  # exact in practice (0); 1e-4 would let a wrong batch-norm eps (~9e-5 here) through


@pytest.mark.parametrize("name", [n for n in ("googlenet",) if n in ZOO])
def test_side_outputs_match_torchvision_aux_heads_in_training(name):
    """Training mode: (main, aux...) equal torchvision's; dropout masks drawn in the same order."""
    from netspec.backends.torch import build, load_weights

    kwargs, size = COUNTERPARTS[name]
    reference = getattr(tv.models, name)(weights=None, **kwargs).train()
    model = build(netspec.load(name, input="3x64x64"), init="skip").train()
    load_weights(model, reference.state_dict())
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    expected = reference(x)
    torch.manual_seed(5)
    got = model(x)
    assert got._fields == ("main", "aux1", "aux2")
    torch.testing.assert_close(got.main, expected.logits, rtol=0, atol=1e-4)
    torch.testing.assert_close(got.aux1, expected.aux_logits1, rtol=0, atol=1e-4)
    torch.testing.assert_close(got.aux2, expected.aux_logits2, rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", [n for n in ("resnet18", "googlenet", "densenet121", "mobilenet_v2") if n in ZOO])
def test_inference_optimised_model_stays_close_to_torchvision(name):
    """Folded, fused, buffered and channels_last: float32 rounding of the folded weights only."""
    from netspec.backends.torch import build

    kwargs, size = COUNTERPARTS[name]
    torch.manual_seed(0)
    reference = getattr(tv.models, name)(weights=None, **kwargs).eval()
    randomise_bn(reference)
    fast = build(netspec.load(name, input=size), weights=reference.state_dict(), optimize="inference",
                 channels_last=True)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules()) or name == "densenet121"
    x = torch.randn(2, *[int(d) for d in size.split("x")], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = reference(x), fast(x)
    diff = (expected - got).abs().max().item()
    print(f"\n{name} optimised: max abs diff {diff:.3g} (max |logit| {expected.abs().max().item():.3g})")
    assert diff < 1e-4 * max(1.0, expected.abs().max().item())
