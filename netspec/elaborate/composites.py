"""Composites: repeats, groups, concat, residual, dense, gate, side outputs, and `@name` skips.

Each handler takes the elaborator (its `body` elaborates a nested sequence; it holds the saved
tensors and side outputs), the syntax node, the input shape and the scope, and returns the
nodes and the output shape.
"""

from __future__ import annotations

from .. import ir, syntax
from ..diagnostics import Label, did_you_mean, error
from ..expr import ListValue, describe, evaluate, span_of, truth
from ..shapes import Sym, shape_text
from .layers import feature_map
from .scope import Nodes, Scope, Shape, dims, seq
from .values import as_int, as_word, value

_RESIDUAL_SHORTCUTS = ("auto", "identity", "project", "pad")


def repeat(el, item: syntax.Repeat, shape, scope: Scope, label, followed_by_bn, tail=False):
    times = as_int(evaluate(item.times, scope.env, scope.filename), item.times, scope, "a repeat count",
                        minimum=0)
    if label is not None:
        raise error("label the layers inside a repeat, or put the repeat in a labelled group: "
                    "stage1: { [block]x3 }", span_of(item.loc, scope.filename), code="syntax")
    where = span_of(item.loc, scope.filename)
    budget = el.budget
    budget.repeat(times, budget.bound(item.body.items, el.blocks), where)
    nodes = Nodes()
    copies = set()
    for i in range(times):
        before = budget.layers
        new, shape = el.body(item.body.items, shape, scope)
        copies.add(tuple(n.kind for top in new for n in ir.walk(top)))
        nodes.append_all(new)
        if i == 0:  # the first pass shows what each costs: refuse the rest before unrolling it
            budget.will_add((times - 1) * (budget.layers - before), where)
    # N copies of one body, unless an `if` in it chose differently in some copy (`in` changes from one
    # to the next): then the copies are not alike, and the graph must not draw them as one box
    if len(copies) <= 1:
        nodes.repeats.append(ir.RepeatSpan.model_construct(start=0, stop=len(nodes), count=times))
    return nodes, shape


def group(el, item: syntax.Group, shape, scope: Scope, label, followed_by_bn, tail=False):
    name, label = scope.name_for(label, "group", item.loc)
    inner = scope.child(name)
    children, out = el.body(item.body.items, shape, inner, tail)
    return [seq(path=inner.path, label=label, span=span_of(item.loc, scope.filename), in_shape=dims(shape),
                   out_shape=dims(out), children=children)], out


def concat(el, item: syntax.ConcatBlock, shape, scope: Scope, label, followed_by_bn, tail=False):
    where = span_of(item.loc, scope.filename)
    name, label = scope.name_for(label, "split" if item.split else "concat", item.loc)
    node_scope = scope.child(name)
    branches, shapes = [], []
    share = split_share(item, shape, where)
    for i, body in enumerate(item.branches, 1):
        inner = node_scope.child(f"branch{i}")
        if share is None:
            children, out = el.body(body.items, shape, inner)
        else:  # `split`: the branch opens with a view of its channels, then runs on them
            start = (i - 1) * share
            part = ir.ChannelSlice.model_construct(
                path=inner.join(inner.auto_name("channels")), span=where, in_shape=dims(shape),
                out_shape=dims((share,) + tuple(shape[1:])), start=start, stop=start + share)
            children, out = el.body(body.items, (share,) + tuple(shape[1:]), inner)
            children = [part, *children]
        branches.append(seq(path=inner.path, span=span_of(body.loc, scope.filename) if body.loc else where,
                               in_shape=dims(shape), out_shape=dims(out), children=children))
        shapes.append(out)
    out = join_channels(shapes, [b.span for b in branches], where, "the branches of this concat")
    return [ir.Concat.model_construct(path=node_scope.path, label=label, span=where, in_shape=dims(shape), out_shape=dims(out),
                      branches=tuple(branches))], out


def split_share(item: syntax.ConcatBlock, shape, where) -> int | None:
    """The channels each branch of a `split` reads (None for a concat)."""
    if not item.split:
        return None
    n = len(item.branches)
    if len(shape) != 3:
        raise error(f"`split` needs a feature map, but its input is a vector of {shape[0]}", where, code="shape")
    if shape[0] % n:
        raise error(f"`split` into {n} branches needs channels divisible by {n}, but its input has {shape[0]}",
                    where, code="value")
    return shape[0] // n


