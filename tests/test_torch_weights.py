"""Weights: structural import of foreign state_dicts, netspec's own safetensors format, safe loading."""

from __future__ import annotations

import pytest

import netspec

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from test_torch_ir import tiny_resnet  # noqa: E402


class HandWritten(nn.Module):
    """tiny_resnet written by hand with torchvision's names: the import must not rely on names."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8)
        self.a_conv1, self.a_bn1 = nn.Conv2d(8, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8)
        self.a_conv2, self.a_bn2 = nn.Conv2d(8, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8)
        self.b_conv1, self.b_bn1 = nn.Conv2d(8, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16)
        self.b_conv2, self.b_bn2 = nn.Conv2d(16, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)
        self.b_down = nn.Sequential(nn.Conv2d(8, 16, 1, 2, bias=False), nn.BatchNorm2d(16))
        self.classifier = nn.Linear(16, 10)

    def forward(self, x):
        r = torch.relu
        x = r(self.bn1(self.conv1(x)))
        x = r(self.a_bn2(self.a_conv2(r(self.a_bn1(self.a_conv1(x))))) + x)
        x = r(self.b_bn2(self.b_conv2(r(self.b_bn1(self.b_conv1(x))))) + self.b_down(x))
        return self.classifier(x.mean((2, 3)))


def randomised(module: nn.Module) -> nn.Module:
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for t in module.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    return module.eval()


def test_foreign_state_dict_by_structure():
    from netspec.backends.torch import build, load_weights

    ref = randomised(HandWritten())
    model = build(tiny_resnet(), init="skip").eval()
    report = load_weights(model, ref.state_dict())
    assert report.ok and len(report.matched) == 13 and not report.moved
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x))


def test_mismatch_is_reported_by_name_and_shape():
    from netspec.backends.torch import WeightsError, build, load_weights

    state = randomised(HandWritten()).state_dict()
    state["classifier.weight"] = torch.zeros(12, 16)
    state["classifier.bias"] = torch.zeros(12)
    model = build(tiny_resnet(), seed=0)
    with pytest.raises(WeightsError) as info:
        load_weights(model, state)
    text = str(info.value)
    assert "ours:   fc (weight [10, 16], bias [10])" in text
    assert "theirs: classifier (weight [12, 16], bias [12])" in text
    before = model.get_submodule("fc").weight.clone()
    report = load_weights(model, state, strict=False)  # everything else still loads
    assert len(report.matched) == 12 and report.missing and report.unexpected
    assert torch.equal(model.get_submodule("fc").weight, before)
    assert torch.equal(model.get_submodule("stem.conv").weight, state["conv1.weight"])


def test_count_mismatch_is_reported():
    from netspec.backends.torch import WeightsError, build, load_weights

    state = randomised(HandWritten()).state_dict()
    del state["b_down.0.weight"]
    with pytest.raises(WeightsError, match="found nothing of the same shape"):
        load_weights(build(tiny_resnet(), seed=0), state)


def test_own_format_round_trip_and_refusal(tmp_path):
    from netspec.backends.torch import WeightsError, build, load_weights, save_weights
    from safetensors import safe_open

    net = tiny_resnet()
    model = randomised(build(net, seed=0))
    path = save_weights(model, tmp_path / "w.safetensors")
    with safe_open(str(path), framework="pt") as f:
        assert f.metadata()["netspec.spec_hash"] == net.spec_hash
    other = build(tiny_resnet(), init="skip")
    load_weights(other, path)
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v)
    # same layer shapes but a different spec hash: a different architecture, refused in plain words
    different = build(tiny_resnet().model_copy(update={"rewritten_hash": "another"}), seed=0)
    with pytest.raises(WeightsError, match="a different architecture"):
        load_weights(different, path)
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]


def test_checkpoint_files_load_safely(tmp_path):
    from netspec.backends.torch import WeightsError, build, load_weights

    ref = randomised(HandWritten())
    torch.save({"epoch": 3, "state_dict": ref.state_dict()}, tmp_path / "ckpt.pt")
    model = build(tiny_resnet(), init="skip").eval()
    assert load_weights(model, tmp_path / "ckpt.pt").ok
    torch.save({"model": HandWritten}, tmp_path / "pickled_class.pt")  # not plain tensors: refused
    with pytest.raises(WeightsError, match="weights_only"):
        load_weights(model, tmp_path / "pickled_class.pt")
    with pytest.raises(WeightsError, match="no such weights file"):
        load_weights(model, tmp_path / "missing.pt")


def test_build_with_weights_and_zoo_spec(tmp_path):
    from netspec.backends.torch import build, save_weights

    spec = "network small\ninput 3x16x16\nconv3-4(after=[bn relu]) gap fc-5"
    a = randomised(build(spec, seed=1))
    path = save_weights(a, tmp_path / "small.safetensors")
    b = build(spec, weights=path).eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x))
    assert netspec.build(spec, seed=1).network.name == "small"
