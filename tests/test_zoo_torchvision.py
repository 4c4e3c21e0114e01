"""The zoo against torchvision's own models, read from the IR alone (no netspec backend involved).

For every spec that reproduces a torchvision model: the tensors the IR's layers define, in
definition order, have the shapes of torchvision's state_dict in its order (which is what
lets its weights load by structure), and the analysis' MACs equal a count taken with forward
hooks on torchvision's model. The same holds for what torchvision builds but does not
publish: DenseNet-264 from its DenseNet class, and the zoo's --set overrides (Wide
ResNet-50-2 from resnet50, ResNeXt-101 64x4d, MNASNet 0.5 and 1.3, MobileNetV2 at width 0.5,
DenseNet-121 with k = 12). Models are built on the
meta device: shapes only, no memory, no arithmetic.

Skipped where torchvision is not importable; run with the torchvision venv:
    .venv-tv/bin/python -m pytest -q tests/test_zoo_torchvision.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

import netspec
from netspec.analysis import analyze
from netspec.ir import layers, walk

torch = pytest.importorskip("torch")
tv = pytest.importorskip("torchvision")

pytestmark = pytest.mark.torchvision

ZOO = Path(__file__).resolve().parents[1] / "specs"
AUX = {"aux_logits": True, "init_weights": False}


def densenet(k, blocks, init):
    from torchvision.models.densenet import DenseNet

    return lambda: DenseNet(growth_rate=k, block_config=blocks, num_init_features=init)


# spec, --set overrides, torchvision constructor
CASES = {
    "alexnet": ("alexnet", {}, lambda: tv.models.alexnet()),
    **{n: (n, {}, (lambda n=n: getattr(tv.models, n)())) for n in (
        "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
        "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
        "densenet121", "densenet169", "densenet201", "densenet161", "mobilenet_v2", "squeezenet1_0",
        "squeezenet1_1", "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "regnet_x_400mf",
        "mnasnet1_0", "regnet_y_400mf", "shufflenet_v2_x1_0", "mobilenet_v3_large", "mobilenet_v3_small",
        *(f"efficientnet_b{i}" for i in range(8)), "efficientnet_v2_s")},
    "mobilenet_v3_large_0.75": ("mobilenet_v3_large", {"width": 0.75},
                                lambda: tv.models.mobilenet_v3_large(width_mult=0.75)),
    "googlenet": ("googlenet", {}, lambda: tv.models.googlenet(**AUX)),
    "inception_v3": ("inception_v3", {}, lambda: tv.models.inception_v3(**AUX)),
    "densenet264": ("densenet264", {}, densenet(32, (6, 12, 64, 48), 64)),
    "resnet50_width128": ("resnet50", {"width": 128}, lambda: tv.models.wide_resnet50_2()),
    "resnext101_64x4d": ("resnext101_32x8d", {"groups": 64, "width": 4}, lambda: tv.models.resnext101_64x4d()),
    "mnasnet0_5": ("mnasnet1_0", {"width": 0.5}, lambda: tv.models.mnasnet0_5()),
    "mnasnet1_3": ("mnasnet1_0", {"width": 1.3}, lambda: tv.models.mnasnet1_3()),
    **{f"shufflenet_v2_x{w}": ("shufflenet_v2_x1_0", {"width": float(w.replace("_", "."))},
                                (lambda w=w: getattr(tv.models, f"shufflenet_v2_x{w}")())) for w in ("0_5", "1_5", "2_0")},
    "convnext_tiny": ("convnext_tiny", {}, lambda: tv.models.convnext_tiny()),
    "convnext_small": ("convnext_tiny", {"depths": [3, 3, 27, 3], "sd": 0.4}, lambda: tv.models.convnext_small()),
    "convnext_base": ("convnext_tiny", {"depths": [3, 3, 27, 3], "widths": [128, 256, 512, 1024], "sd": 0.5},
                      lambda: tv.models.convnext_base()),
    "mobilenet_v2_0.5": ("mobilenet_v2", {"width": 0.5}, lambda: tv.models.mobilenet_v2(width_mult=0.5)),
    "densenet121_k12": ("densenet121", {"k": 12}, densenet(12, (6, 12, 24, 16), 24)),
    "resnet18_10": ("resnet18", {"num_classes": 10}, lambda: tv.models.resnet18(num_classes=10)),
}


# torchvision's RegNet blocks define their projection shortcut (`proj`) before the body (`f`);
# the spec's `residual` puts it after, as ResNet's `downsample` is. The weights still load (the
# matcher pairs the projections out of order, tests/test_torch_torchvision.py checks the logits).
# torchvision's ConvNeXt blocks hold their layer scale as the block's own parameter, so it comes
# before the block's layers in the state_dict; the spec's layer_scale layer stands where it acts.
DEFINED_FIRST = {"regnet_x_400mf", "regnet_y_400mf", "convnext_tiny"}


# torchvision computes RegNet's stage table with tensors, which the meta device cannot read
# back: that model is built on the CPU (5.5 M parameters).
ON_CPU = {"regnet_x_400mf", "regnet_y_400mf"}


def build_meta(make, device="meta"):
    with torch.device(device):
        return make().eval()


def tensor_shapes(node) -> list[tuple]:
    """The tensors torch keeps for the layers under `node`, in definition order, as shapes."""
    out = []
    for n in layers(node):
        if n.kind == "conv":
            kh, kw = n.kernel
            out.append((n.out_channels, n.in_channels // n.groups, kh, kw))
            out += [(n.out_channels,)] if n.bias else []
        elif n.kind == "linear":
            out.append((n.out_features, n.in_features))
            out += [(n.out_features,)] if n.bias else []
        elif n.kind == "batchnorm":
            out += [(n.num_features,)] * 4  # weight, bias, running_mean, running_var
        elif n.kind == "activation" and n.fn == "prelu":
            out.append((n.num_parameters,))
        elif n.kind == "deconv":
            kh, kw = n.kernel
            out.append((n.in_channels, n.out_channels // n.groups, kh, kw))
            out += [(n.out_channels,)] if n.bias else []
        elif n.kind == "layernorm":
            out += [(n.num_features,)] * 2  # weight, bias
        elif n.kind == "layer_scale":
            out.append((n.channels, 1, 1) if len(n.in_shape) == 3 else (n.channels,))
    return out


def plain(shape: tuple) -> tuple:
    """A 1x1 conv's weight as the linear layer's it imports from (ConvNeXt's nn.Linear on channels last)."""
    return shape[:2] if len(shape) == 4 and shape[2:] == (1, 1) else shape


def state_shapes(module) -> list[tuple]:
    return [tuple(t.shape) for k, t in module.state_dict().items() if not k.endswith("num_batches_tracked")]


def hooked_macs(model, input_shape) -> int:
    """Multiply-accumulates of every conv and linear in a forward pass: torchvision's `_ops` convention."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            total += output[0].numel() * module.in_channels // module.groups * kh * kw
        elif isinstance(module, torch.nn.Linear):  # once per position: ConvNeXt's run on channels-last maps
            total += output[0].numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    with torch.no_grad():
        model(torch.zeros(1, *input_shape, device=next(model.parameters()).device))
    for h in hooks:
        h.remove()
    return total


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_tensors_in_the_same_order_and_same_macs(case):
    spec, overrides, make = CASES[case]
    net = netspec.load(ZOO / f"{spec}.net", params=overrides)
    reference = build_meta(make, "cpu" if case in ON_CPU else "meta")

    sides = [n for n in walk(net.body) if n.kind == "side"]
    if spec == "googlenet":
        # torchvision defines aux1 and aux2 after inception5b; the spec places them beside the
        # blocks they read. The main path matches its aux-less model, each side its aux module.
        main = build_meta(lambda: tv.models.googlenet(aux_logits=False, init_weights=False))
        side_ids = {id(x) for s in sides for x in walk(s)}
        ours_main = tensor_shapes(net.body.model_copy(update={"children": tuple(
            c for c in net.body.children if id(c) not in side_ids)}))
        assert ours_main == state_shapes(main)
        for s in sides:
            assert tensor_shapes(s) == state_shapes(getattr(reference, s.output)), s.output
    elif spec in DEFINED_FIRST:  # (convnext_small and _base are convnext_tiny's spec)
        # the same tensors, but each projection shortcut comes before its block's body
        assert sorted(map(plain, tensor_shapes(net.body))) == sorted(map(plain, state_shapes(reference)))
    else:
        assert tensor_shapes(net.body) == state_shapes(reference)

    assert analyze(net).trainable_params == sum(p.numel() for p in reference.parameters())
    # torchvision's auxiliary heads run only in training mode: eval-mode MACs leave them out, as the analysis does
    assert analyze(net).macs == hooked_macs(reference, net.input_shape)


def test_bn_momentum_follows_mnasnet():
    # MNASNet's batch norms use the reference code's decay 0.9997: running statistics move as torchvision's
    net = netspec.load(ZOO / "mnasnet1_0.net")
    ref = build_meta(lambda: tv.models.mnasnet1_0())
    ours = [n.momentum for n in walk(net.body) if n.kind == "batchnorm"]
    theirs = [m.momentum for m in ref.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert ours == theirs and set(theirs) == {1 - 0.9997}


def test_bn_eps_and_ceil_mode_follow_torchvision():
    net = netspec.load(ZOO / "googlenet.net")
    ref = build_meta(lambda: tv.models.googlenet(**AUX))
    ours = [n.eps for n in walk(net.body) if n.kind == "batchnorm"]
    theirs = [m.eps for m in ref.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert sorted(set(ours)) == sorted(set(theirs)) == [0.001]
    assert len(ours) == len(theirs)
    ceil_ours = [n.ceil_mode for n in walk(net.body) if n.kind == "pool" and n.mode == "max"]
    ceil_theirs = [m.ceil_mode for m in ref.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert sorted(ceil_ours) == sorted(ceil_theirs) and all(ceil_ours)


@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_b4", "efficientnet_b7", "efficientnet_v2_s"])
def test_stochastic_depth_probabilities_follow_torchvision(name):
    # torchvision raises p linearly with the block's index over all blocks: its StochasticDepth
    # modules, in order, against the spec's drop_path layers (its non-residual blocks keep one unused)
    from torchvision.ops import StochasticDepth

    reference = build_meta(lambda: getattr(tv.models, name)())
    theirs = [m.p for m in reference.modules() if isinstance(m, StochasticDepth)]
    blocks = [m for m in reference.features.modules() if type(m).__name__ in ("MBConv", "FusedMBConv")]
    used = [b.stochastic_depth.p for b in blocks if b.use_res_connect]
    ours = [n.p for n in layers(netspec.load(ZOO / f"{name}.net").body) if n.kind == "drop_path"]
    assert len(theirs) == len(blocks) and ours == used and max(theirs) < 0.2


@pytest.mark.parametrize("name, eps", [("efficientnet_v2_s", 1e-3), ("efficientnet_b0", 1e-5)])
def test_bn_eps_follows_efficientnet(name, eps):
    # V2 builds every batch norm with eps 1e-3, V1 with torch's 1e-5: the spec passes eps to the family block
    net = netspec.load(ZOO / f"{name}.net")
    ref = build_meta(lambda: getattr(tv.models, name)())
    ours = [n.eps for n in walk(net.body) if n.kind == "batchnorm"]
    theirs = [m.eps for m in ref.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert ours == theirs and set(theirs) == {eps}


def test_efficientnet_v2_s_fuses_its_first_three_stages():
    # torchvision's stages 1-3 are FusedMBConv (no depthwise conv, no squeeze-excitation), 4-6 MBConv
    ref = build_meta(lambda: tv.models.efficientnet_v2_s())
    kinds = [type(stage[0]).__name__ for stage in ref.features[1:-1]]
    assert kinds == ["FusedMBConv"] * 3 + ["MBConv"] * 3
    net = netspec.load(ZOO / "efficientnet_v2_s.net")
    blocks = [n.block for n in walk(net.body) if n.kind == "seq" and n.block in ("mbconv", "fused_mbconv")]
    assert blocks == ["fused_mbconv"] * (2 + 4 + 4) + ["mbconv"] * (6 + 9 + 15)
