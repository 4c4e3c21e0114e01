"""Layers: a layer word found in the op registry, its arguments bound, its op file's shape rule run.

Everything an op's shape rule needs comes through `Args`: its bound arguments with their
defaults, coerced with located errors (`args.int("groups", "groups")`), the input shape,
and the output-size arithmetic with the network's symbolic-size constraints.
"""

from __future__ import annotations

from typing import Any

from .. import syntax
from ..diagnostics import SpecError, did_you_mean, error
from ..expr import Symbol, evaluate, span_of
from ..ops.registry import Op, known_words, lookup
from ..shapes import Size, shape_text, window_out
from .scope import Scope, dims
from .values import as_bool, as_float, as_int, as_pair, as_word, value

_GIVEN = object()  # "no value passed": use the bound argument or the op's default


class Args:
    """One layer's arguments and input, as its op's shape rule reads them."""

    def __init__(self, op: Op, kernel, bound: dict[str, tuple[Any, syntax.Loc]], item: syntax.Layer, shape,
                 scope: Scope, constraints, followed_by_bn: bool):
        self.op = op
        self.kernel = kernel  # (kh, kw) from the name or `kernel=`, else the op's default
        self.shape = shape  # the input shape: (C, H, W) or (F,), sizes int or symbolic
        self.where = span_of(item.loc, scope.filename)  # the whole layer
        self.dash = evaluate(item.dash, scope.env, scope.filename) if item.dash is not None else None
        self.bound = bound
        self.item = item
        self.scope = scope
        self.constraints = constraints
        self._followed_by_bn = followed_by_bn

    # ------------------------------------------------------------ raw values and where they stand

    def given(self, name: str) -> bool:
        return name in self.bound

    def get(self, name: str, default=_GIVEN):
        """The argument as written (evaluated), else `default`, else the op's default."""
        if name in self.bound:
            return self.bound[name][0]
        return self.op.params.get(name) if default is _GIVEN else default

    def loc(self, name: str) -> syntax.Loc:
        return self.bound[name][1] if name in self.bound else self.item.loc

    def span(self, name: str):
        """Where to point for a bad value of `name`: the argument, or the layer when it was not written."""
        return span_of(self.loc(name), self.scope.filename)

    def _value(self, name, default, value):
        return self.get(name, default) if value is _GIVEN else value

    # ------------------------------------------------------------ coerced values

    def int(self, name: str, what: str, minimum: int = 1, default=_GIVEN, value=_GIVEN) -> int:
        return as_int(self._value(name, default, value), self.loc(name), self.scope, what, minimum)

    def pair(self, name: str, what: str, minimum: int = 1, default=_GIVEN, value=_GIVEN) -> tuple[int, int]:
        return as_pair(self._value(name, default, value), self.loc(name), self.scope, what, minimum)

    def float(self, name: str, what: str, low=None, high=None, default=_GIVEN, value=_GIVEN) -> float:
        return as_float(self._value(name, default, value), self.loc(name), self.scope, what, low, high)

    def bool(self, name: str, what: str, default=_GIVEN, value=_GIVEN) -> bool:
        return as_bool(self._value(name, default, value), self.loc(name), self.scope, what)

    def word(self, name: str, what: str, choices, default=_GIVEN, value=_GIVEN) -> str:
        return as_word(self._value(name, default, value), self.loc(name), self.scope, what, choices)

    def dash_int(self, what: str) -> int:
        """The `-N` of conv3-64 / fc-4096 as a whole number; a bad one blames the whole layer."""
        return as_int(self.dash, _at(self.where), self.scope, what)

    def dash_pair(self, what: str) -> tuple[int, int]:
        return as_pair(self.dash, _at(self.where), self.scope, what)

    # ------------------------------------------------------------ shapes

    @property
    def followed_by_bn(self) -> bool:
        """A batch norm comes right after this layer: next in the body, or first in its after=[...]."""
        after = self.get("after")
        return self._followed_by_bn or (isinstance(after, syntax.Body) and bool(after.items)
                                        and is_bn(after.items[0]))

    def feature_map(self) -> None:
        """Refuse a vector input: this op needs channels x height x width."""
        feature_map(self.shape, self.op.name, self.where)

    def window(self, n: Size, k: int, s: int, p0: int, p1: int, d: int, ceil: bool, what: str) -> Size:
        """The output size along one axis of a window of k (stride s, padding p0+p1, dilation d)."""
        out = window_out(n, k, s, p0, p1, d, ceil, self.constraints)
        if isinstance(out, int) and out <= 0:
            raise error(f"{what} would produce an empty output: its input is {shape_text(self.shape)}, "
                        f"too small for a {k}-wide window (padding {p0}+{p1}, dilation {d})", self.where,
                        code="shape", help="use a larger input, padding, or remove a downsampling layer before it")
        return out

    def node(self, cls, out_shape, in_shape=None, **fields):
        """An IR node of this layer (the elaborator gives it its path, label and span)."""
        return cls.model_construct(path="", in_shape=dims(self.shape if in_shape is None else in_shape),
                                   out_shape=dims(out_shape), **fields)


# ---------------------------------------------------------------- the layer element


