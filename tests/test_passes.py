"""Inference passes: the IR they produce (torch-free checks), then equal outputs after building."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from netspec import ir
from netspec.passes import buffer_dense, fold_bn, fuse_1x1

from test_torch_ir import tiny_densenet, tiny_inception, tiny_resnet


def kinds(network):
    return [n.kind for n in ir.layers(network.body)]


def test_passes_do_not_import_torch():
    code = ("import sys; from netspec.passes import INFERENCE_PASSES; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fold_bn_structure():
    net = tiny_resnet()
    folded = fold_bn(net)
    # every conv in the tiny resnet is followed by a bn: 6 convs, 6 bns
    assert kinds(net).count("batchnorm") == 6 and kinds(folded).count("batchnorm") == 0
    convs = [n for n in ir.layers(folded.body) if isinstance(n, ir.Conv)]
    assert len(convs) == 6 and all(c.kind == "folded_conv" and c.bias for c in convs)
    assert convs[0].folded.path == "stem.bn"
    assert folded.output_shape == net.output_shape
    assert folded.spec_hash != net.spec_hash
    # densenet: each layer's norm2 follows its 1x1 conv (folded); norm1 and the final norm follow
    # a concat, so they stay: 3 layers x 2 + 1 = 7 before, 3 + 1 = 4 after
    dense = fold_bn(tiny_densenet())
    assert kinds(tiny_densenet()).count("batchnorm") == 7 and kinds(dense).count("batchnorm") == 4


def test_fuse_1x1_structure():
    net = fold_bn(tiny_inception())
    fused = fuse_1x1(net)
    cat = fused.body.children[0]
    assert isinstance(cat, ir.FusedConcat)
    conv = cat.stem.children[0]
    assert isinstance(conv, ir.FusedConv)
    # branches 1-3 open with 1x1 convs of 4, 6 and 2 channels; branch 4 opens with a pool
    assert cat.splits == (4, 6, 2) and conv.out_channels == 12 and cat.parts == (0, 1, 2, None)
    assert [c.kind for c in cat.stem.children] == ["fused_conv", "activation"]  # the shared relu moved in
    assert [p.kind for p in conv.parts] == ["folded_conv"] * 3
    assert cat.branches[0].children == ()
    assert cat.branches[1].in_shape == (6, 8, 8)
    assert cat.out_shape == net.body.children[0].out_shape


def test_buffer_dense_structure():
    net = buffer_dense(tiny_densenet())
    assert isinstance(net.body.children[0], ir.BufferedDense)
    assert net.body.children[0].layers == tiny_densenet().body.children[0].layers


# ---------------------------------------------------------------- pass output is real IR


# every network of the zoo (the libraries of blocks aside)
ZOO_PASSES = sorted(p.stem for p in (Path(__file__).parent.parent / "specs").glob("*.net"))


def optimised(net):
    return buffer_dense(fuse_1x1(fold_bn(net)))


def test_analysis_counts_the_fused_stem():
    """Regression: a fused concat's stem was skipped (it said kind="concat"), and GoogLeNet lost 19% of its MACs.

    Folding moves batch-norm parameters into conv biases and fusing stacks 1x1 convs, so the MACs of
    conv and fc layers, the figure torchvision publishes, must not move at all.
    """
    from netspec import load
    from netspec.analysis import analyze

    net = load("googlenet")
    before, after = analyze(net), analyze(fuse_1x1(fold_bn(net)))
    assert before.macs == after.macs == 1_498_376_192
    convs = lambda n: sum(1 for x in ir.layers(n.body) if isinstance(x, ir.Conv))  # noqa: E731
    # 3 stem convs, 6 per inception module, 1 per auxiliary head; fusing makes 3 branch 1x1s one
    assert convs(net) == 3 + 9 * 6 + 2 and convs(fuse_1x1(fold_bn(net))) == 3 + 9 * 4 + 2
    # every conv the analysis lists is one the IR holds
    assert sum(r.kind in ("conv", "folded_conv", "fused_conv") for r in after.leaves()) == convs(fuse_1x1(fold_bn(net)))


@pytest.mark.parametrize("name", ZOO_PASSES)
def test_json_round_trip_before_and_after_passes(name):
    """Regression: pass nodes fell outside the IR's union, so JSON dropped `stem`, `folded` and `parts`."""
    from netspec import load
    from netspec.analysis import analyze

    for net in (load(name), optimised(load(name))):
        back = ir.Network.model_validate_json(net.model_dump_json())
        assert back == net
        assert [n.kind for n in ir.walk(back.body)] == [n.kind for n in ir.walk(net.body)]
        a, b = analyze(net), analyze(back)
        assert (a.params, a.macs, a.activation_elements) == (b.params, b.macs, b.activation_elements)
        for node in ir.walk(back.body):  # every branch reads what its concat was given, or its slice
            if node.kind == "fused_concat":
                for part, branch in zip(node.parts, node.branches):
                    expect = node.in_shape if part is None else (node.splits[part], *node.stem.out_shape[1:])
                    assert tuple(branch.in_shape) == tuple(expect)


def test_rewrite_sees_every_sub_node():
    """One traversal: a rewrite reaches the layers inside a fused stem too."""
    from netspec import load
    from netspec.passes.rewrite import rewrite_network

    net = optimised(load("googlenet"))
    seen = []
    rewrite_network(net, lambda n: seen.append(n.path) or n, "probe")
    assert sorted(seen) == sorted(n.path for n in ir.walk(net.body))


torch = pytest.importorskip("torch")


def randomise_bn(model, seed=0):
    """Non-trivial running statistics and affine parameters, so folding has something to fold."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(torch.randn(m.bias.shape, generator=g))
    return model.eval()


@pytest.mark.parametrize("make", [tiny_resnet, tiny_inception, tiny_densenet])
@pytest.mark.parametrize("passes", [("fold_bn",), ("fuse_1x1",), ("buffer_dense",),
                                    ("fold_bn", "fuse_1x1", "buffer_dense")])
def test_each_pass_keeps_outputs(make, passes):
    from netspec.backends.torch import build, optimize_for_inference

    model = randomise_bn(build(make(), seed=0))
    fast = optimize_for_inference(model, passes)
    x = torch.randn(3, *model.network.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-5)
        fast_cl = fast.to(memory_format=torch.channels_last)
        torch.testing.assert_close(fast_cl(x.contiguous(memory_format=torch.channels_last)), model(x),
                                   rtol=1e-4, atol=1e-5)


def test_fused_module_has_fewer_convs():
    from netspec.backends.torch import build, optimize_for_inference

    model = build(tiny_inception(), seed=0)
    fast = optimize_for_inference(model)
    count = lambda m: sum(isinstance(x, torch.nn.Conv2d) for x in m.modules())  # noqa: E731
    assert count(model) == 6 and count(fast) == 4  # three 1x1 convs became one
    assert sum(isinstance(x, torch.nn.BatchNorm2d) for x in fast.modules()) == 0
