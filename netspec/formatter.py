"""Canonical .net text.

`format_text` normalises the layout of a spec and keeps what the author meant: comments,
single blank lines, and which layers share a line (paper tables put a stage on one line).
An element written on one line stays inline; one that spans lines is printed one item
per line, indented by two spaces. Formatting is idempotent, and parse(format(x)) == x.

`format_network` writes an elaborated IR back out as a flat spec: every layer explicit,
no blocks or defaults, with the same architecture hash.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from . import ir, syntax
from .ops.registry import kind
from .ops.text import number

INDENT = "  "


# ---------------------------------------------------------------- expressions

# the grammar's levels, loosest first: `a if c else b`, or, and, not, comparisons, then arithmetic
_IF, _OR, _AND, _NOT, _CMP = -4, -3, -2, -1, 0
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2, "**": 4, "or": _OR, "and": _AND,
         **{op: _CMP for op in ("==", "!=", "<", "<=", ">", ">=")}}


def _prec(e) -> int:
    if isinstance(e, syntax.BinOp):
        return _PREC[e.op]
    if isinstance(e, syntax.Neg):
        return 3 if e.op == "-" else _NOT
    if isinstance(e, syntax.IfExpr):
        return _IF
    return 5


def _paren(e, above: int) -> str:
    """An operand's text, in parentheses unless it binds tighter than `above`."""
    text = expr_text(e)
    return text if _prec(e) > above else f"({text})"


def expr_text(e) -> str:
    if isinstance(e, syntax.Num):
        return e.text
    if isinstance(e, syntax.Str):
        return quote(e.value)
    if isinstance(e, syntax.Name):
        return e.id
    if isinstance(e, syntax.ShapeLit):
        return "x".join(str(d) for d in e.dims)
    if isinstance(e, syntax.Neg) and e.op == "not":
        return f"not {_paren(e.operand, _NOT - 1)}"
    if isinstance(e, syntax.Neg):
        inner = expr_text(e.operand)
        return f"-({inner})" if _prec(e.operand) < 3 else f"-{inner}"
    if isinstance(e, syntax.Call):
        return f"{e.fn}({', '.join(expr_text(a) for a in e.args)})"
    if isinstance(e, syntax.ListLit):
        return "[" + ", ".join(expr_text(a) for a in e.items) + "]"
    if isinstance(e, syntax.Index):
        return f"{_paren(e.target, 4)}[{expr_text(e.index)}]"
    if isinstance(e, syntax.Slice):
        bounds = ("" if b is None else expr_text(b) for b in (e.start, e.stop))
        return f"{_paren(e.target, 4)}[{':'.join(bounds)}]"
    if isinstance(e, syntax.IfExpr):
        return f"{_paren(e.then, _IF)} if {_paren(e.cond, _IF)} else {_paren(e.orelse, _IF - 1)}"
    if isinstance(e, syntax.BinOp):
        p = _PREC[e.op]
        right_assoc = e.op == "**"
        left, right = expr_text(e.left), expr_text(e.right)
        if _prec(e.left) < p or ((right_assoc or p == _CMP) and _prec(e.left) <= p):  # comparisons do not chain
            left = f"({left})"
        if _prec(e.right) < p or (not right_assoc and _prec(e.right) <= p):
            right = f"({right})"
        return f"{left} {e.op} {right}"
    raise TypeError(f"not an expression: {e!r}")


def arg_text(e) -> str:
    """An argument's value: bare, but a list in braces unless it opens with a number (`[bn relu]` is a body)."""
    if isinstance(e, syntax.ListLit):
        first = e.items[0] if e.items else None
        if isinstance(first, syntax.Neg):
            first = first.operand
        if isinstance(first, syntax.Num) and first.text[0].isdigit():
            return expr_text(e)
    left = e
    while isinstance(left, (syntax.BinOp, syntax.IfExpr, syntax.Index, syntax.Slice)):
        left = left.then if isinstance(left, syntax.IfExpr) else (
            left.target if isinstance(left, (syntax.Index, syntax.Slice)) else left.left)
    return "{" + expr_text(e) + "}" if isinstance(left, syntax.ListLit) else expr_text(e)


