"""Hand-built IR networks (independent of the front end) and the backend's tests on them.

The factories compute shapes with the textbook formulas, so a wrong shape in the
backend shows up as a mismatch with an independent figure, not with itself.
Other torch/passes tests import these factories.
"""

from __future__ import annotations

import pytest

from netspec import ir

torch = pytest.importorskip("torch")


def conv(path, shape, out, k=3, s=1, pad=None, bias=False, groups=1):
    c, h, w = shape
    kh, kw = (k, k) if isinstance(k, int) else k
    if pad is None:
        pad = (kh // 2, kh // 2, kw // 2, kw // 2)
    t, b, l, r = pad
    oh, ow = (h + t + b - kh) // s + 1, (w + l + r - kw) // s + 1
    return ir.Conv(path=path, in_shape=shape, out_shape=(out, oh, ow), in_channels=c, out_channels=out,
                   kernel=(kh, kw), stride=(s, s), padding=pad, groups=groups, bias=bias)


def bn(path, shape):
    return ir.BatchNorm(path=path, in_shape=shape, out_shape=shape, num_features=shape[0])


def act(path, shape, fn="relu"):
    return ir.Activation(path=path, in_shape=shape, out_shape=shape, fn=fn)


def maxpool(path, shape, k=2, s=2, pad=0):
    c, h, w = shape
    return ir.Pool(path=path, in_shape=shape, out_shape=(c, (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1),
                   mode="max", kernel=(k, k), stride=(s, s), padding=(pad, pad))


def gap(path, shape):
    return ir.AdaptivePool(path=path, in_shape=shape, out_shape=(shape[0], 1, 1), mode="avg", output_size=(1, 1))


def flatten(path, shape):
    n = 1
    for d in shape:
        n *= d
    return ir.Flatten(path=path, in_shape=shape, out_shape=(n,))


def fc(path, features, out, bias=True):
    return ir.Linear(path=path, in_shape=(features,), out_shape=(out,), in_features=features, out_features=out,
                     bias=bias)


def seq(path, *children):
    return ir.Seq(path=path, in_shape=children[0].in_shape, out_shape=children[-1].out_shape, children=children)


def conv_bn_relu(path, shape, out, k=3, s=1):
    c = conv(f"{path}.conv", shape, out, k, s)
    return [c, bn(f"{path}.bn", c.out_shape), act(f"{path}.relu", c.out_shape)]


def basic_block(path, shape, out, s=1):
    """ResNet's basic block: conv-bn-relu-conv-bn + shortcut (1x1 projection when the shape changes)."""
    c1 = conv(f"{path}.conv1", shape, out, 3, s)
    b1 = bn(f"{path}.bn1", c1.out_shape)
    r1 = act(f"{path}.relu1", c1.out_shape)
    c2 = conv(f"{path}.conv2", c1.out_shape, out, 3, 1)
    b2 = bn(f"{path}.bn2", c2.out_shape)
    body = ir.Seq(path=path, in_shape=shape, out_shape=c2.out_shape, children=(c1, b1, r1, c2, b2))
    shortcut = None
    if c2.out_shape != shape:
        sc = conv(f"{path}.shortcut.conv", shape, out, 1, s, pad=(0, 0, 0, 0))
        shortcut = seq(f"{path}.shortcut", sc, bn(f"{path}.shortcut.bn", sc.out_shape))
    res = ir.Residual(path=path, in_shape=shape, out_shape=c2.out_shape, body=body, shortcut=shortcut)
    return [res, act(f"{path}.relu", c2.out_shape)]


def network(name, input_shape, *children, **kw):
    body = ir.Seq(path="", in_shape=input_shape, out_shape=children[-1].out_shape, children=children)
    return ir.Network(name=name, input_shape=input_shape, body=body, **kw)


def tiny_resnet(classes=10, size=16):
    shape = (3, size, size)
    stem = conv_bn_relu("stem", shape, 8)
    s = stem[0].out_shape
    b1 = basic_block("layer1.0", s, 8)
    b2 = basic_block("layer2.0", s, 16, 2)
    s2 = b2[0].out_shape
    head = [gap("pool", s2), flatten("flatten", (16, 1, 1)), fc("fc", 16, classes)]
    return network("tiny_resnet", shape, *stem, *b1, *b2, *head)


def tiny_inception(size=8):
    """A GoogLeNet-style block: 1x1 | 1x1->3x3 | 1x1->5x5 | pool->1x1, each conv with bn+relu."""
    shape = (8, size, size)
    b1 = seq("mix.b1", *conv_bn_relu("mix.b1.a", shape, 4, 1))
    r2 = conv_bn_relu("mix.b2.a", shape, 6, 1)
    b2 = seq("mix.b2", *r2, *conv_bn_relu("mix.b2.b", r2[0].out_shape, 8, 3))
    r3 = conv_bn_relu("mix.b3.a", shape, 2, 1)
    b3 = seq("mix.b3", *r3, *conv_bn_relu("mix.b3.b", r3[0].out_shape, 4, 5))
    p = maxpool("mix.b4.pool", shape, 3, 1, 1)
    b4 = seq("mix.b4", p, *conv_bn_relu("mix.b4.a", p.out_shape, 4, 1))
    out = (4 + 8 + 4 + 4, size, size)
    cat = ir.Concat(path="mix", in_shape=shape, out_shape=out, branches=(b1, b2, b3, b4))
    head = [gap("pool", out), flatten("flatten", (out[0], 1, 1)), fc("fc", out[0], 5)]
    return network("tiny_inception", shape, cat, *head)


def tiny_densenet(size=8, k=4, n=3):
    shape = (6, size, size)
    layers = []
    c = shape[0]
    for i in range(n):
        s = (c, size, size)
        p = f"block.layer{i + 1}"
        c1 = conv(f"{p}.conv1", s, 2 * k, 1, pad=(0, 0, 0, 0))
        c2 = conv(f"{p}.conv2", c1.out_shape, k, 3)
        layers.append(seq(p, bn(f"{p}.norm1", s), act(f"{p}.relu1", s), c1, bn(f"{p}.norm2", c1.out_shape),
                          act(f"{p}.relu2", c1.out_shape), c2))
        c += k
    out = (c, size, size)
    dense = ir.Dense(path="block", in_shape=shape, out_shape=out, layers=tuple(layers))
    head = [bn("norm", out), act("relu", out), gap("pool", out), flatten("flatten", (c, 1, 1)), fc("fc", c, 3)]
    return network("tiny_densenet", shape, dense, *head)


# ---------------------------------------------------------------- tests on the hand-built IR


def test_names_follow_scope_paths_and_definition_order():
    from netspec.backends.torch import build

    net = tiny_resnet()
    model = build(net, seed=0)
    names = [k for k, _ in model.named_parameters()]
    expected = [f"{n.path}.{p}" for n in ir.layers(net.body) for p in ("weight", "bias")
                if (n.kind == "conv" and (p == "weight" or n.bias)) or n.kind in ("batchnorm", "linear")]
    assert names == expected
    assert isinstance(model.get_submodule("layer2.0.shortcut.conv"), torch.nn.Conv2d)
    assert model.network is net


def test_forward_shapes_match_ir_for_every_module():
    from netspec.backends.torch import build

    for net in (tiny_resnet(), tiny_inception(), tiny_densenet()):
        model = build(net, seed=0).eval()
        seen = {}
        for node in ir.walk(net.body):
            try:
                m = model.module_at(node.path)
            except AttributeError:
                continue
            if m is model:
                continue
            m.register_forward_hook(lambda mod, i, o, p=node.path: seen.__setitem__(p, tuple(o.shape[1:])))
        model(torch.randn(2, *net.input_shape))
        nodes = {n.path: n for n in ir.walk(net.body)}
        assert len(seen) >= len(list(ir.layers(net.body))) - 1
        for path, shape in seen.items():
            assert shape == tuple(nodes[path].out_shape), path


def test_residual_by_hand():
    """The built block equals the formula relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut(x))."""
    from netspec.backends.torch import build
    import torch.nn.functional as F

    net = tiny_resnet()
    model = build(net, seed=1).eval()
    x = torch.randn(2, 3, 16, 16)
    m = model.get_submodule
    y = F.relu(m("stem.bn")(m("stem.conv")(x)))
    b = m("layer2.0")
    z = m("layer2.0.bn2")(m("layer2.0.conv2")(F.relu(m("layer2.0.bn1")(m("layer2.0.conv1")(y)))))
    ref_in = F.relu(m("layer1.0.bn2")(m("layer1.0.conv2")(F.relu(m("layer1.0.bn1")(m("layer1.0.conv1")(y))))) + y)
    z = m("layer2.0.bn2")(m("layer2.0.conv2")(F.relu(m("layer2.0.bn1")(m("layer2.0.conv1")(ref_in)))))
    sc = m("layer2.0.shortcut.bn")(m("layer2.0.shortcut.conv")(ref_in))
    out = F.relu(z + sc)
    assert b is not None
    ref = m("fc")(out.mean((2, 3)))
    torch.testing.assert_close(model(x), ref, rtol=1e-5, atol=1e-5)


def test_seed_is_deterministic_and_init_scheme():
    from netspec.backends.torch import build

    a, b = build(tiny_resnet(), seed=3), build(tiny_resnet(), seed=3)
    c = build(tiny_resnet(), seed=4)
    for (ka, va), (_, vb), (_, vc) in zip(a.state_dict().items(), b.state_dict().items(), c.state_dict().items()):
        assert torch.equal(va, vb), ka
    assert not torch.equal(a.get_submodule("stem.conv").weight, c.get_submodule("stem.conv").weight)
    w = build(tiny_resnet(), seed=0).get_submodule("layer2.0.conv1").weight
    # Kaiming normal, fan_out: std = sqrt(2 / (out_channels * kh * kw)) = sqrt(2 / 144)
    assert abs(w.std().item() - (2 / 144) ** 0.5) < 0.2 * (2 / 144) ** 0.5
    assert torch.equal(a.get_submodule("stem.bn").weight, torch.ones(8))
    fcw = build(tiny_resnet(classes=1000, size=16), seed=0).get_submodule("fc").weight
    assert abs(fcw.std().item() - 0.01) < 0.001


def test_zero_init_residual_zeroes_last_bn_of_each_branch():
    from netspec.backends.torch import build

    model = build(tiny_resnet(), seed=0, zero_init_residual=True)
    assert torch.count_nonzero(model.get_submodule("layer1.0.bn2").weight) == 0
    assert torch.count_nonzero(model.get_submodule("layer2.0.bn2").weight) == 0
    assert torch.count_nonzero(model.get_submodule("layer2.0.bn1").weight) == 8 * 2


def test_inplace_relu_never_corrupts_a_shared_input():
    """Pre-activation residual (relu first in the body) and concat branches that open with relu."""
    from netspec.backends.torch import build

    s = (4, 6, 6)
    c1 = conv("res.conv", s, 4, 3)
    body = seq("res", act("res.relu", s), c1)
    res = ir.Residual(path="res", in_shape=s, out_shape=s, body=body)
    b1 = seq("cat.a", act("cat.a.relu", s))
    b2 = seq("cat.b", conv("cat.b.conv", s, 4, 1, pad=(0, 0, 0, 0)))
    cat = ir.Concat(path="cat", in_shape=s, out_shape=(8, 6, 6), branches=(b1, b2))
    first = conv("c0", s, 4, 3)
    net = network("pre", s, first, res, cat)
    model = build(net, seed=0).eval()
    x = torch.randn(2, *s)
    m = model.get_submodule
    h = m("c0")(x)
    h = m("res.conv")(torch.relu(h)) + h
    ref = torch.cat([torch.relu(h), m("cat.b.conv")(h)], 1)
    torch.testing.assert_close(model(x), ref)
    # and training still differentiates through them
    model.train()
    model(x).sum().backward()
