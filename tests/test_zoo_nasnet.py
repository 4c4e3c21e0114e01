"""NASNet-A Mobile against timm's NASNet cells, built at the mobile settings.

timm has only NASNet-A Large (6 @ 4032), whose module fixes six cells per stage, but its cells
(CellStem0, CellStem1, FirstCell, NormalCell, ReductionCell0/1) take their widths as arguments.
Assembled as the TF-slim reference's build_nasnet_mobile does (stem 32, 44 filters, 4 cells per
stage, penultimate 1056), they are an independent implementation to hold the spec against:
parameters, batch-norm statistics and MACs exactly, and the logits after copying the weights
across. timm is built with torch's symmetric padding (pad_type ''), as the spec is.

Skipped where timm is not importable.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

import netspec
from netspec.analysis import analyze

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
nn = torch.nn

SPEC = Path(__file__).resolve().parents[1] / "specs" / "nasnet_a_mobile.net"


def timm_nasnet_a(stem: int = 32, num_features: int = 1056, cells: int = 4, num_classes: int = 1000) -> nn.Module:
    """NASNet-A "cells @ num_features" from timm's cells, wired as NASNetALarge.forward_features wires them."""
    from timm.layers import ConvNormAct
    from timm.models import nasnet as t

    c = num_features // 24  # the filters of the first stage; x2 after each reduction

    class NASNetA(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv0 = ConvNormAct(3, stem, kernel_size=3, padding=0, stride=2,
                                     norm_layer=partial(nn.BatchNorm2d, eps=0.001), apply_act=False)
            self.cell_stem_0 = t.CellStem0(stem, num_channels=c // 4, pad_type="")
            self.cell_stem_1 = t.CellStem1(stem, num_channels=c // 2, pad_type="")
            cells_ = []
            for s, w in enumerate((c, 2 * c, 4 * c)):
                if s > 0:  # reduction cells read two normal cells' outputs (6 * w/2 channels each)
                    reduction = t.ReductionCell0 if s == 1 else t.ReductionCell1
                    cells_.append(reduction(3 * w, w, 3 * w, w, pad_type=""))
                x_prev, x = (c, 2 * c) if s == 0 else (3 * w, 4 * w)  # stem cells' outputs, or around a reduction
                cells_.append(t.FirstCell(x_prev, w // 2, x, w, pad_type=""))
                cells_.append(t.NormalCell(x, w, 6 * w, w, pad_type=""))
                cells_ += [t.NormalCell(6 * w, w, 6 * w, w, pad_type="") for _ in range(cells - 2)]
            self.cells = nn.ModuleList(cells_)
            self.act = nn.ReLU()
            self.last_linear = nn.Linear(24 * c, num_classes)

        def forward(self, x):
            x_conv0 = self.conv0(x)
            prev = self.cell_stem_0(x_conv0)
            cur = self.cell_stem_1(x_conv0, prev)
            for cell in self.cells:
                prev, cur = cur, cell(cur, prev)
            return self.last_linear(self.act(cur).mean((2, 3)))

    return NASNetA()


def stateful_leaves(module: nn.Module) -> list[nn.Module]:
    """The modules holding tensors of their own, in definition order (timm's conv0 norm is a BatchNormAct2d)."""
    return [m for m in module.modules() if list(m.parameters(recurse=False)) or list(m.buffers(recurse=False))]


def in_spec_order(reference: nn.Module) -> list[nn.Module]:
    """timm's layers in the order the spec defines them. The one difference: the spec reduces x_prev
    (factorized reduction) as the pair [x ; x_prev] is passed on, so CellStem1's and each FirstCell's
    path_1, path_2 and final_path_bn come before the cell's own conv_1x1."""
    from timm.models import nasnet as t

    out = []
    for child in [reference.conv0, reference.cell_stem_0, reference.cell_stem_1, *reference.cells,
                  reference.last_linear]:
        layers = stateful_leaves(child)
        if isinstance(child, (t.CellStem1, t.FirstCell)):
            reduce = stateful_leaves(child.path_1) + stateful_leaves(child.path_2) + [child.final_path_bn]
            layers = reduce + [m for m in layers if all(m is not r for r in reduce)]
        out += layers
    return out


def hooked_macs(model: nn.Module, size: int) -> int:
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += output[0].numel() * module.in_channels // module.groups * kh * kw
        elif isinstance(module, nn.Linear):
            total += output[0].numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    return total


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(0)
    return timm_nasnet_a().eval()


def test_counts_equal_timms_cells(reference):
    a = analyze(netspec.load(SPEC))
    assert a.trainable_params == sum(p.numel() for p in reference.parameters()) == 5_289_978
    statistics = sum(t.numel() for k, t in reference.state_dict().items() if k.endswith(("running_mean", "running_var")))
    assert a.non_trainable_params == statistics
    assert a.trainable_params + statistics == 5_326_716  # the TF-slim reference's count
    assert a.macs == hooked_macs(reference, 224)


def test_large_settings_give_timms_nasnetalarge_parameters():
    # timm's nasnetalarge is NASNet-A 6 @ 4032 (stem 96); the spec's parameters reach its tensors' counts
    net = netspec.load(SPEC, params={"cells": 6, "filters": 168, "stem": 96}, input="3x331x331")
    with torch.device("meta"):
        large = timm.create_model("nasnetalarge", pretrained=False)
    a = analyze(net)
    assert a.trainable_params == sum(p.numel() for p in large.parameters()) == 88_753_150
    assert a.non_trainable_params == sum(t.numel() for k, t in large.state_dict().items()
                                         if k.endswith(("running_mean", "running_var")))


def test_same_logits_as_timms_cells(reference):
    from netspec.backends.torch import build

    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # batch norms away from the identity, so a misplaced one changes the logits
        for m in reference.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    model = build(netspec.load(SPEC), init="skip").eval()
    ours, theirs = stateful_leaves(model), in_spec_order(reference)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert isinstance(b, type(a))  # BatchNormAct2d is a BatchNorm2d
        assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}
        a.load_state_dict(b.state_dict())
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = reference(x), model(x)
    diff = (expected - got).abs().max().item()
    print(f"\nnasnet_a_mobile: max |logit| {expected.abs().max().item():.3g}, max abs diff {diff:.3g}")
    assert diff < 1e-6  # exact in practice (0); 1e-4 would let a wrong batch-norm eps (~9e-5 here) through