def quote(text: str) -> str:
    """A double-quoted .net string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def _atom(e) -> str:
    if isinstance(e, syntax.Num) and isinstance(e.value, int):
        return e.text
    if isinstance(e, syntax.ShapeLit) and all(isinstance(d, int) for d in e.dims):
        return expr_text(e)
    return "{" + expr_text(e) + "}"


def body_text(body: syntax.Body) -> str:
    """A body written on one line: `bn relu`."""
    return _Printer().inline_body(body)


def _if_chain(item: syntax.IfElement) -> list[tuple[str, syntax.Body]]:
    """`if c { } else if d { } else { }` as (opening words, body) pairs."""
    out = [(f"if {expr_text(item.cond)}", item.body)]
    rest = item.orelse
    while isinstance(rest, syntax.IfElement):
        out.append((f"else if {expr_text(rest.cond)}", rest.body))
        rest = rest.orelse
    if rest is not None:
        out.append(("else", rest))
    return out


def _param_text(p: syntax.Param) -> str:
    return p.name + (f"={expr_text(p.default)}" if p.default is not None else "")


def _as_written(parts: list[tuple[syntax.Loc, str]]) -> list[tuple[int, str]]:
    """A parameter or argument list as (source line, text) lines: the items that started on one
    source line share an output line, as the author grouped them (a stage table a row per line)."""
    lines: list[tuple[int, list[str]]] = []
    for loc, text in parts:
        if not lines or lines[-1][0] != loc.line:
            lines.append((loc.line, []))
        lines[-1][1].append(text)
    return [(line, ", ".join(texts)) for line, texts in lines]


# ---------------------------------------------------------------- layout of a syntax tree


@dataclass
class _Line:
    indent: int
    text: str
    src_start: int  # source lines this output line came from, for placing comments
    src_end: int


class _Printer:
    def __init__(self):
        self.lines: list[_Line] = []

    def emit(self, indent: int, text: str, start: int, end: int | None = None) -> None:
        self.lines.append(_Line(indent, text, start, start if end is None else end))

    def wrapped(self, indent: int, head: str, lines: list[tuple[int, str]], tail: str, tail_line: int) -> None:
        """`head(`, one line per group of items (indented, comma after all but the last), `)tail`."""
        self.emit(indent, f"{head}(", lines[0][0])
        for i, (line, text) in enumerate(lines):
            self.emit(indent + 1, text + ("," if i < len(lines) - 1 else ""), line)
        self.emit(indent, f"){tail}", tail_line)

    def arg_lines(self, item) -> list[tuple[int, str]]:
        """A layer's or call's arguments as written, when they span several lines; else []."""
        if not isinstance(item, syntax.Layer) or not item.args:
            return []
        lines = _as_written([(a.loc, self.arg(a)) for a in item.args])
        return lines if len(lines) > 1 else []

    # inline forms (one line)
    def arg(self, a: syntax.Arg) -> str:
        value = "[" + self.inline_body(a.value) + "]" if isinstance(a.value, syntax.Body) else arg_text(a.value)
        return f"{a.name}={value}" if a.name else value

    def args(self, args) -> str:
        return "(" + ", ".join(self.arg(a) for a in args) + ")"

    def inline_body(self, body: syntax.Body) -> str:
        return " ".join(self.inline(i) for i in body.items)

    def inline(self, item) -> str:
        """An element or default on one line."""
        if isinstance(item, syntax.Layer):
            text = item.op
            if item.kernel is not None:
                text += "{" + expr_text(item.kernel) + "}"
            if item.dash is not None:
                text += "-" + _atom(item.dash)
            if item.slash is not None:
                text += "/" + _atom(item.slash)
            if item.args is not None:
                text += self.args(item.args)
            return text
        if isinstance(item, syntax.Default):
            return f"default {item.op}{self.args(item.args)}"
        if isinstance(item, syntax.Labelled):
            return f"{item.label}: {self.inline(item.element)}"
        if isinstance(item, syntax.Repeat):
            return f"[{self.inline_body(item.body)}]x{_atom(item.times)}"
        if isinstance(item, syntax.SaveRef):
            return f"@{item.name}"
        if isinstance(item, syntax.MergeRefs):
            return f"{item.mode}({', '.join('@' + r for r in item.refs)})"
        if isinstance(item, syntax.IfElement):
            return " ".join(f"{head} {{ {self.inline_body(b)} }}" if b.items else f"{head} {{ }}"
                            for head, b in _if_chain(item))
        head, bodies = self.composite(item)
        inner = " | ".join(self.inline_body(b) for b in bodies)
        opening = f"{head} {{" if head else "{"
        return f"{opening} {inner} }}" if inner else f"{opening} }}"

    def composite(self, item) -> tuple[str, tuple[syntax.Body, ...]]:
        if isinstance(item, syntax.Group):
            return "", (item.body,)
        if isinstance(item, syntax.ConcatBlock):
            return ("split" if item.split else "concat"), item.branches
        if isinstance(item, syntax.ResidualBlock):
            head = "residual" + (self.args(item.args) if item.args is not None else "")
            return head, (item.body,) if item.shortcut is None else (item.body, item.shortcut)
        if isinstance(item, syntax.DenseBlock):
            return "dense" + (self.args(item.args) if item.args is not None else ""), item.bodies
        if isinstance(item, syntax.GateBlock):
            return "gate", (item.body,)
        if isinstance(item, syntax.SideBlock):
            return f"side {item.name}", (item.body,)
        if isinstance(item, syntax.ForElement):
            return f"for {item.var} in {expr_text(item.iterable)}", (item.body,)
        if isinstance(item, syntax.BlockDef):
            params = "(" + ", ".join(_param_text(p) for p in item.params) + ")" if item.params else ""
            return f"block {item.name}{params}", (item.body,)
        raise TypeError(f"not a composite: {item!r}")

    # multi-line forms
    def element(self, item, indent: int, prefix: str = "") -> None:
        """Print one element; an element written over several lines keeps several lines."""
        loc = item.loc
        if isinstance(item, syntax.Labelled):
            return self.element(item.element, indent, prefix + f"{item.label}: ")
        if self.arg_lines(item):
            head = self.inline(dataclasses.replace(item, args=None))
            return self.wrapped(indent, prefix + head, self.arg_lines(item), "", loc.end_line)
        multiline = loc.end_line > loc.line and not isinstance(item, (syntax.Layer, syntax.Default, syntax.SaveRef,
                                                                      syntax.MergeRefs))
        if not multiline:
            self.emit(indent, prefix + self.inline(item), loc.line, loc.end_line)
            return
        if isinstance(item, syntax.IfElement):
            line = loc.line  # where each `} else {` stands: the line after the previous body (as written)
            for i, (head, b) in enumerate(_if_chain(item)):
                self.emit(indent, (prefix if i == 0 else "} ") + head + " {", line)
                self.body(b, indent + 1)
                line = b.loc.end_line + 1 if b.loc else line + 1
            self.emit(indent, "}", loc.end_line)
            return
        if isinstance(item, syntax.Repeat):
            self.emit(indent, prefix + "[", loc.line)
            self.body(item.body, indent + 1)
            self.emit(indent, f"]x{_atom(item.times)}", loc.end_line)
            return
        head, bodies = self.composite(item)
        self.emit(indent, prefix + (f"{head} {{" if head else "{"), loc.line)
        for i, b in enumerate(bodies):
            self.body(b, indent + 1, first_prefix="| " if i else "")
        self.emit(indent, "}", loc.end_line)

    def body(self, body: syntax.Body, indent: int, first_prefix: str = "") -> None:
        """Items that started on the same source line share an output line."""
        run: list = []

        def flush():
            nonlocal first_prefix
            if len(run) == 1 and self.arg_lines(run[0]):  # a call with its arguments over several lines
                self.element(run[0], indent, first_prefix)
                first_prefix = ""
                run.clear()
            elif run:
                self.emit(indent, first_prefix + " ".join(self.inline(i) for i in run), run[0].loc.line,
                          run[-1].loc.end_line)
                first_prefix = ""
                run.clear()

        for item in body.items:
            loc = item.loc
            single = loc.end_line == loc.line or isinstance(item, (syntax.Layer, syntax.Default))
            if single and (not run or run[-1].loc.end_line == loc.line):
                run.append(item)
                continue
            flush()
            if single:
                run.append(item)
            else:
                self.element(item, indent, first_prefix)
                first_prefix = ""
        flush()
        if first_prefix:  # an empty branch
            self.emit(indent, first_prefix.rstrip(), body.loc.line if body.loc else 0)

    def statement(self, st) -> None:
        loc = st.loc
        if isinstance(st, syntax.NetworkDecl):
            params = "(" + ", ".join(_param_text(p) for p in st.params) + ")" if st.params else ""
            self.emit(0, f"network {st.name}{params}", loc.line, loc.end_line)
        elif isinstance(st, syntax.InputDecl):
            self.emit(0, f"input {expr_text(st.shape)}", loc.line)
        elif isinstance(st, syntax.MetaDecl):
            self.emit(0, f"meta {st.key} {quote(st.value)}", loc.line)
        elif isinstance(st, syntax.ImportDecl):
            self.emit(0, f"import {quote(st.path)}", loc.line)
        elif isinstance(st, syntax.ExpectDecl):
            self.emit(0, f"expect {st.what} {st.value}", loc.line)
        elif isinstance(st, syntax.LintOff):
            self.emit(0, f"lint off {', '.join(st.ids)}", loc.line, loc.end_line)
        elif isinstance(st, syntax.BlockDef):
            params = _as_written([(p.loc, _param_text(p)) for p in st.params])
            if len(params) > 1:  # parameters written over several lines keep their lines
                self.wrapped(0, f"block {st.name}", params, " {", st.body.loc.line if st.body.loc else params[-1][0])
                self.body(st.body, 1)
                self.emit(0, "}", loc.end_line)
            elif loc.end_line > loc.line:
                head, (body,) = self.composite(st)
                self.emit(0, f"{head} {{", loc.line)
                self.body(body, 1)
                self.emit(0, "}", loc.end_line)
            else:
                self.emit(0, self.inline(st), loc.line)
        else:
            raise TypeError(st)


def format_text(text: str, filename: str = "<string>") -> str:
    """The canonical layout of a spec's text. Raises SpecError if it does not parse."""
    from .parser import parse_tree

    tree = parse_tree(text, filename)
    printer = _Printer()
    statements = list(tree.statements)
    i = 0
    while i < len(statements):
        st = statements[i]
        if isinstance(st, (syntax.NetworkDecl, syntax.InputDecl, syntax.MetaDecl, syntax.ImportDecl, syntax.ExpectDecl,
                           syntax.LintOff, syntax.BlockDef)):
            printer.statement(st)
            i += 1
            continue
        j = i
        while j < len(statements) and not isinstance(statements[j], (
                syntax.NetworkDecl, syntax.InputDecl, syntax.MetaDecl, syntax.ImportDecl, syntax.ExpectDecl, syntax.LintOff,
                syntax.BlockDef)):
            j += 1
        printer.body(syntax.Body(tuple(statements[i:j]), None), 0)
        i = j
    return _with_trivia(printer.lines, tree.comments, text)


