"""The torch lowering table: one entry per IR node class, used by build and by the generated source alike."""

from __future__ import annotations

import importlib.util
from typing import Literal

import pytest

import netspec
from netspec import ir
from netspec.lower import lower

torch = pytest.importorskip("torch")

from netspec.backends.torch import build, generate_source, lowering  # noqa: E402
from netspec.backends.torch.lowering import Arg, ModuleCall  # noqa: E402
from test_torch_ir import conv  # noqa: E402


class Clip(ir.NodeBase):
    """A toy op the front end does not know: clamp to [-limit, limit]."""

    kind: Literal["clip"] = "clip"
    limit: float


def clip_network() -> ir.Network:
    c1 = conv("conv1", (3, 8, 8), 4, 3)
    clip = Clip(path="clip1", in_shape=c1.out_shape, out_shape=c1.out_shape, limit=0.25)
    c2 = conv("conv2", c1.out_shape, 2, 1, pad=(0, 0, 0, 0))
    # model_construct, as the elaborator builds nodes: the IR's node union does not list the toy kind
    body = ir.Seq.model_construct(path="", in_shape=(3, 8, 8), out_shape=c2.out_shape, children=(c1, clip, c2))
    return ir.Network.model_construct(name="clipped", input_shape=(3, 8, 8), body=body)


@pytest.fixture
def clip_registered():
    @lowering.register(Clip, fresh=True)
    def clip(node: Clip) -> ModuleCall:
        return ModuleCall("nn.Hardtanh", (Arg(None, -node.limit), Arg(None, node.limit)))

    yield
    del lowering.TABLE[Clip]


def test_a_node_class_without_an_entry_is_an_error_naming_its_kind():
    with pytest.raises(TypeError, match=r"no lowering for IR node kind 'clip' \(Clip, at 'clip1'\)"):
        build(clip_network())


def test_a_registered_toy_op_builds_runs_and_generates(clip_registered, tmp_path):
    net = clip_network()
    model = build(net, seed=0).eval()
    assert isinstance(model.get_submodule("clip1"), torch.nn.Hardtanh)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = model.conv2(torch.clamp(model.conv1(x), -0.25, 0.25))  # what the op means, by hand
        torch.testing.assert_close(model(x), expected, rtol=0, atol=0)
    # the generated source writes the same entry as a constructor call
    source = generate_source(net)
    assert "self.clip1 = nn.Hardtanh(-0.25, 0.25)" in source
    path = tmp_path / "clipped.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("clipped", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generated = module.Clipped(generator=torch.Generator().manual_seed(0)).eval()
    with torch.no_grad():
        torch.testing.assert_close(generated(x), model(x), rtol=0, atol=0)


def test_build_and_source_construct_every_leaf_from_the_same_entry():
    """A layer of every kind: the module build made is the one the entry's call describes."""
    net = netspec.load(str(__import__("pathlib").Path(__file__).parent / "specs" / "torch" / "features.net"))
    model = build(net, init="skip")
    for node in ir.walk(net.body):
        if lowering.has_module(node):
            call = lowering.module_call(node)
            module = model.module_at(node.path)
            assert type(module).__name__ == call.cls.rpartition(".")[2], node.path
            assert repr(module).replace("inplace=True", "") == repr(call.instantiate()).replace("inplace=True", "")


def test_in_place_only_where_the_graph_allows():
    """relu in place after a conv, a sum or a gate that nothing else reads; never on the input or a shared value."""
    net = netspec.parse("network t\ninput 3x8x8\nrelu conv3-4 relu residual { conv3-4 relu conv3-4 } "
                        "gate { gap fc-4 sigmoid } relu\n")
    model = build(net, seed=0)
    inplace = {p: getattr(model.module_at(p), "inplace", None) for p in (n.path for n in ir.walk(net.body))
               if isinstance(model_node(net, p), ir.Activation)}
    graph = lower(net)
    readers = graph.readers()
    for i, step in enumerate(graph.steps):
        if step.op == "layer" and isinstance(step.node, ir.Activation) and step.node.fn == "relu":
            src = step.inputs[0]
            producer = next((s for s in graph.steps if s.output == src), None)
            expected = producer is not None and readers[src] == [i] and (
                producer.op in ("add", "mul") or producer.op == "layer" and producer.node.kind == "conv")
            assert inplace[step.node.path] is expected, step.node.path
    # the first relu reads the caller's tensor: it must not change it
    x = torch.randn(1, 3, 8, 8)
    before = x.clone()
    model(x)
    assert torch.equal(x, before)


def model_node(net, path):
    return next(n for n in ir.walk(net.body) if n.path == path)
