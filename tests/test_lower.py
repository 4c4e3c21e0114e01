"""netspec.lower: the flat dataflow graph every backend runs, checked against the IR it came from."""

from __future__ import annotations

import subprocess
import sys

import pytest

import netspec
from netspec import ir
from netspec.lower import lower
from netspec.passes import buffer_dense, fold_bn, fuse_1x1


def optimised(net):
    return buffer_dense(fuse_1x1(fold_bn(net)))


def check_order(graph):
    """Topological: every step reads values made before it (or the input), and makes a new one."""
    made = {graph.input}
    for step in graph.steps:
        assert all(v in made for v in step.inputs), step
        if step.into is not None:
            assert step.into[0] in made
        assert step.output not in made
        made.add(step.output)
    assert graph.output in made


@pytest.mark.parametrize("name", ["lenet5", "resnet18", "googlenet", "densenet121", "mobilenet_v2", "se_resnet50",
                                  "inception_v3", "squeezenet1_0"])
def test_every_leaf_is_one_step_and_every_join_is_explicit(name):
    net = netspec.load(name)
    for variant in (net, optimised(net)):
        graph = lower(variant)
        check_order(graph)
        nodes = list(ir.walk(variant.body))
        layers = [n for n in nodes if n.kind in ir.LAYER_KINDS and n.kind not in ("save", "merge")]
        assert [s.node for s in graph.steps if s.op == "layer"] == layers
        assert sum(s.op == "add" for s in graph.steps) == sum(n.kind == "residual" for n in nodes)
        assert sum(s.op == "mul" for s in graph.steps) == sum(n.kind == "gate" for n in nodes)
        assert graph.shape(graph.output) == tuple(variant.output_shape)
        assert set(graph.sides) == set(variant.side_outputs)
        # every value's shape is the IR's: a layer step's output is its node's out_shape
        for step in graph.steps:
            if step.op == "layer":
                assert graph.shape(step.output) == tuple(step.node.out_shape)
                assert graph.shape(step.inputs[0]) == tuple(step.node.in_shape)


def test_fused_concat_reads_slices_of_its_stem():
    graph = lower(optimised(netspec.load("googlenet")))
    slices = [s for s in graph.steps if s.op == "slice"]
    assert len(slices) == 9 * 3  # nine inception modules, three fused 1x1 branches each
    first = slices[0].node  # inception3a: 64 + 96 + 16 channels from one 1x1 conv on 192
    assert first.splits == (64, 96, 16)
    assert [s.channels for s in slices[:3]] == [(0, 64), (64, 160), (160, 176)]


def test_buffered_dense_block_writes_each_layer_into_its_slice():
    net = optimised(netspec.load("densenet121"))
    graph = lower(net)
    blocks = [n for n in ir.walk(net.body) if n.kind == "buffered_dense"]
    buffers = [s for s in graph.steps if s.op == "buffer"]
    assert len(buffers) == len(blocks) == 4
    first = blocks[0]  # 64 channels in, 6 layers of growth 32
    writes = [s.into for s in graph.steps if s.into is not None and s.into[0] == buffers[0].output]
    # the block's input is copied to channels 0..63, then layer i writes its 32 after the others
    assert writes == [(buffers[0].output, 0)] + [(buffers[0].output, 64 + 32 * i) for i in range(6)]
    assert graph.shape(buffers[0].output) == tuple(first.out_shape) == (256, 56, 56)
    # no concat runs inside a buffered block: layer inputs are prefix slices
    assert not any(s.op == "concat" and s.node is first for s in graph.steps)


def test_side_outputs_are_marked_and_skipped_at_inference():
    graph = lower(netspec.load("googlenet"))
    side_steps = [s for s in graph.steps if s.side is not None]
    assert {s.side for s in side_steps} == {"aux1", "aux2"}
    assert len(graph.inference_steps()) == len(graph.steps) - len(side_steps)
    assert graph.shape(graph.sides["aux1"]) == (1000,)


def test_named_skips_and_liveness():
    net = netspec.parse("network u\ninput 3x32x32\nconv3-8 @a maxpool conv3-16 upsample concat(@a) conv3-4\n")
    graph = lower(net)
    cat = next(s for s in graph.steps if s.op == "concat")
    first_conv = graph.steps[0]
    assert cat.inputs[1] == first_conv.output  # the saved tensor, read directly: U-Net's skip
    assert cat.inputs[0] != first_conv.output  # the current tensor comes first, as torch.cat((x, skip))
    last = graph.last_reads()
    assert last[first_conv.output] == graph.steps.index(cat)  # the skip stays alive until the concat


def test_lowering_does_not_import_torch():
    code = "import sys, netspec; from netspec.lower import lower; lower(netspec.load('resnet18')); " \
           "assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_backend_registry_names_and_errors():
    from netspec.backends import BACKENDS, BackendError, get

    assert {"torch", "triton"} <= set(BACKENDS)
    with pytest.raises(BackendError, match="unknown backend 'tpu'; available: torch"):
        get("tpu")
    with pytest.raises(BackendError, match="unknown backend"):
        netspec.build("lenet5", backend="tpu")