def _with_trivia(lines: list[_Line], comments, source: str) -> str:
    """Put comments and single blank lines back where they stood relative to the code."""
    src_lines = source.splitlines()
    blank = {n for n, t in enumerate(src_lines, 1) if not t.strip()}
    trailing: dict[int, list[str]] = {}
    standalone: list[tuple[int, str]] = []
    for c in comments:
        before = src_lines[c.line - 1][:c.column - 1] if c.line <= len(src_lines) else ""
        if before.strip():
            trailing.setdefault(c.line, []).append(c.text)
        else:
            standalone.append((c.line, c.text))
    # a trailing comment goes on the last output line that ends on its source line
    owner: dict[int, int] = {}
    for idx, line in enumerate(lines):
        owner[line.src_end] = idx
    for src, texts in list(trailing.items()):
        if src not in owner:
            standalone.extend((src, t) for t in texts)
            del trailing[src]
    standalone.sort()
    trivia = sorted([(n, 0, "") for n in blank] + [(n, 1, t) for n, t in standalone])
    out: list[list] = []  # [code, trailing comment or None]
    k = 0

    def put_trivia(upto: int, indent: int) -> None:
        nonlocal k
        while k < len(trivia) and trivia[k][0] < upto:
            _, kind, text = trivia[k]
            k += 1
            if kind == 0:
                if out and out[-1][0] != "" and not out[-1][0].rstrip().endswith("{"):
                    out.append(["", None])
            else:
                out.append([INDENT * indent + text, None])

    for idx, line in enumerate(lines):
        put_trivia(line.src_start, line.indent)
        if line.text == "}" and out and out[-1][0] == "":
            out.pop()
        comment = None
        if owner.get(line.src_end) == idx and line.src_end in trailing:
            comment = "  ".join(trailing[line.src_end])
        out.append([INDENT * line.indent + line.text, comment])
    put_trivia(10 ** 12, 0)
    while out and out[-1][0] == "":
        out.pop()
    while out and out[0][0] == "":
        out.pop(0)
    return "\n".join(_align_comments(out)) + "\n"