def layer(el, item: syntax.Layer, shape, scope: Scope, label, followed_by_bn, tail=False):
    """A layer word: a block call, or a built-in op from the registry."""
    known = lookup(item.op)
    if item.kernel is not None and (item.op in el.blocks or (known is not None and not known[0].kernel_in_name)):
        raise error(f"`{_short(item.op)}` takes no kernel size", span_of(item.kernel.loc, scope.filename),
                    code="arguments", help=f"a group after a layer is set apart by a space: {_short(item.op)} {{ ... }}")
    if item.op in el.blocks:
        from .blocks import call_block

        return call_block(el, item, shape, scope, label, tail)
    found = known
    if found is None:
        where = span_of(item.loc, scope.filename)
        fixed = _suggestion(el, item, shape, scope, followed_by_bn) if len(item.op) <= 40 else None
        suggestion = f"did you mean `{fixed}`?" if fixed else None
        if item.op.startswith("x") and item.op[1:].isdigit():
            suggestion = f"a repeat is written right after a bracketed group: [conv3-64]{item.op}"
        raise error(f"unknown layer or block `{_short(item.op)}`", where, code="undefined", help=suggestion)
    op, kernel = found
    el.head = item if tail else None
    bound = bind_args(el, op, item, scope)
    return builtin(el, op, kernel, bound, item, shape, scope, label, followed_by_bn)


def builtin(el, op: Op, kernel, bound, item: syntax.Layer, shape, scope: Scope, label, followed_by_bn):
    where = span_of(item.loc, scope.filename)
    if op.dash is None and item.dash is not None:
        raise error(f"`{op.name}` takes no `-` size", span_of(item.dash.loc, scope.filename), code="arguments",
                    help="conv3-64 and fc-4096 take a size; other layers take arguments in parentheses")
    if op.example is not None and item.dash is None:
        raise error(f"`{item.op}` needs its {op.dash}: write e.g. {op.example}", where, code="arguments")
    if item.kernel is not None:
        if kernel is not None or "kernel" in bound:  # (a layer that takes none was refused by `layer`)
            raise error("the kernel size is given twice", span_of(item.kernel.loc, scope.filename), code="arguments")
        kernel = as_pair(evaluate(item.kernel, scope.env, scope.filename), item.kernel.loc, scope, "the kernel size")
    if op.kernel_in_name and kernel is None and "kernel" in bound:
        kernel = as_pair(bound["kernel"][0], bound["kernel"][1], scope, "the kernel size")
    elif "kernel" in bound:
        raise error("the kernel size is already in the layer's name", span_of(bound["kernel"][1], scope.filename),
                    code="arguments")
    if op.kernel_in_name and kernel is None:
        if op.kernel is None:
            raise error(f"`{item.op}` needs a kernel size: write e.g. conv3-64 or conv1x7-192", where,
                        code="arguments")
        kernel = op.kernel
    if item.slash is not None:
        if "stride" not in op.params:
            raise error(f"`{op.name}` takes no stride", span_of(item.slash.loc, scope.filename), code="arguments")
        if "stride" in bound:
            raise error("the stride is given twice (after `/` and as stride=)", where, code="arguments")
        bound["stride"] = (evaluate(item.slash, scope.env, scope.filename), item.slash.loc)

    args = Args(op, kernel, bound, item, shape, scope, el.constraints, followed_by_bn)
    main, out = op.build(args)
    nodes = main if isinstance(main, list) else [main]
    el.budget.add(nodes, where)
    # the label names the op's own node (conv, fc); one it adds before it (fc's flatten) is named by kind
    named = []
    for node in nodes:
        last = node is nodes[-1]
        name, lab = scope.name_for(label if last else None, op.name if last else node.kind, item.loc)
        named.append(node.model_copy(update={"path": scope.join(name), "label": lab, "span": where}))
    if op.weighted and "after" in bound:
        after, after_loc = bound["after"]
        if isinstance(after, Symbol) and after.word == "none":
            after = None
        elif isinstance(after, syntax.Layer) or not isinstance(after, (syntax.Body, type(None))):
            raise error("after= takes a list of layers in brackets, such as after=[bn relu], or none",
                        span_of(after_loc, scope.filename), code="value")
        if after is not None:
            plain = Scope(scope.path, scope.env, scope.defaults, scope.filename, scope.used, scope.counters,
                          apply_defaults=False)
            more, out = el.body(after.items, out, plain)
            # the layers a default appends point at the layer they follow, in its own file
            named.extend(m.model_copy(update={"span": where}) for m in more)
    return named, out


# ---------------------------------------------------------------- arguments


def check_keyword(op: Op, arg: syntax.Arg, filename: str) -> None:
    if arg.name not in op.params:
        where = span_of(arg.loc, filename)
        accepted = ", ".join(op.keywords) if op.keywords else "no keyword arguments"
        raise error(f"`{op.name}` has no argument `{arg.name}`", where, code="arguments",
                    help=did_you_mean(arg.name, op.keywords) or f"`{op.name}` takes {accepted}")


