"""The elaborator: a syntax tree becomes the IR. This module holds its state, the walk over bodies
(a table from syntax class to handler), the network header (name, parameters, input, meta,
expect, lint off), the head rule, and the entry points.

Every error is a located SpecError in the words of the seeds: a concat whose branches disagree
lists each branch's shape, an empty output names the layer and its input size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .. import ir, syntax
from ..diagnostics import Diagnostic, Label, SpecError, did_you_mean, error
from ..expr import ListValue, evaluate, span_of
from ..ops.registry import lookup
from ..shapes import Constraints, Sym
from . import composites
from .blocks import BlockInfo, define_block
from ..limits import too_deep_for_python
from .budget import Budget
from .layers import default, is_bn, layer
from .library import import_file
from .scope import Nodes, Scope, Shape, dims, seq

# what each element of a body elaborates with: (elaborator, item, shape, scope, label, followed_by_bn, tail)
ELEMENTS = {
    syntax.Layer: layer,
    syntax.Group: composites.group,
    syntax.Repeat: composites.repeat,
    syntax.ConcatBlock: composites.concat,
    syntax.ResidualBlock: composites.residual,
    syntax.DenseBlock: composites.dense,
    syntax.GateBlock: composites.gate,
    syntax.SideBlock: composites.side,
    syntax.SaveRef: composites.save,
    syntax.MergeRefs: composites.merge,
    syntax.IfElement: composites.if_element,
    syntax.ForElement: composites.for_element,
}


class Elaborator:
    """What one elaboration remembers: sources read, blocks defined, saved tensors, the call stack."""

    def __init__(self, filename: str, source: str):
        self.sources = {filename: source}
        self.blocks: dict[str, BlockInfo] = {}
        self.constraints = Constraints()
        self.saved: dict[str, tuple[Shape, ir.Span]] = {}
        self.sides: set[str] = set()
        self.call_stack: list[str] = []
        self.head: syntax.Layer | None = None  # the classifier being elaborated now: it takes no `after` defaults
        self.imported: set[Path] = set()
        self.budget = Budget()  # the limits in force now (netspec.limits), and what has been spent
        self.errors: list[Diagnostic] = []  # every error found so far: elaboration goes on after one

    def recover(self, exc: SpecError) -> None:
        """Record an error and go on with the next element or statement.

        Once a file has an error, the shapes after it may be wrong, so only the errors that do not depend
        on shapes are kept from then on (an unknown name, a bad argument); the same error reached twice
        (a block called twice) is reported once. Past MAX_ERRORS, or on a resource limit, it stops.
        """
        first = exc.diagnostics[0] if exc.diagnostics else None
        if first is None or first.code in ABORT:
            raise exc
        if len(self.errors) >= MAX_ERRORS:
            raise SpecError(self.errors, {**exc.sources, **self.sources})
        self.sources = {**exc.sources, **self.sources}
        if self.errors and first.code not in INDEPENDENT:
            return
        if any((d.span, d.message) == (first.span, first.message) for d in self.errors):
            return
        self.errors.extend(exc.diagnostics)

    def network(self, tree: syntax.SpecFile, params: Mapping[str, Any], input_override) -> ir.Network:
        filename = tree.filename
        decl = _single(tree, syntax.NetworkDecl, "network", filename)
        input_decl = _single(tree, syntax.InputDecl, "input", filename)
        name = decl.name if decl else Path(filename).stem.replace("-", "_") or "network"
        meta: dict[str, str] = {}
        expects: list[ir.Expect] = []
        lint_off: list[ir.LintOff] = []
        body_items: list[syntax.BodyItem] = []
        for st in tree.statements:
            try:
                if isinstance(st, syntax.ImportDecl):
                    import_file(self, st, filename)
                elif isinstance(st, syntax.BlockDef):
                    define_block(self, st, filename)
                elif isinstance(st, syntax.MetaDecl):
                    if st.key in meta:
                        raise error(f"`meta {st.key}` is given twice", span_of(st.loc, filename),
                                    code="duplicate-name")
                    meta[st.key] = st.value
                elif isinstance(st, syntax.ExpectDecl):
                    expects.append(self.expect(st, filename))
                elif isinstance(st, syntax.LintOff):
                    lint_off += [ir.LintOff.model_construct(id=i, span=span_of(loc, filename))
                                 for i, loc in zip(st.ids, st.id_locs)]
                elif not isinstance(st, (syntax.NetworkDecl, syntax.InputDecl)):
                    body_items.append(st)
            except SpecError as exc:
                self.recover(exc)

        env = self.network_params(decl, params, filename)
        in_shape = self.input_shape(input_decl, input_override, filename)
        self.budget.shape(in_shape, span_of(input_decl.loc, filename) if input_decl else _file_span(filename))
        if not any(not isinstance(i, syntax.Default) for i in body_items):
            where = span_of(tree.statements[-1].loc, filename) if tree.statements else _file_span(filename)
            raise error("the network has no layers", where, code="empty",
                        help="write the layers after the `input` line, e.g. `conv3-64 relu maxpool fc-10`")
        root = Scope("", env, {}, filename)
        children, out_shape = self.body(body_items, in_shape, root, tail=True)
        if self.errors:
            raise SpecError(self.errors, self.sources)
        body = seq(path="", in_shape=dims(in_shape), out_shape=dims(out_shape), children=children)
        return ir.Network.model_construct(
            name=name, source=None if filename.startswith("<") else filename,
            params={k: list(v) if isinstance(v, ListValue) else v for k, v in env.items()
                    if not k.startswith("_") and k != "in"},
            meta=meta, input_shape=dims(in_shape), constraints=self.constraints.describe(), body=body,
            expects=tuple(expects), lint_off=tuple(lint_off),
        )


    def network_params(self, decl: syntax.NetworkDecl | None, overrides: Mapping[str, Any], filename: str) -> dict:
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
                given = overrides[p.name]  # --set depths=[3,3,9,3] arrives as a Python list
                env[p.name] = ListValue(given) if isinstance(given, (list, ListValue)) else given
            elif p.default is not None:
                env[p.name] = evaluate(p.default, env, filename)
            else:
                raise error(f"network parameter `{p.name}` has no default and was not set",
                            span_of(p.loc, filename), code="missing-argument",
                            help=f"give it a default (`{p.name}=...`) or set it: --set {p.name}=VALUE")
        return env


    def input_shape(self, decl: syntax.InputDecl | None, override, filename: str) -> Shape:
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


    def expect(self, st: syntax.ExpectDecl, filename: str) -> ir.Expect:
        allowed = ("params", "macs", "output")
        if st.what not in allowed:
            raise error(f"unknown expectation `{st.what}`", span_of(st.loc, filename), code="undefined",
                        help=did_you_mean(st.what, allowed) or f"expect one of: {', '.join(allowed)}")
        return ir.Expect.model_construct(what=st.what, value=st.value, span=span_of(st.loc, filename))


    def head_position(self, items) -> int | None:
        """The head rule: which element of a body at the end of the network holds its classifier.

        Trailing layers without weights (activations, dropout, soft-max) are skipped; a weighted layer,
        a group or a block call is the answer (the last two are searched in turn); anything else
        (a residual, a concat) means the network ends without a classifier head.
        """
        for i in range(len(items) - 1, -1, -1):
            item = items[i].element if isinstance(items[i], syntax.Labelled) else items[i]
            if isinstance(item, syntax.Default):
                continue
            if isinstance(item, (syntax.Group, syntax.IfElement)) or (
                    isinstance(item, syntax.Layer) and item.op in self.blocks):
                return i
            if not isinstance(item, syntax.Layer):
                return None
            found = lookup(item.op)
            if found is None or found[0].weighted:
                return i
        return None


    def body(self, items, shape: Shape, scope: Scope, tail: bool = False, keep_in: bool = False) -> tuple[list, Shape]:
        """Elaborate a sequence; `tail` says it ends the network (or a side output): the head rule."""
        # `in`: the channels entering the enclosing block, group, branch or repeat (an if or a for keeps it)
        outer_env, scope.env = scope.env, scope.env if keep_in else {**scope.env, "in": shape[0]}
        try:
            return self._body(items, shape, scope, tail)
        finally:
            scope.env = outer_env


    def _body(self, items, shape: Shape, scope: Scope, tail: bool) -> tuple[list, Shape]:
        nodes = Nodes()
        defaults_copied = False
        elements = [item for item in items if not isinstance(item, syntax.Default)]
        head_at = self.head_position(elements) if tail else None
        position = 0
        for item in items:
            if isinstance(item, syntax.Default):
                if not defaults_copied:  # defaults are scoped: copy before the first change
                    scope.defaults = dict(scope.defaults)
                    defaults_copied = True
                default(item, scope)
                continue
            position += 1
            nxt = elements[position] if position < len(elements) else None
            try:
                new, shape = self.element(item, shape, scope, label=None, followed_by_bn=is_bn(nxt),
                                          tail=position - 1 == head_at)
            except SpecError as exc:
                self.recover(exc)  # the element is left out; the next one reads the same shape
                continue
            nodes.append_all(new)
        return nodes, shape


    def element(self, item, shape: Shape, scope: Scope, label: str | None, followed_by_bn: bool = False,
                tail: bool = False):
        if isinstance(item, syntax.Labelled):
            if label is not None:
                raise error("a layer can have one label", span_of(item.loc, scope.filename), code="syntax")
            return self.element(item.element, shape, scope, item.label, followed_by_bn, tail)
        self.budget.enter(span_of(item.loc, scope.filename))  # blocks and after=[...] nest too
        try:
            return ELEMENTS[type(item)](self, item, shape, scope, label, followed_by_bn, tail)
        finally:
            self.budget.leave()


MAX_ERRORS = 20  # errors reported from one file in one run
# errors that shapes cannot cause: still reported after an earlier error
INDEPENDENT = frozenset({"undefined", "arguments", "missing-argument", "duplicate-name", "recursion", "syntax",
                         "import"})
ABORT = frozenset({"limit"})  # a resource limit: stop at once


# ---------------------------------------------------------------- helpers


def _single(tree: syntax.SpecFile, cls, keyword: str, filename: str):
    found = [s for s in tree.statements if isinstance(s, cls)]
    if len(found) > 1:
        raise error(f"the `{keyword}` line is given twice", span_of(found[1].loc, filename), code="duplicate-name",
                    labels=[Label(span_of(found[0].loc, filename), "first given here")])
    return found[0] if found else None


def _file_span(filename: str) -> ir.Span:
    return ir.Span.model_construct(file=filename, line=1, column=1, end_line=1, end_column=1)


def _parse_shape_text(text: str) -> tuple:
    try:
        return tuple(int(p) for p in text.lower().split("x"))
    except ValueError:
        raise error(f"bad input shape {text!r}: expected CxHxW such as 3x224x224", code="value") from None


def is_library(tree: syntax.SpecFile) -> bool:
    """A file of blocks (and imports) only: it is imported, not elaborated as a network."""
    return bool(tree.statements) and all(isinstance(s, (syntax.BlockDef, syntax.ImportDecl)) for s in tree.statements)


def check_library(tree: syntax.SpecFile, *, filename: str, source: str) -> None:
    """Resolve a block library's imports and definitions, reporting what is wrong in them."""
    elab = Elaborator(filename, source)
    try:
        for st in tree.statements:
            if isinstance(st, syntax.ImportDecl):
                import_file(elab, st, filename)
            else:
                define_block(elab, st, filename)
    except SpecError as exc:
        exc.sources = {**elab.sources, **exc.sources}
        raise


def elaborate(tree: syntax.SpecFile, *, filename: str, source: str, params: Mapping[str, Any], input) -> ir.Network:
    elab = Elaborator(filename, source)
    try:
        try:
            return elab.network(tree, params, input)
        except RecursionError:  # only with a --max-depth raised far past its default
            raise too_deep_for_python(_file_span(filename)) from None
    except SpecError as exc:
        exc.sources = {**elab.sources, **exc.sources}
        raise
