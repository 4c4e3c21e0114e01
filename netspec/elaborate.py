"""Syntax tree -> IR: imports resolved, blocks expanded, repeats unrolled, expressions
evaluated, defaults applied, and the shape of every node inferred and checked.

Every error here is a located SpecError in the words of the seeds: a concat whose
branches disagree lists each branch's shape, an empty output names the layer and its
input size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from . import ast, ir
from .diagnostics import Label, SpecError, did_you_mean, error
from .expr import Symbol, describe, evaluate, number, span_of
from .ops import OPS, OpSpec, known_words, lookup
from .shapes import Constraints, Size, Sym, same_padding, scale, to_dim, window_out

Shape = tuple  # of Size: (C, H, W) or (F,)

_RESIDUAL_SHORTCUTS = ("auto", "identity", "project", "pad")


@dataclass
class Scope:
    """Where nodes are being created: their path prefix, names in use, variables and defaults."""

    path: str
    env: dict[str, Any]
    defaults: dict[str, dict[str, tuple[ast.Expr | ast.Body, dict[str, Any], str]]]
    filename: str
    used: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)
    apply_defaults: bool = True

    def child(self, name: str, env: dict[str, Any] | None = None, filename: str | None = None) -> "Scope":
        return Scope(self.join(name), self.env if env is None else env, self.defaults,
                     filename or self.filename, apply_defaults=self.apply_defaults)

    def join(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def auto_name(self, base: str) -> str:
        n = self.counters.get(base, 0)
        while True:
            n += 1
            name = f"{base}{n}"
            if name not in self.used:
                break
        self.counters[base] = n
        self.used.add(name)
        return name

    def claim(self, label: str, span: ir.Span) -> str:
        if label in self.used:
            raise error(f"the name `{label}` is used twice in `{self.path or 'the network'}`", span,
                        code="duplicate-name", help="give each layer in a scope its own label")
        self.used.add(label)
        return label


@dataclass
class BlockInfo:
    definition: ast.BlockDef
    filename: str


class Elaborator:
    def __init__(self, filename: str, source: str):
        self.sources = {filename: source}
        self.blocks: dict[str, BlockInfo] = {}
        self.constraints = Constraints()
        self.saved: dict[str, tuple[Shape, ir.Span]] = {}
        self.sides: set[str] = set()
        self.call_stack: list[str] = []
        self.head: ast.Layer | None = None  # the classifier being elaborated now: it takes no `after` defaults
        self.imported: set[Path] = set()

    # ------------------------------------------------------------ entry

    def network(self, tree: ast.SpecFile, params: Mapping[str, Any], input_override) -> ir.Network:
        filename = tree.filename
        decl = _single(tree, ast.NetworkDecl, "network", filename)
        input_decl = _single(tree, ast.InputDecl, "input", filename)
        name = decl.name if decl else Path(filename).stem.replace("-", "_") or "network"
        meta: dict[str, str] = {}
        expects: list[ir.Expect] = []
        lint_off: list[str] = []
        body_items: list[ast.BodyItem] = []
        for st in tree.statements:
            if isinstance(st, ast.ImportDecl):
                self.import_file(st, filename)
            elif isinstance(st, ast.BlockDef):
                self.define_block(st, filename)
            elif isinstance(st, ast.MetaDecl):
                if st.key in meta:
                    raise error(f"`meta {st.key}` is given twice", span_of(st.loc, filename), code="duplicate-name")
                meta[st.key] = st.value
            elif isinstance(st, ast.ExpectDecl):
                expects.append(self.expect(st, filename))
            elif isinstance(st, ast.LintOff):
                lint_off.extend(st.ids)
            elif not isinstance(st, (ast.NetworkDecl, ast.InputDecl)):
                body_items.append(st)

        env = self.network_params(decl, params, filename)
        in_shape = self.input_shape(input_decl, input_override, filename)
        if not any(not isinstance(i, ast.Default) for i in body_items):
            where = span_of(tree.statements[-1].loc, filename) if tree.statements else _file_span(filename)
            raise error("the network has no layers", where, code="empty",
                        help="write the layers after the `input` line, e.g. `conv3-64 relu maxpool fc-10`")
        root = Scope("", env, {}, filename)
        children, out_shape = self.body(body_items, in_shape, root, tail=True)
        body = _seq(path="", in_shape=_dims(in_shape), out_shape=_dims(out_shape), children=children)
        return ir.Network.model_construct(
            name=name, source=None if filename.startswith("<") else filename,
            params={k: v for k, v in env.items() if not k.startswith("_") and k != "in"},
            meta=meta, input_shape=_dims(in_shape), constraints=self.constraints.describe(), body=body,
            expects=tuple(expects), lint_off=tuple(lint_off), spec_hash=architecture_hash(body),
        )

    # ------------------------------------------------------------ declarations

    def network_params(self, decl: ast.NetworkDecl | None, overrides: Mapping[str, Any], filename: str) -> dict:
        env: dict[str, Any] = {}
        declared = {p.name: p for p in decl.params} if decl else {}
        for key in overrides:
            if key not in declared:
                hint = did_you_mean(key, declared) or (
                    f"this network's parameters: {', '.join(declared)}" if declared else
                    "this network declares no parameters: add them to its `network` line")
                raise error(f"unknown network parameter `{key}`", span_of(decl.loc, filename) if decl else None,
                            code="undefined", help=hint)
        for p in declared.values():
            if p.name in overrides:
                env[p.name] = overrides[p.name]
            elif p.default is not None:
                env[p.name] = evaluate(p.default, env, filename)
            else:
                raise error(f"network parameter `{p.name}` has no default and was not set",
                            span_of(p.loc, filename), code="missing-argument",
                            help=f"give it a default (`{p.name}=...`) or set it: --set {p.name}=VALUE")
        return env

    def input_shape(self, decl: ast.InputDecl | None, override, filename: str) -> Shape:
        if override is not None:
            dims = _parse_shape_text(override) if isinstance(override, str) else tuple(override)
            if not dims or not all(isinstance(d, int) and d > 0 for d in dims) or len(dims) not in (1, 3):
                raise error(f"bad input shape {override!r}: expected CxHxW such as 3x224x224", code="value")
            return dims
        if decl is None:
            raise error("the spec has no `input` line", _file_span(filename), code="missing-input",
                        help="say the input shape, e.g. `input 3x224x224` (channels x height x width)")
        dims = decl.shape.dims
        where = span_of(decl.loc, filename)
        if len(dims) not in (1, 3):
            raise error(f"an input shape has 3 dimensions (channels x height x width), got {len(dims)}", where,
                        code="value", help="write e.g. `input 3x224x224` or `input 3xHxW`")
        if not isinstance(dims[0], int):
            raise error("the number of input channels must be a number", where, code="value")
        if any(isinstance(d, int) and d <= 0 for d in dims):
            raise error("input sizes must be positive", where, code="value")
        return tuple(Sym(d) if isinstance(d, str) else d for d in dims)

    def expect(self, st: ast.ExpectDecl, filename: str) -> ir.Expect:
        allowed = ("params", "macs", "output")
        if st.what not in allowed:
            raise error(f"unknown expectation `{st.what}`", span_of(st.loc, filename), code="undefined",
                        help=did_you_mean(st.what, allowed) or f"expect one of: {', '.join(allowed)}")
        return ir.Expect.model_construct(what=st.what, value=st.value, span=span_of(st.loc, filename))

    def define_block(self, st: ast.BlockDef, filename: str) -> None:
        where = span_of(st.loc, filename)
        if lookup(st.name) is not None:
            raise error(f"block `{st.name}` has the name of a built-in layer", where, code="duplicate-name",
                        help="choose another name for the block")
        if st.name in self.blocks:
            other = self.blocks[st.name]
            raise error(f"block `{st.name}` is defined twice", where, code="duplicate-name",
                        labels=[Label(span_of(other.definition.loc, other.filename), "first defined here")])
        seen = set()
        for p in st.params:
            if p.name in seen:
                raise error(f"parameter `{p.name}` is listed twice", span_of(p.loc, filename), code="duplicate-name")
            seen.add(p.name)
        self.blocks[st.name] = BlockInfo(st, filename)

    def import_file(self, st: ast.ImportDecl, filename: str) -> None:
        from .frontend import zoo_dir

        where = span_of(st.loc, filename)
        base = Path(filename).parent if not filename.startswith("<") else Path.cwd()
        candidates = [base / st.path, zoo_dir() / st.path]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise error(f"cannot find the imported file \"{st.path}\"", where, code="import",
                        help=f"looked in {base} and in the zoo ({zoo_dir()})")
        path = path.resolve()
        if path in self.imported:
            return
        self.imported.add(path)
        try:
            text, tree = _parse_library(str(path), path.stat().st_mtime_ns)
        except SpecError as exc:
            raise SpecError(exc.diagnostics + (_imported_from(where),), {**exc.sources, **self.sources}) from None
        self.sources[str(path)] = text
        for inner in tree.statements:
            if isinstance(inner, ast.ImportDecl):
                self.import_file(inner, str(path))
            elif isinstance(inner, ast.BlockDef):
                self.define_block(inner, str(path))
            else:
                raise error("an imported file may only define blocks and import others",
                            span_of(inner.loc, str(path)), code="import",
                            labels=[Label(where, "imported here")])

    def head_position(self, items) -> int | None:
        """The head rule: which element of a body at the end of the network holds its classifier.

        Trailing layers without weights (activations, dropout, soft-max) are skipped; a weighted layer,
        a group or a block call is the answer (the last two are searched in turn); anything else
        (a residual, a concat) means the network ends without a classifier head.
        """
        for i in range(len(items) - 1, -1, -1):
            item = items[i].element if isinstance(items[i], ast.Labelled) else items[i]
            if isinstance(item, ast.Default):
                continue
            if isinstance(item, ast.Group) or (isinstance(item, ast.Layer) and item.op in self.blocks):
                return i
            if not isinstance(item, ast.Layer):
                return None
            found = lookup(item.op)
            if found is None or found[0].weighted:
                return i
        return None

    # ------------------------------------------------------------ bodies and elements

    def body(self, items, shape: Shape, scope: Scope, tail: bool = False) -> tuple[list, Shape]:
        """Elaborate a sequence; `tail` says it ends the network (or a side output): the head rule."""
        # `in`: the channels entering the enclosing block, group, branch or repeat
        outer_env, scope.env = scope.env, {**scope.env, "in": shape[0]}
        try:
            return self._body(items, shape, scope, tail)
        finally:
            scope.env = outer_env

    def _body(self, items, shape: Shape, scope: Scope, tail: bool) -> tuple[list, Shape]:
        nodes = Nodes()
        defaults_copied = False
        elements = [item for item in items if not isinstance(item, ast.Default)]
        head_at = self.head_position(elements) if tail else None
        position = 0
        for item in items:
            if isinstance(item, ast.Default):
                if not defaults_copied:  # defaults are scoped: copy before the first change
                    scope.defaults = dict(scope.defaults)
                    defaults_copied = True
                self.default(item, scope)
                continue
            position += 1
            nxt = elements[position] if position < len(elements) else None
            new, shape = self.element(item, shape, scope, label=None, followed_by_bn=_is_bn(nxt),
                                      tail=position - 1 == head_at)
            nodes.append_all(new)
        return nodes, shape

    def default(self, item: ast.Default, scope: Scope) -> None:
        found = lookup(item.op)
        where = span_of(item.loc, scope.filename)
        if found is None:
            raise error(f"unknown layer `{item.op}` in `default`", where, code="undefined",
                        help=did_you_mean(item.op, known_words()))
        spec = found[0]
        current = dict(scope.defaults.get(spec.name, {}))
        for arg in item.args:
            if arg.name is None:
                raise error("`default` takes keyword arguments: default conv(bias=false)",
                            span_of(arg.loc, scope.filename), code="arguments")
            self.check_keyword(spec, arg, scope.filename)
            current[arg.name] = (arg.value, scope.env, scope.filename)
        scope.defaults[spec.name] = current

    def element(self, item, shape: Shape, scope: Scope, label: str | None, followed_by_bn: bool = False,
                tail: bool = False):
        if isinstance(item, ast.Labelled):
            if label is not None:
                raise error("a layer can have one label", span_of(item.loc, scope.filename), code="syntax")
            return self.element(item.element, shape, scope, item.label, followed_by_bn, tail)
        handler = getattr(self, "el_" + type(item).__name__)
        if isinstance(item, (ast.Layer, ast.Group)):
            return handler(item, shape, scope, label, followed_by_bn, tail)
        return handler(item, shape, scope, label, followed_by_bn)

    def name_for(self, scope: Scope, label: str | None, base: str, loc: ast.Loc) -> tuple[str, str | None]:
        if label is not None:
            return scope.claim(label, span_of(loc, scope.filename)), label
        return scope.auto_name(base), None

    def el_Repeat(self, item: ast.Repeat, shape, scope: Scope, label, followed_by_bn):
        times = self.as_int(evaluate(item.times, scope.env, scope.filename), item.times, scope, "a repeat count",
                            minimum=0)
        if label is not None:
            raise error("label the layers inside a repeat, or put the repeat in a labelled group: "
                        "stage1: { [block]x3 }", span_of(item.loc, scope.filename), code="syntax")
        nodes = Nodes()
        for _ in range(times):
            new, shape = self.body(item.body.items, shape, scope)
            nodes.append_all(new)
        nodes.repeats.append(ir.RepeatSpan.model_construct(start=0, stop=len(nodes), count=times))
        return nodes, shape

    def el_Group(self, item: ast.Group, shape, scope: Scope, label, followed_by_bn, tail=False):
        name, label = self.name_for(scope, label, "group", item.loc)
        inner = scope.child(name)
        children, out = self.body(item.body.items, shape, inner, tail)
        return [_seq(path=inner.path, label=label, span=span_of(item.loc, scope.filename), in_shape=_dims(shape),
                       out_shape=_dims(out), children=children)], out

    def el_Layer(self, item: ast.Layer, shape, scope: Scope, label, followed_by_bn, tail=False):
        if item.op in self.blocks:
            return self.call_block(item, shape, scope, label, tail)
        found = lookup(item.op)
        if found is None:
            where = span_of(item.loc, scope.filename)
            candidates = known_words() + list(self.blocks)
            suggestion = did_you_mean(item.op, candidates) if len(item.op) <= 40 else None
            if suggestion and item.dash is not None:
                fixed = suggestion.split("`")[1]
                suggestion = f"did you mean `{fixed}-{_source_text(item.dash)}`?"
            if item.op.startswith("x") and item.op[1:].isdigit():
                suggestion = f"a repeat is written right after a bracketed group: [conv3-64]{item.op}"
            raise error(f"unknown layer or block `{_short(item.op)}`", where, code="undefined", help=suggestion)
        spec, kernel = found
        self.head = item if tail else None
        args = self.bind_args(spec, item, scope)
        return self.builtin(spec, kernel, args, item, shape, scope, label, followed_by_bn)

    # ------------------------------------------------------------ arguments

    def check_keyword(self, spec: OpSpec, arg: ast.Arg, filename: str) -> None:
        if arg.name not in spec.keywords:
            where = span_of(arg.loc, filename)
            accepted = ", ".join(spec.keywords) if spec.keywords else "no keyword arguments"
            raise error(f"`{spec.name}` has no argument `{arg.name}`", where, code="arguments",
                        help=did_you_mean(arg.name, spec.keywords) or f"`{spec.name}` takes {accepted}")

    def bind_args(self, spec: OpSpec, item: ast.Layer, scope: Scope) -> dict[str, tuple[Any, ast.Loc]]:
        """Arguments by name -> (value, loc): positional, keyword, then the scope's defaults."""
        out: dict[str, tuple[Any, ast.Loc]] = {}
        for i, arg in enumerate(item.args or ()):
            if arg.name is None:
                if i >= len(spec.positional):
                    n = len(spec.positional)
                    raise error(f"`{spec.name}` takes {n or 'no'} positional argument{'s' if n != 1 else ''}"
                                + (f" ({', '.join(spec.positional)})" if n else ""),
                                span_of(arg.loc, scope.filename), code="arguments",
                                help=f"name the argument: {spec.name}(...={_source_text(arg.value)})"
                                if spec.keywords else None)
                name = spec.positional[i]
            else:
                self.check_keyword(spec, arg, scope.filename)
                name = arg.name
            if name in out:
                raise error(f"argument `{name}` is given twice", span_of(arg.loc, scope.filename), code="arguments")
            out[name] = (self.value(arg.value, scope.env, scope.filename), arg.loc)
        if scope.apply_defaults:
            for name, (expr, env, filename) in scope.defaults.get(spec.name, {}).items():
                if name not in out:
                    if name == "after" and self.head is item:
                        continue  # the head rule
                    out[name] = (self.value(expr, env, filename), getattr(expr, "loc", item.loc))
        return out

    def value(self, value, env, filename):
        if isinstance(value, ast.Body):
            return value  # a sequence value (after=[bn relu]) is elaborated where it is used
        return evaluate(value, env, filename)

    def as_int(self, value, expr, scope: Scope, what: str, minimum: int = 1) -> int:
        filename = scope.filename
        loc = expr.loc if hasattr(expr, "loc") else expr  # an expression, or already a location
        if isinstance(value, Symbol):
            number(value, expr, scope.env, filename)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise error(f"{what} must be a whole number, got {describe(value)}", span_of(loc, filename), code="value")
        value = int(value)
        if value < minimum:
            raise error(f"{what} must be at least {minimum}, got {value}", span_of(loc, filename), code="value")
        return value

    def as_pair(self, value, loc, scope: Scope, what: str, minimum: int = 1) -> tuple[int, int]:
        if isinstance(value, tuple):
            if len(value) != 2:
                raise error(f"{what} takes one number or two (HxW), got {describe(value)}",
                            span_of(loc, scope.filename), code="value")
            return (self.as_int(value[0], loc, scope, what, minimum), self.as_int(value[1], loc, scope, what, minimum))
        v = self.as_int(value, loc, scope, what, minimum)
        return v, v

    def as_float(self, value, loc, scope: Scope, what: str, low: float | None = None, high: float | None = None):
        if isinstance(value, Symbol):
            number(value, ast.Name(value.word, value.loc), scope.env, scope.filename)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise error(f"{what} must be a number, got {describe(value)}", span_of(loc, scope.filename), code="value")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise error(f"{what} must be {bounds}, got {value}", span_of(loc, scope.filename), code="value")
        return float(value)

    def as_bool(self, value, loc, scope: Scope, what: str) -> bool:
        if not isinstance(value, bool):
            raise error(f"{what} is true or false, got {describe(value)}", span_of(loc, scope.filename), code="value")
        return value

    def as_word(self, value, loc, scope: Scope, what: str, choices) -> str:
        word = value.word if isinstance(value, Symbol) else value if isinstance(value, str) else None
        if word not in choices:
            raise error(f"{what} must be one of {', '.join(choices)}; got {describe(value)}",
                        span_of(loc, scope.filename), code="value",
                        help=did_you_mean(word, choices) if word else None)
        return word

    # ------------------------------------------------------------ built-in layers

    def builtin(self, spec: OpSpec, kernel, args, item: ast.Layer, shape, scope: Scope, label, followed_by_bn):
        where = span_of(item.loc, scope.filename)
        get = lambda name, default=None: args[name][0] if name in args else default  # noqa: E731
        loc = lambda name: args[name][1] if name in args else item.loc  # noqa: E731

        if spec.dash is None and item.dash is not None:
            raise error(f"`{spec.name}` takes no `-` size", span_of(item.dash.loc, scope.filename), code="arguments",
                        help="conv3-64 and fc-4096 take a size; other layers take arguments in parentheses")
        if spec.dash is not None and item.dash is None and spec.name in ("conv", "fc", "adaptive_avgpool",
                                                                         "adaptive_maxpool"):
            raise error(f"`{item.op}` needs its {spec.dash}: write e.g. {_example(spec.name)}", where,
                        code="arguments")
        if spec.kernel_in_name and kernel is None and "kernel" in args:
            kernel = self.as_pair(get("kernel"), loc("kernel"), scope, "the kernel size")
        elif "kernel" in args:
            raise error("the kernel size is already in the layer's name", span_of(loc("kernel"), scope.filename),
                        code="arguments")
        if spec.kernel_in_name and kernel is None and spec.name in ("conv", "dwconv"):
            raise error(f"`{item.op}` needs a kernel size: write e.g. conv3-64 or conv1x7-192", where,
                        code="arguments")
        if item.slash is not None:
            if "stride" not in spec.keywords:
                raise error(f"`{spec.name}` takes no stride", span_of(item.slash.loc, scope.filename),
                            code="arguments")
            if "stride" in args:
                raise error("the stride is given twice (after `/` and as stride=)", where, code="arguments")
            args["stride"] = (evaluate(item.slash, scope.env, scope.filename), item.slash.loc)
        dash = evaluate(item.dash, scope.env, scope.filename) if item.dash is not None else None

        build = getattr(self, "op_" + spec.name, None) or self.op_activation
        main, out = build(spec=spec, kernel=kernel, dash=dash, item=item, args=args, get=get, loc=loc,
                          shape=shape, scope=scope, where=where, followed_by_bn=followed_by_bn)
        nodes = main if isinstance(main, list) else [main]
        # name the main node (conv/fc) with the label; an implied flatten comes first
        named = []
        for node in nodes:
            base = _base_name(spec, node)
            name, lab = self.name_for(scope, label if node is nodes[-1] else None, base, item.loc)
            named.append(node.model_copy(update={"path": scope.join(name), "label": lab, "span": where}))
        if spec.weighted and "after" in args:
            after = args["after"][0]
            if isinstance(after, Symbol) and after.word == "none":
                after = None
            elif isinstance(after, ast.Layer) or not isinstance(after, (ast.Body, type(None))):
                raise error("after= takes a list of layers in brackets, such as after=[bn relu], or none",
                            span_of(args["after"][1], scope.filename), code="value")
            if after is not None:
                plain = Scope(scope.path, scope.env, scope.defaults, scope.filename, scope.used, scope.counters,
                              apply_defaults=False)
                more, out = self.body(after.items, out, plain)
                # the layers a default appends point at the layer they follow, in its own file
                named.extend(m.model_copy(update={"span": where}) for m in more)
        return named, out

    def feature_map(self, shape, spec: OpSpec, where) -> None:
        if len(shape) != 3:
            raise error(f"`{spec.name}` needs a feature map (channels x height x width), but its input is a "
                        f"vector of {shape[0]}", where, code="shape",
                        help="move it before the fully connected layers")

    def spatial(self, n: Size, k: int, s: int, p0: int, p1: int, d: int, ceil: bool, what: str, shape, where):
        out = window_out(n, k, s, p0, p1, d, ceil, self.constraints)
        if isinstance(out, int) and out <= 0:
            raise error(f"{what} would produce an empty output: its input is {_fmt_shape(shape)}, "
                        f"too small for a {k}-wide window (padding {p0}+{p1}, dilation {d})", where, code="shape",
                        help="use a larger input, padding, or remove a downsampling layer before it")
        return out

    def op_conv(self, *, spec, kernel, dash, args, get, loc, shape, scope, where, followed_by_bn, **_):
        self.feature_map(shape, spec, where)
        c_in, h, w = shape
        if spec.name == "dwconv":
            mult = self.as_int(get("multiplier", 1), loc("multiplier"), scope, "the depth multiplier")
            out_c, groups = c_in * mult, c_in
            if "groups" in args:
                raise error("a depthwise conv has one group per channel; groups cannot be set",
                            span_of(loc("groups"), scope.filename), code="arguments")
        else:
            out_c = self.as_int(dash, _at(where), scope, "the number of filters")
            groups = self.as_int(get("groups", 1), loc("groups"), scope, "groups")
        if c_in % groups or out_c % groups:
            raise error(f"groups={groups} must divide both the input channels ({c_in}) and the filters ({out_c})",
                        span_of(loc("groups"), scope.filename), code="value")
        stride = self.as_pair(get("stride", 1), loc("stride"), scope, "the stride")
        dilation = self.as_pair(get("dilation", 1), loc("dilation"), scope, "the dilation")
        padding = self.padding(get("pad", Symbol("same", None)), loc("pad"), scope, kernel, dilation, conv=True)
        bias = get("bias", None)
        if bias is None:
            after = get("after")
            bias = not (followed_by_bn or (isinstance(after, ast.Body) and after.items and _is_bn(after.items[0])))
        bias = self.as_bool(bias, loc("bias"), scope, "bias")
        oh = self.spatial(h, kernel[0], stride[0], padding[0], padding[1], dilation[0], False, "this conv", shape, where)
        ow = self.spatial(w, kernel[1], stride[1], padding[2], padding[3], dilation[1], False, "this conv", shape, where)
        out = (out_c, oh, ow)
        node = ir.Conv.model_construct(path="", in_shape=_dims(shape), out_shape=_dims(out), in_channels=c_in, out_channels=out_c,
                       kernel=kernel, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)
        return node, out

    op_dwconv = op_conv

    def padding(self, value, loc, scope: Scope, kernel, dilation, conv: bool):
        word = value.word if isinstance(value, Symbol) else None
        if word == "same":
            (t, b), (l, r) = same_padding(kernel[0], dilation[0]), same_padding(kernel[1], dilation[1])
            return (t, b, l, r)
        if word == "valid":
            return (0, 0, 0, 0)
        if word is not None:
            self.as_word(value, loc, scope, "padding", ("same", "valid"))
        ph, pw = self.as_pair(value, loc, scope, "the padding", minimum=0)
        return (ph, ph, pw, pw)

    def op_fc(self, *, spec, dash, args, get, loc, shape, scope, where, **_):
        features = self.as_int(dash, _at(where), scope, "the number of features")
        nodes = []
        if len(shape) == 3:
            if not all(isinstance(d, int) for d in shape):
                raise error(f"a fully connected layer needs a fixed input size, but the feature map is "
                            f"{_fmt_shape(shape)}", where, code="shape",
                            help="pool to a fixed size first (gap or adaptive_avgpool-7x7), or give the input "
                                 "size with --input")
            flat = shape[0] * shape[1] * shape[2]
            nodes.append(ir.Flatten.model_construct(path="", in_shape=_dims(shape), out_shape=(flat,)))
            shape = (flat,)
        bias = self.as_bool(get("bias", True), loc("bias"), scope, "bias")
        out = (features,)
        nodes.append(ir.Linear.model_construct(path="", in_shape=_dims(shape), out_shape=out, in_features=shape[0],
                               out_features=features, bias=bias))
        return nodes, out

    def op_pool(self, *, spec, kernel, args, get, loc, shape, scope, where, **_):
        self.feature_map(shape, spec, where)
        kernel = kernel or (2, 2)
        stride = self.as_pair(get("stride", kernel), loc("stride"), scope, "the stride")
        pad_value = get("pad", 0)
        if isinstance(pad_value, Symbol) and pad_value.word == "same":
            if kernel[0] % 2 == 0 or kernel[1] % 2 == 0:
                raise error("pad=same needs an odd pooling window", span_of(loc("pad"), scope.filename), code="value")
            pad = (kernel[0] // 2, kernel[1] // 2)
        else:
            pad = self.as_pair(pad_value, loc("pad"), scope, "the padding", minimum=0)
        if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
            raise error(f"pooling padding {pad[0]}x{pad[1]} is more than half the {kernel[0]}x{kernel[1]} window",
                        span_of(loc("pad"), scope.filename), code="value",
                        help="a pooling window may be padded by at most half its size")
        ceil = self.as_bool(get("ceil", False), loc("ceil"), scope, "ceil")
        c, h, w = shape
        oh = self.spatial(h, kernel[0], stride[0], pad[0], pad[0], 1, ceil, "this pooling layer", shape, where)
        ow = self.spatial(w, kernel[1], stride[1], pad[1], pad[1], 1, ceil, "this pooling layer", shape, where)
        out = (c, oh, ow)
        mode = "max" if spec.name == "maxpool" else "avg"
        include = self.as_bool(get("count_include_pad", True), loc("count_include_pad"), scope, "count_include_pad")
        return ir.Pool.model_construct(path="", in_shape=_dims(shape), out_shape=_dims(out), mode=mode, kernel=kernel, stride=stride,
                       padding=pad, ceil_mode=ceil, count_include_pad=include), out

    op_maxpool = op_pool
    op_avgpool = op_pool

    def op_adaptive(self, *, spec, dash, args, loc, shape, scope, where, **_):
        self.feature_map(shape, spec, where)
        size = (1, 1) if spec.name in ("gap", "gmp") else self.as_pair(dash, _at(where), scope,
                                                                       "the output size")
        mode = "max" if spec.name in ("gmp", "adaptive_maxpool") else "avg"
        out = (shape[0],) + size
        return ir.AdaptivePool.model_construct(path="", in_shape=_dims(shape), out_shape=_dims(out), mode=mode,
                               output_size=size), out

    op_gap = op_gmp = op_adaptive_avgpool = op_adaptive_maxpool = op_adaptive

    def op_bn(self, *, get, loc, shape, scope, **_):
        eps = self.as_float(get("eps", 1e-5), loc("eps"), scope, "eps", low=0)
        momentum = self.as_float(get("momentum", 0.1), loc("momentum"), scope, "momentum", low=0, high=1)
        return ir.BatchNorm.model_construct(path="", in_shape=_dims(shape), out_shape=_dims(shape), num_features=shape[0], eps=eps,
                            momentum=momentum), shape

    def op_lrn(self, *, spec, get, loc, shape, scope, where, **_):
        self.feature_map(shape, spec, where)
        return ir.LRN.model_construct(path="", in_shape=_dims(shape), out_shape=_dims(shape),
                      size=self.as_int(get("size", 5), loc("size"), scope, "the LRN size"),
                      alpha=self.as_float(get("alpha", 1e-4), loc("alpha"), scope, "alpha"),
                      beta=self.as_float(get("beta", 0.75), loc("beta"), scope, "beta"),
                      k=self.as_float(get("k", 2.0), loc("k"), scope, "k")), shape

    def op_dropout(self, *, get, loc, shape, scope, **_):
        p = self.as_float(get("p", 0.5), loc("p"), scope, "the dropout probability", low=0, high=1)
        return ir.Dropout.model_construct(path="", in_shape=_dims(shape), out_shape=_dims(shape), p=p), shape

    def op_flatten(self, *, shape, where, **_):
        if len(shape) == 3 and not all(isinstance(d, int) for d in shape):
            raise error(f"flatten needs a fixed input size, but the feature map is {_fmt_shape(shape)}", where,
                        code="shape", help="give the input size with --input")
        flat = shape[0] * shape[1] * shape[2] if len(shape) == 3 else shape[0]
        return ir.Flatten.model_construct(path="", in_shape=_dims(shape), out_shape=(flat,)), (flat,)

    def op_upsample(self, *, spec, get, loc, shape, scope, where, **_):
        self.feature_map(shape, spec, where)
        factor = self.as_int(get("scale", 2), loc("scale"), scope, "the upsampling scale")
        mode = self.as_word(get("mode", "nearest"), loc("mode"), scope, "mode", ("nearest", "bilinear"))
        try:
            out = (shape[0], scale(shape[1], factor), scale(shape[2], factor))
        except ValueError as exc:
            raise error(str(exc), where, code="shape") from None
        return ir.Upsample.model_construct(path="", in_shape=_dims(shape), out_shape=_dims(out), scale=factor, mode=mode), out

    def op_activation(self, *, spec, get, loc, shape, scope, **_):
        alpha = None
        num_parameters = 1
        if spec.name == "leaky_relu":
            alpha = self.as_float(get("slope", 0.01), loc("slope"), scope, "the negative slope")
        elif spec.name == "elu":
            alpha = self.as_float(get("alpha", 1.0), loc("alpha"), scope, "alpha")
        elif spec.name == "prelu":
            alpha = 0.25
            if self.as_bool(get("channels", False), loc("channels"), scope, "channels"):
                num_parameters = shape[0]
        return ir.Activation.model_construct(path="", in_shape=_dims(shape), out_shape=_dims(shape), fn=spec.name, alpha=alpha,
                             num_parameters=num_parameters), shape

    # ------------------------------------------------------------ blocks

    def call_block(self, item: ast.Layer, shape, scope: Scope, label, tail: bool = False):
        info = self.blocks[item.op]
        block = info.definition
        where = span_of(item.loc, scope.filename)
        if item.dash is not None or item.slash is not None:
            raise error(f"block `{block.name}` takes its arguments in parentheses: {block.name}(...)", where,
                        code="arguments")
        if block.name in self.call_stack:
            chain = " -> ".join(self.call_stack[self.call_stack.index(block.name):] + [block.name])
            raise error(f"block `{block.name}` uses itself: {chain}", where, code="recursion",
                        labels=[Label(span_of(block.loc, info.filename), "defined here")],
                        help="a block cannot contain itself; write the repetition with [...]xN instead")
        if len(self.call_stack) > 64:
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
            bound[name] = self.value(arg.value, scope.env, scope.filename)
        env = {k: v for k, v in scope.env.items() if k not in params}
        for p in block.params:
            if p.name in bound:
                env[p.name] = bound[p.name]
            elif p.default is not None:
                env[p.name] = evaluate(p.default, env, info.filename)
            else:
                raise error(f"block `{block.name}` needs a value for `{p.name}`", where, code="missing-argument",
                            labels=[Label(span_of(p.loc, info.filename), "parameter defined here")])
        name, label = self.name_for(scope, label, block.name, item.loc)
        inner = scope.child(name, env=env, filename=info.filename)
        self.call_stack.append(block.name)
        try:
            children, out = self.body(block.body.items, shape, inner, tail)
        finally:
            self.call_stack.pop()
        args = {p.name: _block_arg(env[p.name]) for p in block.params}
        return [_seq(path=inner.path, label=label, span=where, in_shape=_dims(shape), out_shape=_dims(out),
                     children=children, block=block.name, block_args=args)], out

    # ------------------------------------------------------------ composition

    def el_ConcatBlock(self, item: ast.ConcatBlock, shape, scope: Scope, label, followed_by_bn):
        where = span_of(item.loc, scope.filename)
        name, label = self.name_for(scope, label, "concat", item.loc)
        node_scope = scope.child(name)
        branches, shapes = [], []
        for i, body in enumerate(item.branches, 1):
            inner = node_scope.child(f"branch{i}")
            children, out = self.body(body.items, shape, inner)
            branches.append(_seq(path=inner.path, span=span_of(body.loc, scope.filename) if body.loc else where,
                                   in_shape=_dims(shape), out_shape=_dims(out), children=children))
            shapes.append(out)
        out = self.join_channels(shapes, [b.span for b in branches], where, "the branches of this concat")
        return [ir.Concat.model_construct(path=node_scope.path, label=label, span=where, in_shape=_dims(shape), out_shape=_dims(out),
                          branches=tuple(branches))], out

    def join_channels(self, shapes, spans, where, what: str) -> Shape:
        ranks = {len(s) for s in shapes}
        if len(ranks) > 1 or (ranks == {3} and len({s[1:] for s in shapes}) > 1):
            raise error(f"{what} disagree in height and width, so their channels cannot be concatenated", where,
                        code="shape-mismatch",
                        labels=[Label(sp, f"gives {_fmt_shape(s)}") for sp, s in zip(spans, shapes)],
                        help="give every branch the same stride and padding (e.g. pad=1 on a 3x3 pooling branch)")
        return (sum(s[0] for s in shapes),) + tuple(shapes[0][1:])

    def el_ResidualBlock(self, item: ast.ResidualBlock, shape, scope: Scope, label, followed_by_bn):
        where = span_of(item.loc, scope.filename)
        mode = "auto"
        for arg in item.args or ():
            if arg.name not in (None, "shortcut"):
                raise error(f"`residual` has no argument `{arg.name}`", span_of(arg.loc, scope.filename),
                            code="arguments", help="residual(shortcut=auto|identity|project|pad)")
            mode = self.as_word(evaluate(arg.value, scope.env, scope.filename), arg.loc, scope, "shortcut",
                                _RESIDUAL_SHORTCUTS)
        name, label = self.name_for(scope, label, "residual", item.loc)
        node_scope = scope.child(name)
        body_scope = node_scope.child("body")
        children, out = self.body(item.body.items, shape, body_scope)
        body = _seq(path=body_scope.path, span=where, in_shape=_dims(shape), out_shape=_dims(out),
                      children=children)
        short_scope = node_scope.child("shortcut")
        shortcut, kind = None, "identity"
        if item.shortcut is not None:
            kind = "explicit"
            if item.args:
                raise error("an explicit shortcut and shortcut= cannot both be given", where, code="arguments")
            s_children, s_out = self.body(item.shortcut.items, shape, short_scope)
            if s_out != out:
                raise error(f"the residual body gives {_fmt_shape(out)} but its shortcut gives {_fmt_shape(s_out)}; "
                            f"they must match to be added", where, code="shape-mismatch")
            shortcut = _seq(path=short_scope.path, span=span_of(item.shortcut.loc, scope.filename)
                              if item.shortcut.loc else where, in_shape=_dims(shape), out_shape=_dims(out),
                              children=s_children)
        elif out != shape or mode in ("project", "pad"):
            if mode == "identity":
                raise error(f"residual add with mismatched shapes: the input is {_fmt_shape(shape)} but the body "
                            f"gives {_fmt_shape(out)}, and the shortcut is the identity", where,
                            code="shape-mismatch", help="use shortcut=project (a 1x1 conv + bn) or shortcut=pad")
            shortcut = self.shortcut(mode, shape, out, short_scope, where)
            kind = "pad" if mode == "pad" else "project"
        return [ir.Residual.model_construct(path=node_scope.path, label=label, span=where, in_shape=_dims(shape),
                                            out_shape=_dims(out), body=body, shortcut=shortcut,
                                            shortcut_kind=kind)], out

    def shortcut(self, mode: str, shape, out, scope: Scope, where) -> ir.Seq:
        """ResNet's shortcuts when the body changes the shape: option B (project) or option A (pad)."""
        if len(shape) != 3 or len(out) != 3:
            raise error("a residual around fully connected layers needs matching sizes", where, code="shape-mismatch")
        strides = []
        for a, b in zip(shape[1:], out[1:]):
            if isinstance(a, int) and isinstance(b, int):
                if b == 0 or a % b and -(-a // b) * b - a >= b:
                    raise error(f"residual add with mismatched shapes: the input is {_fmt_shape(shape)}, the body "
                                f"gives {_fmt_shape(out)}, and no stride maps one onto the other", where,
                                code="shape-mismatch")
                strides.append(-(-a // b))
            elif isinstance(a, Sym) and isinstance(b, Sym) and a.name == b.name and b.den % a.den == 0:
                strides.append(b.den // a.den)
            else:
                raise error(f"residual add with mismatched shapes: {_fmt_shape(shape)} and {_fmt_shape(out)}", where,
                            code="shape-mismatch")
        stride = (strides[0], strides[1])
        nodes = []
        c_in = shape[0]
        if mode == "pad":
            if out[0] < c_in:
                raise error(f"shortcut=pad can only add channels ({c_in} -> {out[0]})", where, code="shape-mismatch",
                            help="use shortcut=project")
            mid = (c_in,) + tuple(out[1:])
            nodes.append(ir.Pool.model_construct(path=scope.join("subsample"), span=where, in_shape=_dims(shape), out_shape=_dims(mid),
                                 mode="max", kernel=(1, 1), stride=stride))
            extra = out[0] - c_in
            nodes.append(ir.ChannelPad.model_construct(path=scope.join("pad"), span=where, in_shape=_dims(mid), out_shape=_dims(out),
                                       before=extra // 2, after=extra - extra // 2))
        else:
            nodes.append(ir.Conv.model_construct(path=scope.join("conv"), span=where, in_shape=_dims(shape), out_shape=_dims(out),
                                 in_channels=c_in, out_channels=out[0], kernel=(1, 1), stride=stride, bias=False))
            nodes.append(ir.BatchNorm.model_construct(path=scope.join("bn"), span=where, in_shape=_dims(out), out_shape=_dims(out),
                                      num_features=out[0]))
        return _seq(path=scope.path, span=where, in_shape=_dims(shape), out_shape=_dims(out), children=nodes)

    def el_DenseBlock(self, item: ast.DenseBlock, shape, scope: Scope, label, followed_by_bn):
        where = span_of(item.loc, scope.filename)
        count = None
        for arg in item.args or ():
            if arg.name not in (None, "layers"):
                raise error(f"`dense` has no argument `{arg.name}`", span_of(arg.loc, scope.filename),
                            code="arguments", help="dense(N) { ... } repeats its body N times")
            count = self.as_int(evaluate(arg.value, scope.env, scope.filename), arg.value, scope,
                                "the number of dense layers")
        if count is not None and len(item.bodies) > 1:
            raise error("dense(N) takes one layer body; without N, write each layer: dense { a | b }", where,
                        code="arguments")
        bodies = item.bodies * count if count is not None else item.bodies
        self.feature_map(shape, OPS["conv"], where)
        name, label = self.name_for(scope, label, "dense", item.loc)
        node_scope = scope.child(name)
        layers = []
        current = shape
        for i, body in enumerate(bodies, 1):
            inner = node_scope.child(f"layer{i}")
            children, out = self.body(body.items, current, inner)
            if len(out) != 3 or out[1:] != current[1:]:
                raise error(f"a dense layer must keep the height and width ({_fmt_shape(current)} became "
                            f"{_fmt_shape(out)}), so that its output can be concatenated", where,
                            code="shape-mismatch", help="use padding 'same' and stride 1 inside a dense block")
            layers.append(_seq(path=inner.path, span=where, in_shape=_dims(current), out_shape=_dims(out),
                                 children=children))
            current = (current[0] + out[0],) + tuple(current[1:])
        return [ir.Dense.model_construct(path=node_scope.path, label=label, span=where, in_shape=_dims(shape),
                         out_shape=_dims(current), layers=tuple(layers))], current

    def el_GateBlock(self, item: ast.GateBlock, shape, scope: Scope, label, followed_by_bn):
        where = span_of(item.loc, scope.filename)
        self.feature_map(shape, OPS["conv"], where)
        name, label = self.name_for(scope, label, "gate", item.loc)
        node_scope = scope.child(name)
        body_scope = node_scope.child("body")
        children, out = self.body(item.body.items, shape, body_scope)
        if out[0] != shape[0] or not (len(out) == 1 or out[1:] in ((1, 1), tuple(shape[1:]))):
            raise error(f"a gate multiplies its input ({_fmt_shape(shape)}) by its body's output, which must have "
                        f"the same channels, one value per channel; got {_fmt_shape(out)}", where,
                        code="shape-mismatch", help=f"end the gate's body with fc-{shape[0]} sigmoid")
        body = _seq(path=body_scope.path, span=where, in_shape=_dims(shape), out_shape=_dims(out),
                      children=children)
        return [ir.Gate.model_construct(path=node_scope.path, label=label, span=where, in_shape=_dims(shape), out_shape=_dims(shape),
                        body=body)], shape

    def el_SideBlock(self, item: ast.SideBlock, shape, scope: Scope, label, followed_by_bn):
        where = span_of(item.loc, scope.filename)
        if item.name in self.sides:
            raise error(f"there are two side outputs named `{item.name}`", where, code="duplicate-name")
        if label is not None:
            raise error("a side output is named by its own name: side aux1 { ... }", where, code="syntax")
        self.sides.add(item.name)
        path_name = scope.claim(item.name, where)
        node_scope = scope.child(path_name)
        body_scope = node_scope.child("body")
        children, out = self.body(item.body.items, shape, body_scope, tail=True)
        body = _seq(path=body_scope.path, span=where, in_shape=_dims(shape), out_shape=_dims(out),
                      children=children)
        return [ir.Side.model_construct(path=node_scope.path, span=where, in_shape=_dims(shape), out_shape=_dims(shape),
                        output=item.name, body=body)], shape

    def el_SaveRef(self, item: ast.SaveRef, shape, scope: Scope, label, followed_by_bn):
        where = span_of(item.loc, scope.filename)
        if item.name in self.saved:
            raise error(f"`@{item.name}` is defined twice", where, code="duplicate-name",
                        labels=[Label(self.saved[item.name][1], "first defined here")])
        self.saved[item.name] = (shape, where)
        name = scope.claim(label, where) if label else scope.auto_name("save")
        return [ir.Save.model_construct(path=scope.join(name), label=label, span=where, in_shape=_dims(shape), out_shape=_dims(shape),
                        ref=item.name)], shape

    def el_MergeRefs(self, item: ast.MergeRefs, shape, scope: Scope, label, followed_by_bn):
        where = span_of(item.loc, scope.filename)
        shapes = []
        for ref in item.refs:
            if ref not in self.saved:
                raise error(f"`@{ref}` is not defined before this point", where, code="undefined",
                            help=did_you_mean(ref, self.saved) or "name a tensor first by writing @name after it")
            shapes.append(self.saved[ref][0])
        if item.mode == "add":
            for ref, s in zip(item.refs, shapes):
                if s != shape:
                    raise error(f"cannot add `@{ref}` ({_fmt_shape(s)}) to the current tensor ({_fmt_shape(shape)}): "
                                f"the shapes differ", where, code="shape-mismatch",
                                labels=[Label(self.saved[ref][1], f"`@{ref}` is {_fmt_shape(s)} here")])
            out = shape
        else:
            spans = [where] + [self.saved[r][1] for r in item.refs]
            out = self.join_channels([shape] + shapes, spans, where, "the tensors joined here")
        name, label = self.name_for(scope, label, item.mode, item.loc)
        return [ir.Merge.model_construct(path=scope.join(name), label=label, span=where, in_shape=_dims(shape), out_shape=_dims(out),
                         mode=item.mode, refs=item.refs, ref_shapes=tuple(_dims(s) for s in shapes))], out


# ---------------------------------------------------------------- helpers


class Nodes(list):
    """The nodes a body elaborates to, and which runs of them were written as repeats."""

    def __init__(self):
        super().__init__()
        self.repeats: list[ir.RepeatSpan] = []

    def append_all(self, new: list) -> None:
        offset = len(self)
        self.repeats += [r.model_copy(update={"start": r.start + offset, "stop": r.stop + offset})
                         for r in getattr(new, "repeats", ())]
        self.extend(new)


def _block_arg(value) -> ir.BlockArg:
    """A block argument as the IR records it: numbers and words as written, a layer list as its text."""
    if isinstance(value, Symbol):
        return value.word
    if isinstance(value, ast.Body):
        from .formatter import body_text

        return f"[{body_text(value)}]"
    return value


def _seq(*, children, **fields) -> ir.Seq:
    return ir.Seq.model_construct(children=tuple(children), repeats=tuple(getattr(children, "repeats", ())),
                                  **fields)


def _short(word: str, limit: int = 40) -> str:
    """A word from the source, cut to a readable length for a message."""
    return word if len(word) <= limit else word[:limit] + "..."


def _at(where: ir.Span) -> ast.Loc:
    """The location to blame for a bad `-N` value: the whole layer."""
    return ast.Loc(where.line, where.column, where.end_line, where.end_column)


def _base_name(spec: OpSpec, node) -> str:
    if isinstance(node, ir.Flatten):
        return "flatten"
    return spec.name


def _is_bn(item) -> bool:
    if isinstance(item, ast.Labelled):
        item = item.element
    if not isinstance(item, ast.Layer):
        return False
    found = lookup(item.op)
    return found is not None and found[0].name == "bn"


def _single(tree: ast.SpecFile, cls, keyword: str, filename: str):
    found = [s for s in tree.statements if isinstance(s, cls)]
    if len(found) > 1:
        raise error(f"the `{keyword}` line is given twice", span_of(found[1].loc, filename), code="duplicate-name",
                    labels=[Label(span_of(found[0].loc, filename), "first given here")])
    return found[0] if found else None


def _dims(shape) -> tuple:
    return tuple(to_dim(d) for d in shape)


def _fmt_shape(shape) -> str:
    return "x".join(str(d) for d in shape)


def _file_span(filename: str) -> ir.Span:
    return ir.Span.model_construct(file=filename, line=1, column=1, end_line=1, end_column=1)


def _imported_from(where: ir.Span):
    from .diagnostics import Diagnostic

    return Diagnostic("in the file imported here", where, level="error", code="import")


def _example(op: str) -> str:
    return {"conv": "conv3-64", "fc": "fc-4096", "adaptive_avgpool": "adaptive_avgpool-7x7",
            "adaptive_maxpool": "adaptive_maxpool-1"}.get(op, op)


def _source_text(expr) -> str:
    from .formatter import expr_text

    return expr_text(expr) if not isinstance(expr, ast.Body) else "[...]"


def _parse_shape_text(text: str) -> tuple:
    try:
        return tuple(int(p) for p in text.lower().split("x"))
    except ValueError:
        raise error(f"bad input shape {text!r}: expected CxHxW such as 3x224x224", code="value") from None


def architecture_hash(body: ir.Seq) -> str:
    """sha256 over every node's kind, path, shapes and hyper-parameters: what the weights depend on."""
    h = hashlib.sha256()
    # what only says how the source was written, and the sub-nodes (walked themselves)
    skip = {"span", "label", "block", "block_args", "repeats", "shortcut_kind", "children", "branches", "body",
            "shortcut", "layers"}
    for node in ir.walk(body):
        h.update(repr(sorted(node.model_dump(exclude=skip).items())).encode())
    return h.hexdigest()


@lru_cache(maxsize=64)
def _parse_library(path: str, mtime_ns: int) -> tuple[str, ast.SpecFile]:
    """An imported file's text and tree, parsed once per process (`lint specs/` imports lib/ often)."""
    from .frontend import read_spec_text
    from .parser import parse_tree

    text = read_spec_text(Path(path))
    return text, parse_tree(text, path)


def is_library(tree: ast.SpecFile) -> bool:
    """A file of blocks (and imports) only: it is imported, not elaborated as a network."""
    return bool(tree.statements) and all(isinstance(s, (ast.BlockDef, ast.ImportDecl)) for s in tree.statements)


def check_library(tree: ast.SpecFile, *, filename: str, source: str) -> None:
    """Resolve a block library's imports and definitions, reporting what is wrong in them."""
    elab = Elaborator(filename, source)
    try:
        for st in tree.statements:
            if isinstance(st, ast.ImportDecl):
                elab.import_file(st, filename)
            else:
                elab.define_block(st, filename)
    except SpecError as exc:
        exc.sources = {**elab.sources, **exc.sources}
        raise


def elaborate(tree: ast.SpecFile, *, filename: str, source: str, params: Mapping[str, Any], input) -> ir.Network:
    elab = Elaborator(filename, source)
    try:
        return elab.network(tree, params, input)
    except SpecError as exc:
        exc.sources = {**elab.sources, **exc.sources}
        raise