def join_channels(shapes, spans, where, what: str) -> Shape:
    ranks = {len(s) for s in shapes}
    if len(ranks) > 1 or (ranks == {3} and len({s[1:] for s in shapes}) > 1):
        raise error(f"{what} disagree in height and width, so their channels cannot be concatenated", where,
                    code="shape-mismatch",
                    labels=[Label(sp, f"gives {shape_text(s)}") for sp, s in zip(spans, shapes)],
                    help="give every branch the same stride and padding (e.g. pad=1 on a 3x3 pooling branch)")
    return (sum(s[0] for s in shapes),) + tuple(shapes[0][1:])


def residual(el, item: syntax.ResidualBlock, shape, scope: Scope, label, followed_by_bn, tail=False):
    where = span_of(item.loc, scope.filename)
    mode = "auto"
    for arg in item.args or ():
        if arg.name not in (None, "shortcut"):
            raise error(f"`residual` has no argument `{arg.name}`", span_of(arg.loc, scope.filename),
                        code="arguments", help="residual(shortcut=auto|identity|project|pad)")
        mode = as_word(value(arg.value, scope.env, scope.filename), arg.loc, scope, "shortcut",
                            _RESIDUAL_SHORTCUTS)
    name, label = scope.name_for(label, "residual", item.loc)
    node_scope = scope.child(name)
    body_scope = node_scope.child("body")
    children, out = el.body(item.body.items, shape, body_scope)
    body = seq(path=body_scope.path, span=where, in_shape=dims(shape), out_shape=dims(out),
                  children=children)
    short_scope = node_scope.child("shortcut")
    shortcut, kind = None, "identity"
    if item.shortcut is not None:
        kind = "explicit"
        if item.args:
            raise error("an explicit shortcut and shortcut= cannot both be given", where, code="arguments")
        s_children, s_out = el.body(item.shortcut.items, shape, short_scope)
        if s_out != out:
            raise error(f"the residual body gives {shape_text(out)} but its shortcut gives {shape_text(s_out)}; "
                        f"they must match to be added", where, code="shape-mismatch")
        shortcut = seq(path=short_scope.path, span=span_of(item.shortcut.loc, scope.filename)
                          if item.shortcut.loc else where, in_shape=dims(shape), out_shape=dims(out),
                          children=s_children)
    elif out != shape or mode in ("project", "pad"):
        if mode == "identity":
            raise error(f"residual add with mismatched shapes: the input is {shape_text(shape)} but the body "
                        f"gives {shape_text(out)}, and the shortcut is the identity", where,
                        code="shape-mismatch", help="use shortcut=project (a 1x1 conv + bn) or shortcut=pad")
        shortcut = make_shortcut(mode, shape, out, short_scope, where)
        el.budget.add(shortcut.children, where)
        kind = "pad" if mode == "pad" else "project"
    return [ir.Residual.model_construct(path=node_scope.path, label=label, span=where, in_shape=dims(shape),
                                        out_shape=dims(out), body=body, shortcut=shortcut,
                                        shortcut_kind=kind)], out