def _align_comments(out: list[list]) -> list[str]:
    """Trailing comments on consecutive lines start in one column, as gofmt aligns them."""
    text = []
    i = 0
    while i < len(out):
        j = i
        while j < len(out) and out[j][1] is not None:
            j += 1
        if j == i:
            text.append(out[i][0])
            i += 1
            continue
        column = max(len(code) for code, _ in out[i:j]) + 2
        text.extend(code.ljust(column) + comment for code, comment in out[i:j])
        i = j
    return text


# ---------------------------------------------------------------- an IR written out flat


def _leaf(node: ir.NodeBase) -> str:
    """A leaf layer as .net text: the flat form its op file registered."""
    rule = kind(node.kind)
    if rule.flat is None:
        raise ValueError(f"a {node.kind} layer ({node.path}) has no .net form: an optimised network cannot be "
                         "written out; write it before the inference passes")
    return rule.flat(node)


def _flat_body(seq: ir.Seq, indent: int, out: list[str], prefix: str = "") -> None:
    first = True
    for child in seq.children:
        _flat_node(child, indent, out, prefix if first else "")
        first = False
    if first and prefix:
        out.append(INDENT * indent + prefix.rstrip())


def _flat_head(node: ir.NodeBase) -> tuple[str, tuple[ir.Seq, ...]] | None:
    """A composite's opening words (`residual(shortcut=pad)`) and the bodies it writes, or None for a leaf."""
    if node.kind in _PASS_COMPOSITES:
        raise ValueError(f"a {node.kind} block ({node.path}) has no .net form: an optimised network cannot be "
                         "written out; write it before the inference passes")
    label = f"{node.name}: "
    if isinstance(node, ir.Seq):
        return label, (node,)
    if isinstance(node, ir.Concat):
        return label + "concat ", node.branches
    if isinstance(node, ir.Dense):
        return label + "dense ", node.layers
    if isinstance(node, ir.Residual):
        if node.shortcut_kind == "explicit":
            return label + "residual ", (node.body, node.shortcut)
        # the front end makes the shortcut again from the mode: shapes decide the projection's stride
        return label + f"residual(shortcut={node.shortcut_kind}) ", (node.body,)
    if isinstance(node, ir.Gate):
        return label + "gate ", (node.body,)
    if isinstance(node, ir.Side):
        return f"side {node.output} ", (node.body,)
    return None


