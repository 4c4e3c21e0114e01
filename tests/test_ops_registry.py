"""A new op is one file: registering a toy op makes every front-end stage know it.

The toy is a fixed box blur (`blur(5)`: each channel averaged over a 5x5 window, 'same' padding,
stride 1, no weights). Its figures below are computed by hand, not read back from netspec.
"""

from __future__ import annotations

from typing import Literal

import pytest

import netspec
from netspec import ir
from netspec.analysis import analyze, lint
from netspec.analysis.counts import Cost, mul, numel
from netspec.analysis.receptive import window
from netspec.formatter import format_network
from netspec.ops import registry


class Blur(ir.NodeBase):
    kind: Literal["blur"] = "blur"
    size: int = 3


def blur_rule(args):
    args.feature_map()
    return args.node(Blur, args.shape, size=args.int("size", "the blur size")), args.shape


def blur_cost(n) -> Cost:
    return Cost(ops=mul(numel(n.out_shape), n.size * n.size), elements=numel(n.out_shape))


@pytest.fixture
def blur():
    """Register the toy op for one test, and take it out again so that no other test sees it."""
    op = registry.register_op(registry.Op("blur", blur_rule, registry.params(size=3), positional=("size",),
                                          aliases=("boxblur",)))
    registry.register_kind(registry.Kind(
        Blur, blur_cost, notation=lambda n: f"blur{n.size}", flat=lambda n: f"blur({n.size})",
        field=lambda n, f, spatial: window(f, (n.size, n.size), (1, 1)), window=True, fresh=True))
    # the torch backend's hook: its lowering table gets one entry for "blur" (backends/torch/), nothing else
    yield op
    del registry.OPS["blur"], registry.ALIASES["boxblur"], registry.KINDS["blur"], registry.NODES["blur"]
    registry.LEAF_KINDS.discard("blur")
    registry._known.cache = None


SPEC = "network t\ninput 3x16x16\nconv3-8 blur(5) relu gap fc-10\n"


def test_an_unregistered_word_is_unknown():
    with pytest.raises(netspec.SpecError, match="unknown layer or block `blur`"):
        netspec.parse(SPEC)


def test_parse_to_ir(blur):
    net = netspec.parse(SPEC)
    node = net.body.children[1]
    assert isinstance(node, Blur) and node.path == "blur1" and node.size == 5
    assert node.in_shape == node.out_shape == (8, 16, 16)
    assert "blur" in ir.LAYER_KINDS and [n.path for n in ir.layers(net.body)][:2] == ["conv1", "blur1"]
    # the alias and the default argument
    assert netspec.parse(SPEC.replace("blur(5)", "boxblur")).body.children[1].size == 3


def test_arguments_are_checked_where_they_are_written(blur):
    with pytest.raises(netspec.SpecError) as info:
        netspec.parse(SPEC.replace("blur(5)", "blur(0)"))
    d = info.value.diagnostics[0]
    assert d.message == "the blur size must be at least 1, got 0" and (d.span.line, d.span.column) == (3, 14)
    with pytest.raises(netspec.SpecError, match="`blur` has no argument `sigma`"):
        netspec.parse(SPEC.replace("blur(5)", "blur(sigma=2)"))


def test_analysis_counts_it(blur):
    a = analyze(netspec.parse(SPEC))
    # conv3-8 on 3 channels with bias (no bn follows): 8*3*9 + 8; fc-10 on 8 features: 8*10 + 10
    assert a.trainable_params == 8 * 3 * 9 + 8 + 8 * 10 + 10
    assert a.macs == 16 * 16 * 8 * 3 * 9 + 8 * 10  # the blur is no MAC: it has no weights
    row = next(r for r in a.rows if r.kind == "blur")
    assert row.op == "blur5" and row.cost.ops == 8 * 16 * 16 * 25 and row.params == 0
    # receptive field: 3 after the conv, 3 + (5-1) = 7 after the blur; gap reads the whole 16x16 map
    assert row.field.size == (7, 7)
    assert a.head_field.size == (7, 7) and a.head_path == "gap1"


def test_lints_see_it_in_a_chain(blur):
    # conv -> blur -> fc with no nonlinearity: one linear map. The lint sees conv and fc in one run of
    # layers only if the blur is a registered leaf: an unknown kind would end the run and hide the pair
    net = netspec.parse("network t\ninput 3x8x8\nconv3-4 blur flatten fc-10\n")
    codes = [d.code for d in lint(net)]
    assert "missing-activation" in codes


def test_flat_text_round_trip(blur):
    net = netspec.parse(SPEC)
    text = format_network(net)
    assert "blur1: blur(5)" in text
    assert netspec.parse(text).spec_hash == net.spec_hash


def test_json_round_trip(blur):
    net = netspec.parse(SPEC)
    back = ir.Network.model_validate_json(net.model_dump_json())
    assert back == net and isinstance(back.body.children[1], Blur)