def make_shortcut(mode: str, shape, out, scope: Scope, where) -> ir.Seq:
    """ResNet's shortcuts when the body changes the shape: option B (project) or option A (pad)."""
    if len(shape) != 3 or len(out) != 3:
        raise error("a residual around fully connected layers needs matching sizes", where, code="shape-mismatch")
    strides = []
    for a, b in zip(shape[1:], out[1:]):
        if isinstance(a, int) and isinstance(b, int):
            if b == 0 or a % b and -(-a // b) * b - a >= b:
                raise error(f"residual add with mismatched shapes: the input is {shape_text(shape)}, the body "
                            f"gives {shape_text(out)}, and no stride maps one onto the other", where,
                            code="shape-mismatch")
            strides.append(-(-a // b))
        elif isinstance(a, Sym) and isinstance(b, Sym) and a.name == b.name and b.den % a.den == 0:
            strides.append(b.den // a.den)
        else:
            raise error(f"residual add with mismatched shapes: {shape_text(shape)} and {shape_text(out)}", where,
                        code="shape-mismatch")
    stride = (strides[0], strides[1])
    nodes = []
    c_in = shape[0]
    if mode == "pad":
        if out[0] < c_in:
            raise error(f"shortcut=pad can only add channels ({c_in} -> {out[0]})", where, code="shape-mismatch",
                        help="use shortcut=project")
        mid = (c_in,) + tuple(out[1:])
        nodes.append(ir.Pool.model_construct(path=scope.join("subsample"), span=where, in_shape=dims(shape), out_shape=dims(mid),
                             mode="max", kernel=(1, 1), stride=stride))
        extra = out[0] - c_in
        nodes.append(ir.ChannelPad.model_construct(path=scope.join("pad"), span=where, in_shape=dims(mid), out_shape=dims(out),
                                   before=extra // 2, after=extra - extra // 2))
    else:
        nodes.append(ir.Conv.model_construct(path=scope.join("conv"), span=where, in_shape=dims(shape), out_shape=dims(out),
                             in_channels=c_in, out_channels=out[0], kernel=(1, 1), stride=stride, bias=False))
        nodes.append(ir.BatchNorm.model_construct(path=scope.join("bn"), span=where, in_shape=dims(out), out_shape=dims(out),
                                  num_features=out[0]))
    return seq(path=scope.path, span=where, in_shape=dims(shape), out_shape=dims(out), children=nodes)


def dense(el, item: syntax.DenseBlock, shape, scope: Scope, label, followed_by_bn, tail=False):
    where = span_of(item.loc, scope.filename)
    count = None
    for arg in item.args or ():
        if arg.name not in (None, "layers"):
            raise error(f"`dense` has no argument `{arg.name}`", span_of(arg.loc, scope.filename),
                        code="arguments", help="dense(N) { ... } repeats its body N times")
        count = as_int(value(arg.value, scope.env, scope.filename), arg.loc, scope,
                            "the number of dense layers")
    if count is not None and len(item.bodies) > 1:
        raise error("dense(N) takes one layer body; without N, write each layer: dense { a | b }", where,
                    code="arguments")
    if count is not None:
        el.budget.count(count, where, "a dense count of")
    bodies = item.bodies * count if count is not None else item.bodies
    el.budget.will_add(sum(el.budget.bound(b.items, el.blocks) for b in bodies), where)
    feature_map(shape, "conv", where)
    name, label = scope.name_for(label, "dense", item.loc)
    node_scope = scope.child(name)
    layers = []
    current = shape
    for i, body in enumerate(bodies, 1):
        inner = node_scope.child(f"layer{i}")
        children, out = el.body(body.items, current, inner)
        if len(out) != 3 or out[1:] != current[1:]:
            raise error(f"a dense layer must keep the height and width ({shape_text(current)} became "
                        f"{shape_text(out)}), so that its output can be concatenated", where,
                        code="shape-mismatch", help="use padding 'same' and stride 1 inside a dense block")
        layers.append(seq(path=inner.path, span=where, in_shape=dims(current), out_shape=dims(out),
                             children=children))
        current = (current[0] + out[0],) + tuple(current[1:])
    return [ir.Dense.model_construct(path=node_scope.path, label=label, span=where, in_shape=dims(shape),
                     out_shape=dims(current), layers=tuple(layers))], current


def gate(el, item: syntax.GateBlock, shape, scope: Scope, label, followed_by_bn, tail=False):
    where = span_of(item.loc, scope.filename)
    feature_map(shape, "conv", where)
    name, label = scope.name_for(label, "gate", item.loc)
    node_scope = scope.child(name)
    body_scope = node_scope.child("body")
    children, out = el.body(item.body.items, shape, body_scope)
    if out[0] != shape[0] or not (len(out) == 1 or out[1:] in ((1, 1), tuple(shape[1:]))):
        raise error(f"a gate multiplies its input ({shape_text(shape)}) by its body's output, which must have "
                    f"the same channels, one value per channel; got {shape_text(out)}", where,
                    code="shape-mismatch", help=f"end the gate's body with fc-{shape[0]} sigmoid")
    body = seq(path=body_scope.path, span=where, in_shape=dims(shape), out_shape=dims(out),
                  children=children)
    return [ir.Gate.model_construct(path=node_scope.path, label=label, span=where, in_shape=dims(shape), out_shape=dims(shape),
                    body=body)], shape


def side(el, item: syntax.SideBlock, shape, scope: Scope, label, followed_by_bn, tail=False):
    where = span_of(item.loc, scope.filename)
    if item.name in el.sides:
        raise error(f"there are two side outputs named `{item.name}`", where, code="duplicate-name")
    if label is not None:
        raise error("a side output is named by its own name: side aux1 { ... }", where, code="syntax")
    el.sides.add(item.name)
    path_name = scope.claim(item.name, where)
    node_scope = scope.child(path_name)
    body_scope = node_scope.child("body")
    children, out = el.body(item.body.items, shape, body_scope, tail=True)
    body = seq(path=body_scope.path, span=where, in_shape=dims(shape), out_shape=dims(out),
                  children=children)
    return [ir.Side.model_construct(path=node_scope.path, span=where, in_shape=dims(shape), out_shape=dims(shape),
                    output=item.name, body=body)], shape


def save(el, item: syntax.SaveRef, shape, scope: Scope, label, followed_by_bn, tail=False):
    where = span_of(item.loc, scope.filename)
    if item.name in el.saved:
        raise error(f"`@{item.name}` is defined twice", where, code="duplicate-name",
                    labels=[Label(el.saved[item.name][1], "first defined here")])
    el.saved[item.name] = (shape, where)
    name = scope.claim(label, where) if label else scope.auto_name("save")
    return [ir.Save.model_construct(path=scope.join(name), label=label, span=where, in_shape=dims(shape), out_shape=dims(shape),
                    ref=item.name)], shape


def merge(el, item: syntax.MergeRefs, shape, scope: Scope, label, followed_by_bn, tail=False):
    where = span_of(item.loc, scope.filename)
    shapes = []
    for ref in item.refs:
        if ref not in el.saved:
            raise error(f"`@{ref}` is not defined before this point", where, code="undefined",
                        help=did_you_mean(ref, el.saved) or "name a tensor first by writing @name after it")
        shapes.append(el.saved[ref][0])
    if item.mode == "add":
        for ref, s in zip(item.refs, shapes):
            if s != shape:
                raise error(f"cannot add `@{ref}` ({shape_text(s)}) to the current tensor ({shape_text(shape)}): "
                            f"the shapes differ", where, code="shape-mismatch",
                            labels=[Label(el.saved[ref][1], f"`@{ref}` is {shape_text(s)} here")])
        out = shape
    else:
        spans = [where] + [el.saved[r][1] for r in item.refs]
        out = join_channels([shape] + shapes, spans, where, "the tensors joined here")
    name, label = scope.name_for(label, item.mode, item.loc)
    return [ir.Merge.model_construct(path=scope.join(name), label=label, span=where, in_shape=dims(shape), out_shape=dims(out),
                     mode=item.mode, refs=item.refs, ref_shapes=tuple(dims(s) for s in shapes))], out


def if_element(el, item: syntax.IfElement, shape, scope: Scope, label, followed_by_bn, tail=False):
    """`if c { ... } else { ... }`: the taken body's layers stand in the element's place, in its scope.

    Not a scope of its own: `in` and the names around it are the same inside; its `default`s end with it.
    """
    if label is not None:
        raise error("label the layers inside an `if`, or put it in a labelled group: se: { if c { ... } }",
                    span_of(item.loc, scope.filename), code="syntax")
    chosen: syntax.IfElement | syntax.Body | None = item
    while isinstance(chosen, syntax.IfElement):
        taken = truth(evaluate(chosen.cond, scope.env, scope.filename), chosen.cond, scope.env, scope.filename)
        chosen = chosen.body if taken else chosen.orelse
    if chosen is None:
        return Nodes(), shape
    return el.body(chosen.items, shape, _inline(scope), tail, keep_in=True)


def for_element(el, item: syntax.ForElement, shape, scope: Scope, label, followed_by_bn, tail=False):
    """`for i in range(n) { ... }`: the body once per value of the list, `i` bound to it.

    Like `if`, not a scope: the layers join the enclosing sequence (their names count on), `in` is unchanged.
    The iterations may differ, so they are not recorded as a repeat.
    """
    where = span_of(item.loc, scope.filename)
    if label is not None:
        raise error("label the layers inside a `for`, or put it in a labelled group: stage: { for i in ... }",
                    where, code="syntax")
    if item.var == "in":
        raise error("`in` names the channels entering a block; choose another loop variable", where, code="syntax")
    values = evaluate(item.iterable, scope.env, scope.filename)
    if isinstance(values, int) and not isinstance(values, bool):
        raise error(f"`for` walks a list; write range({values}) for 0 to {values - 1}",
                    span_of(item.iterable.loc, scope.filename), code="value")
    if not isinstance(values, ListValue):
        raise error(f"`for` walks a list, such as range(n) or [3, 4, 6, 3]; got {describe(values)}",
                    span_of(item.iterable.loc, scope.filename), code="value")
    nodes = Nodes()
    for v in values:
        inner = _inline(scope)
        inner.env = {**scope.env, item.var: v}
        new, shape = el.body(item.body.items, shape, inner, keep_in=True)
        nodes.append_all(new)
    return nodes, shape


def _inline(scope: Scope) -> Scope:
    """The same scope (path, names in use, counters), with its own variables and defaults to change."""
    return Scope(scope.path, scope.env, scope.defaults, scope.filename, scope.used, scope.counters,
                 apply_defaults=scope.apply_defaults)
