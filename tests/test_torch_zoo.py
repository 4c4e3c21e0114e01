"""Every zoo spec builds, runs forward, and every module's traced output shape equals the IR's."""

from __future__ import annotations

from pathlib import Path

import pytest

import netspec
from netspec import ir
from netspec.frontend import zoo_dir

torch = pytest.importorskip("torch")

ZOO = sorted(p.stem for p in Path(zoo_dir()).glob("*.net"))
SMALL = "3x64x64"  # keeps CI fast where the architecture allows; the spec's own input otherwise


def load_small(name: str) -> ir.Network:
    net = netspec.load(name)
    if net.input_shape[0] == 3 and net.input_shape[1] != 32:
        try:
            return netspec.load(name, input=SMALL)
        except netspec.SpecError:  # too small for this architecture (inception v3 needs 75x75)
            pass
    return net


@pytest.mark.skipif(not ZOO, reason="no zoo specs yet")
@pytest.mark.parametrize("name", ZOO)
def test_zoo_shapes_traced_with_hooks(name):
    from netspec.backends.torch import build

    net = load_small(name)
    model = build(net, init="skip").eval()  # shapes only: skip initialisation to keep the zoo test fast
    nodes = {n.path: n for n in ir.walk(net.body)}
    seen: dict[str, tuple] = {}
    for path, node in nodes.items():
        if node.kind == "save" or not path:
            continue
        try:
            module = model.module_at(path)
        except AttributeError:  # a scope that adds no module (cannot happen with the front end's paths)
            continue
        module.register_forward_hook(lambda m, i, o, p=path: seen.__setitem__(p, tuple(o.shape[1:])))
    with torch.no_grad():
        out = model(torch.randn(1, *net.input_shape))
    assert tuple(out.shape) == (1, *net.output_shape)
    # every node the forward pass ran (side heads only run in training mode) was traced
    expected = {p for p, n in nodes.items() if n.kind != "save" and p and not _under_side(p, net)}
    assert expected <= set(seen), sorted(expected - set(seen))[:5]
    for path, shape in seen.items():
        assert shape == tuple(nodes[path].out_shape), f"{path}: traced {shape}, IR {nodes[path].out_shape}"


def _under_side(path: str, net: ir.Network) -> bool:
    return any(path == s.path or path.startswith(s.path + ".") for s in ir.walk(net.body) if s.kind == "side")


@pytest.mark.parametrize("name", [n for n in ("googlenet", "inception_v3") if n in ZOO])
def test_side_outputs_in_training_mode(name):
    from netspec.backends.torch import build

    net = load_small(name)
    model = build(net, seed=0, init="skip").train()
    out = model(torch.randn(2, *net.input_shape))
    assert out._fields == ("main", *net.side_outputs)
    for field in out._fields:
        assert getattr(out, field).shape == (2, *net.output_shape)
    model.eval()
    assert isinstance(model(torch.randn(2, *net.input_shape)), torch.Tensor)