def bind_args(el, op: Op, item: syntax.Layer, scope: Scope) -> dict[str, tuple[Any, syntax.Loc]]:
    """Arguments by name -> (value, loc): positional, keyword, then the scope's defaults."""
    out: dict[str, tuple[Any, syntax.Loc]] = {}
    for i, arg in enumerate(item.args or ()):
        if arg.name is None:
            if i >= len(op.positional):
                n = len(op.positional)
                raise error(f"`{op.name}` takes {n or 'no'} positional argument{'s' if n != 1 else ''}"
                            + (f" ({', '.join(op.positional)})" if n else ""),
                            span_of(arg.loc, scope.filename), code="arguments",
                            help=f"name the argument: {op.name}(...={source_text(arg.value)})"
                            if op.keywords else None)
            name = op.positional[i]
        else:
            check_keyword(op, arg, scope.filename)
            name = arg.name
        if name in out:
            raise error(f"argument `{name}` is given twice", span_of(arg.loc, scope.filename), code="arguments")
        out[name] = (value(arg.value, scope.env, scope.filename), arg.loc)
    if scope.apply_defaults:
        for name, (expr, env, filename) in scope.defaults.get(op.name, {}).items():
            if name not in out:
                if name == "after" and el.head is item:
                    continue  # the head rule
                out[name] = (value(expr, env, filename), getattr(expr, "loc", item.loc))
    return out


def default(item: syntax.Default, scope: Scope) -> None:
    """`default conv(bias=false)`: recorded in the scope, unevaluated (a block's variables may differ)."""
    found = lookup(item.op)
    where = span_of(item.loc, scope.filename)
    if found is None:
        raise error(f"unknown layer `{item.op}` in `default`", where, code="undefined",
                    help=did_you_mean(item.op, known_words()))
    op = found[0]
    current = dict(scope.defaults.get(op.name, {}))
    for arg in item.args:
        if arg.name is None:
            raise error("`default` takes keyword arguments: default conv(bias=false)",
                        span_of(arg.loc, scope.filename), code="arguments")
        check_keyword(op, arg, scope.filename)
        current[arg.name] = (arg.value, scope.env, scope.filename)
    scope.defaults[op.name] = current


# ---------------------------------------------------------------- did you mean


def _suggestion(el, item: syntax.Layer, shape, scope: Scope, followed_by_bn) -> str | None:
    """The text of the closest layer word that would be accepted here, with the layer's own size, stride
    and arguments, or None: each candidate is elaborated in place, in a sandbox, and kept only if that works
    (`deconv2-8/2` is not offered `dwconv-8`, which takes no `-` size)."""
    import copy
    import difflib

    from ..formatter import body_text

    if getattr(el, "sandboxed", False):  # a candidate being tried: its own mistakes only reject it
        return None
    words = known_words() + list(el.blocks)
    close = difflib.get_close_matches(item.op, words, n=4, cutoff=0.6)
    base = item.op.rstrip("0123456789x")  # `deconv2`: the word without its kernel digits, kept for the candidate
    digits = item.op[len(base):] if base != item.op and item.op[len(base):][:1].isdigit() else ""
    if digits:  # the kernel the user wrote stays: `convv2` -> `conv2`, never `conv7`
        close = [w + digits for w in difflib.get_close_matches(base, words, n=4, cutoff=0.6)
                 if lookup(w + digits) is not None] + [w for w in close if w.endswith(digits)]
    for word in dict.fromkeys(close):
        candidate = syntax.Layer(word, item.dash, item.slash, item.args, item.loc, item.kernel)
        sandbox = copy.copy(el)
        sandbox.errors, sandbox.saved, sandbox.sides, sandbox.sandboxed = [], dict(el.saved), set(el.sides), True
        sandbox.constraints = copy.deepcopy(el.constraints)
        trial = Scope(scope.path, scope.env, scope.defaults, scope.filename, set(scope.used), dict(scope.counters),
                      apply_defaults=scope.apply_defaults)
        try:
            layer(sandbox, candidate, shape, trial, None, followed_by_bn)
        except SpecError:
            continue
        if not sandbox.errors:
            return body_text(syntax.Body((candidate,), item.loc))
    return None


# ---------------------------------------------------------------- helpers


def feature_map(shape, name: str, where) -> None:
    if len(shape) != 3:
        raise error(f"`{name}` needs a feature map (channels x height x width), but its input is a "
                    f"vector of {shape[0]}", where, code="shape", help="move it before the fully connected layers")


def is_bn(item) -> bool:
    if isinstance(item, syntax.Labelled):
        item = item.element
    if not isinstance(item, syntax.Layer):
        return False
    found = lookup(item.op)
    return found is not None and found[0].name == "bn"


def source_text(expr) -> str:
    from ..formatter import expr_text

    return expr_text(expr) if not isinstance(expr, syntax.Body) else "[...]"


def _short(word: str, limit: int = 40) -> str:
    """A word from the source, cut to a readable length for a message."""
    return word if len(word) <= limit else word[:limit] + "..."


def _at(where) -> syntax.Loc:
    """The location to blame for a bad `-N` value: the whole layer."""
    return syntax.Loc(where.line, where.column, where.end_line, where.end_column)