def _flat_node(node: ir.NodeBase, indent: int, out: list[str], prefix: str = "") -> None:
    pad = INDENT * indent
    head = _flat_head(node)
    if head is None:
        out.append(f"{pad}{prefix}{node.name}: {_leaf(node)}")
        return
    opening, parts = head
    out.append(f"{pad}{prefix}{opening}{{")
    for i, part in enumerate(parts):
        _flat_body(part, indent + 1, out, "| " if i else "")
    out.append(pad + "}")


_PASS_COMPOSITES = frozenset({"fused_concat", "buffered_dense"})  # leaf pass kinds register no flat form


def format_network(net: ir.Network) -> str:
    """An elaborated network as flat .net text with the same architecture (and spec_hash)."""
    out = []
    params = ", ".join(f"{k}={_value(v)}" for k, v in net.params.items())
    out.append(f"network {net.name}" + (f"({params})" if params else ""))
    for key, value in net.meta.items():
        out.append(f"meta {key} {quote(value)}")
    out.append("input " + "x".join(str(d) for d in net.input_shape))
    if net.lint_off:
        out.append("lint off " + ", ".join(item.id for item in net.lint_off))
    for e in net.expects:
        out.append(f"expect {e.what} {e.value}")
    out.append("")
    for child in net.body.children:
        _flat_node(child, 0, out)
    return "\n".join(out) + "\n"


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, float):
        return number(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)
