"""Blocks: `block name(params) { ... }` definitions, and calls that expand them in a scope of their own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import ir, syntax
from ..diagnostics import Label, did_you_mean, error
from ..expr import ListValue, Symbol, evaluate, span_of
from ..ops.registry import lookup
from .scope import Scope, dims, seq
from .values import value


@dataclass
class BlockInfo:
    definition: syntax.BlockDef
    filename: str


def define_block(el, st: syntax.BlockDef, filename: str) -> None:
    where = span_of(st.loc, filename)
    if lookup(st.name) is not None:
        raise error(f"block `{st.name}` has the name of a built-in layer", where, code="duplicate-name",
                    help="choose another name for the block")
    if st.name in el.blocks:
        other = el.blocks[st.name]
        raise error(f"block `{st.name}` is defined twice", where, code="duplicate-name",
                    labels=[Label(span_of(other.definition.loc, other.filename), "first defined here")])
    seen = set()
    for p in st.params:
        if p.name in seen:
            raise error(f"parameter `{p.name}` is listed twice", span_of(p.loc, filename), code="duplicate-name")
        seen.add(p.name)
    el.blocks[st.name] = BlockInfo(st, filename)


def call_block(el, item: syntax.Layer, shape, scope: Scope, label, tail: bool = False):
    info = el.blocks[item.op]
    block = info.definition
    where = span_of(item.loc, scope.filename)
    if item.dash is not None or item.slash is not None:
        raise error(f"block `{block.name}` takes its arguments in parentheses: {block.name}(...)", where,
                    code="arguments")
    if block.name in el.call_stack:
        chain = " -> ".join(el.call_stack[el.call_stack.index(block.name):] + [block.name])
        raise error(f"block `{block.name}` uses itself: {chain}", where, code="recursion",
                    labels=[Label(span_of(block.loc, info.filename), "defined here")],
                    help="a block cannot contain itself; write the repetition with [...]xN instead")
    if len(el.call_stack) > 64:
        raise error("blocks are nested more than 64 deep", where, code="recursion")
    params = [p.name for p in block.params]
    bound: dict[str, Any] = {}
    positional = [a for a in item.args or () if a.name is None]
    if len(positional) > len(params):
        raise error(f"block `{block.name}` takes {len(params)} argument{'s' if len(params) != 1 else ''} "
                    f"({', '.join(params) or 'none'}), got {len(positional)}", where, code="arguments",
                    labels=[Label(span_of(block.loc, info.filename), "defined here")])
    for arg in item.args or ():
        name = params[len(bound)] if arg.name is None else arg.name
        if name not in params:
            raise error(f"block `{block.name}` has no parameter `{name}`", span_of(arg.loc, scope.filename),
                        code="arguments", help=did_you_mean(name, params) or f"its parameters: {', '.join(params)}")
        if name in bound:
            raise error(f"argument `{name}` is given twice", span_of(arg.loc, scope.filename), code="arguments")
        bound[name] = value(arg.value, scope.env, scope.filename)
    env = {k: v for k, v in scope.env.items() if k not in params}
    for p in block.params:
        if p.name in bound:
            env[p.name] = bound[p.name]
        elif p.default is not None:
            env[p.name] = evaluate(p.default, env, info.filename)
        else:
            raise error(f"block `{block.name}` needs a value for `{p.name}`", where, code="missing-argument",
                        labels=[Label(span_of(p.loc, info.filename), "parameter defined here")])
    name, label = scope.name_for(label, block.name, item.loc)
    inner = scope.child(name, env=env, filename=info.filename)
    el.call_stack.append(block.name)
    try:
        children, out = el.body(block.body.items, shape, inner, tail)
    finally:
        el.call_stack.pop()
    args = {p.name: block_arg(env[p.name]) for p in block.params}
    return [seq(path=inner.path, label=label, span=where, in_shape=dims(shape), out_shape=dims(out),
                 children=children, block=block.name, block_args=args)], out


def block_arg(value) -> ir.BlockArg:
    """A block argument as the IR records it: numbers and words as written, a layer list as its text."""
    if isinstance(value, Symbol):
        return value.word
    if isinstance(value, syntax.Body):
        from ..formatter import body_text

        return f"[{body_text(value)}]"
    if isinstance(value, ListValue):
        return [block_arg(v) for v in value]
    return value
