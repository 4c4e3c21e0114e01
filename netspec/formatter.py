"""Canonical .net text.

`format_text` normalises the layout of a spec and keeps what the author meant: comments,
single blank lines, and which layers share a line (paper tables put a stage on one line).
An element written on one line stays inline; one that spans lines is printed one item
per line, indented by two spaces. Formatting is idempotent, and parse(format(x)) == x.

`format_network` writes an elaborated IR back out as a flat spec: every layer explicit,
no blocks or defaults, with the same architecture hash.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import ast, ir

INDENT = "  "


# ---------------------------------------------------------------- expressions

_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2, "**": 4}


def _prec(e) -> int:
    if isinstance(e, ast.BinOp):
        return _PREC[e.op]
    if isinstance(e, ast.Neg):
        return 3
    return 5


def expr_text(e) -> str:
    if isinstance(e, ast.Num):
        return e.text
    if isinstance(e, ast.Str):
        return quote(e.value)
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.ShapeLit):
        return "x".join(str(d) for d in e.dims)
    if isinstance(e, ast.Neg):
        inner = expr_text(e.operand)
        return f"-({inner})" if _prec(e.operand) < 3 else f"-{inner}"
    if isinstance(e, ast.Call):
        return f"{e.fn}({', '.join(expr_text(a) for a in e.args)})"
    if isinstance(e, ast.BinOp):
        p = _PREC[e.op]
        right_assoc = e.op == "**"
        left, right = expr_text(e.left), expr_text(e.right)
        if _prec(e.left) < p or (right_assoc and _prec(e.left) <= p):
            left = f"({left})"
        if _prec(e.right) < p or (not right_assoc and _prec(e.right) <= p):
            right = f"({right})"
        return f"{left} {e.op} {right}"
    raise TypeError(f"not an expression: {e!r}")


def quote(text: str) -> str:
    """A double-quoted .net string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def _atom(e) -> str:
    if isinstance(e, ast.Num) and isinstance(e.value, int):
        return e.text
    if isinstance(e, ast.ShapeLit) and all(isinstance(d, int) for d in e.dims):
        return expr_text(e)
    return "{" + expr_text(e) + "}"


def body_text(body: ast.Body) -> str:
    """A body written on one line: `bn relu`."""
    return _Printer().inline_body(body)


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

    # inline forms (one line)
    def arg(self, a: ast.Arg) -> str:
        value = "[" + self.inline_body(a.value) + "]" if isinstance(a.value, ast.Body) else expr_text(a.value)
        return f"{a.name}={value}" if a.name else value

    def args(self, args) -> str:
        return "(" + ", ".join(self.arg(a) for a in args) + ")"

    def inline_body(self, body: ast.Body) -> str:
        return " ".join(self.inline(i) for i in body.items)

    def inline(self, item) -> str:
        """An element or default on one line."""
        if isinstance(item, ast.Layer):
            text = item.op
            if item.dash is not None:
                text += "-" + _atom(item.dash)
            if item.slash is not None:
                text += "/" + _atom(item.slash)
            if item.args is not None:
                text += self.args(item.args)
            return text
        if isinstance(item, ast.Default):
            return f"default {item.op}{self.args(item.args)}"
        if isinstance(item, ast.Labelled):
            return f"{item.label}: {self.inline(item.element)}"
        if isinstance(item, ast.Repeat):
            return f"[{self.inline_body(item.body)}]x{_atom(item.times)}"
        if isinstance(item, ast.SaveRef):
            return f"@{item.name}"
        if isinstance(item, ast.MergeRefs):
            return f"{item.mode}({', '.join('@' + r for r in item.refs)})"
        head, bodies = self.composite(item)
        inner = " | ".join(self.inline_body(b) for b in bodies)
        opening = f"{head} {{" if head else "{"
        return f"{opening} {inner} }}" if inner else f"{opening} }}"

    def composite(self, item) -> tuple[str, tuple[ast.Body, ...]]:
        if isinstance(item, ast.Group):
            return "", (item.body,)
        if isinstance(item, ast.ConcatBlock):
            return "concat", item.branches
        if isinstance(item, ast.ResidualBlock):
            head = "residual" + (self.args(item.args) if item.args is not None else "")
            return head, (item.body,) if item.shortcut is None else (item.body, item.shortcut)
        if isinstance(item, ast.DenseBlock):
            return "dense" + (self.args(item.args) if item.args is not None else ""), item.bodies
        if isinstance(item, ast.GateBlock):
            return "gate", (item.body,)
        if isinstance(item, ast.SideBlock):
            return f"side {item.name}", (item.body,)
        if isinstance(item, ast.BlockDef):
            params = "(" + ", ".join(p.name + (f"={expr_text(p.default)}" if p.default is not None else "")
                                      for p in item.params) + ")" if item.params else ""
            return f"block {item.name}{params}", (item.body,)
        raise TypeError(f"not a composite: {item!r}")

    # multi-line forms
    def element(self, item, indent: int, prefix: str = "") -> None:
        """Print one element; an element written over several lines keeps several lines."""
        loc = item.loc
        if isinstance(item, ast.Labelled):
            return self.element(item.element, indent, prefix + f"{item.label}: ")
        multiline = loc.end_line > loc.line and not isinstance(item, (ast.Layer, ast.Default, ast.SaveRef,
                                                                      ast.MergeRefs))
        if not multiline:
            self.emit(indent, prefix + self.inline(item), loc.line, loc.end_line)
            return
        if isinstance(item, ast.Repeat):
            self.emit(indent, prefix + "[", loc.line)
            self.body(item.body, indent + 1)
            self.emit(indent, f"]x{_atom(item.times)}", loc.end_line)
            return
        head, bodies = self.composite(item)
        self.emit(indent, prefix + (f"{head} {{" if head else "{"), loc.line)
        for i, b in enumerate(bodies):
            self.body(b, indent + 1, first_prefix="| " if i else "")
        self.emit(indent, "}", loc.end_line)

    def body(self, body: ast.Body, indent: int, first_prefix: str = "") -> None:
        """Items that started on the same source line share an output line."""
        run: list = []

        def flush():
            nonlocal first_prefix
            if run:
                self.emit(indent, first_prefix + " ".join(self.inline(i) for i in run), run[0].loc.line,
                          run[-1].loc.end_line)
                first_prefix = ""
                run.clear()

        for item in body.items:
            loc = item.loc
            single = loc.end_line == loc.line or isinstance(item, (ast.Layer, ast.Default))
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
        if isinstance(st, ast.NetworkDecl):
            params = "(" + ", ".join(p.name + (f"={expr_text(p.default)}" if p.default is not None else "")
                                      for p in st.params) + ")" if st.params else ""
            self.emit(0, f"network {st.name}{params}", loc.line, loc.end_line)
        elif isinstance(st, ast.InputDecl):
            self.emit(0, f"input {expr_text(st.shape)}", loc.line)
        elif isinstance(st, ast.MetaDecl):
            self.emit(0, f"meta {st.key} {quote(st.value)}", loc.line)
        elif isinstance(st, ast.ImportDecl):
            self.emit(0, f"import {quote(st.path)}", loc.line)
        elif isinstance(st, ast.ExpectDecl):
            self.emit(0, f"expect {st.what} {st.value}", loc.line)
        elif isinstance(st, ast.LintOff):
            self.emit(0, f"lint off {', '.join(st.ids)}", loc.line, loc.end_line)
        elif isinstance(st, ast.BlockDef):
            if loc.end_line > loc.line:
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
        if isinstance(st, (ast.NetworkDecl, ast.InputDecl, ast.MetaDecl, ast.ImportDecl, ast.ExpectDecl,
                           ast.LintOff, ast.BlockDef)):
            printer.statement(st)
            i += 1
            continue
        j = i
        while j < len(statements) and not isinstance(statements[j], (
                ast.NetworkDecl, ast.InputDecl, ast.MetaDecl, ast.ImportDecl, ast.ExpectDecl, ast.LintOff,
                ast.BlockDef)):
            j += 1
        printer.body(ast.Body(tuple(statements[i:j]), None), 0)
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


def _pair(p) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]}x{p[1]}"


def _num(x: float) -> str:
    text = repr(float(x))
    return text if "e" in text or "." in text else text + ".0"


def _leaf(node: ir.NodeBase) -> str:
    if isinstance(node, ir.Conv):
        t, b, l, r = node.padding
        kh, kw = node.kernel
        if (t, b, l, r) == (0, 0, 0, 0):
            pad = "valid"
        elif t == b and l == r:
            pad = _pair((t, l))
        else:
            pad = "same"  # only 'same' on an even kernel pads asymmetrically
        args = [f"stride={_pair(node.stride)}", f"pad={pad}"]
        if node.dilation != (1, 1):
            args.append(f"dilation={_pair(node.dilation)}")
        if node.groups != 1:
            args.append(f"groups={node.groups}")
        args.append(f"bias={'true' if node.bias else 'false'}")
        return f"conv{kh}x{kw}-{node.out_channels}({', '.join(args)})"
    if isinstance(node, ir.Linear):
        return f"fc-{node.out_features}(bias={'true' if node.bias else 'false'})"
    if isinstance(node, ir.Pool):
        op = "maxpool" if node.mode == "max" else "avgpool"
        args = [f"pad={_pair(node.padding)}", f"ceil={'true' if node.ceil_mode else 'false'}"]
        if node.mode == "avg" and not node.count_include_pad:
            args.append("count_include_pad=false")
        return f"{op}{node.kernel[0]}x{node.kernel[1]}/{_pair(node.stride)}({', '.join(args)})"
    if isinstance(node, ir.AdaptivePool):
        return f"adaptive_{node.mode}pool-{_pair(node.output_size)}"
    if isinstance(node, ir.BatchNorm):
        return f"bn(eps={_num(node.eps)}, momentum={_num(node.momentum)})"
    if isinstance(node, ir.LRN):
        return f"lrn({node.size}, alpha={_num(node.alpha)}, beta={_num(node.beta)}, k={_num(node.k)})"
    if isinstance(node, ir.Activation):
        if node.fn == "leaky_relu":
            return f"leaky_relu({_num(node.alpha)})"
        if node.fn == "elu":
            return f"elu({_num(node.alpha)})"
        if node.fn == "prelu":
            return "prelu(channels=true)" if node.num_parameters > 1 else "prelu"
        return node.fn
    if isinstance(node, ir.Dropout):
        return f"dropout({_num(node.p)})"
    if isinstance(node, ir.Flatten):
        return "flatten"
    if isinstance(node, ir.Upsample):
        return f"upsample({node.scale}, mode={node.mode})"
    if isinstance(node, ir.Save):
        return f"@{node.ref}"
    if isinstance(node, ir.Merge):
        return f"{node.mode}({', '.join('@' + r for r in node.refs)})"
    raise TypeError(f"no flat form for {node.kind}")


def _flat_body(seq: ir.Seq, indent: int, out: list[str], prefix: str = "") -> None:
    first = True
    for child in seq.children:
        _flat_node(child, indent, out, prefix if first else "")
        first = False
    if first and prefix:
        out.append(INDENT * indent + prefix.rstrip())


def _flat_node(node: ir.NodeBase, indent: int, out: list[str], prefix: str = "") -> None:
    pad = INDENT * indent
    label = f"{node.name}: "
    if isinstance(node, ir.Seq):
        out.append(f"{pad}{prefix}{label}{{")
        _flat_body(node, indent + 1, out)
        out.append(pad + "}")
        return
    if isinstance(node, (ir.Concat, ir.Dense)) or (isinstance(node, ir.Residual) and node.shortcut_kind == "explicit"):
        if isinstance(node, ir.Concat):
            head, parts = "concat", node.branches
        elif isinstance(node, ir.Dense):
            head, parts = "dense", node.layers
        else:
            head, parts = "residual", (node.body, node.shortcut)
        out.append(f"{pad}{prefix}{label}{head} {{")
        for i, part in enumerate(parts):
            _flat_body(part, indent + 1, out, "| " if i else "")
        out.append(pad + "}")
        return
    if isinstance(node, ir.Residual):
        # the front end makes the shortcut again from the mode: shapes decide the projection's stride
        out.append(f"{pad}{prefix}{label}residual(shortcut={node.shortcut_kind}) {{")
        _flat_body(node.body, indent + 1, out)
        out.append(pad + "}")
        return
    if isinstance(node, ir.Gate):
        out.append(f"{pad}{prefix}{label}gate {{")
        _flat_body(node.body, indent + 1, out)
        out.append(pad + "}")
        return
    if isinstance(node, ir.Side):
        out.append(f"{pad}{prefix}side {node.output} {{")
        _flat_body(node.body, indent + 1, out)
        out.append(pad + "}")
        return
    if isinstance(node, ir.Save):
        out.append(f"{pad}{prefix}{label}{_leaf(node)}")
        return
    out.append(f"{pad}{prefix}{label}{_leaf(node)}")


_PASS_KINDS = frozenset({"folded_conv", "folded_linear", "fused_conv", "fused_concat", "buffered_dense"})


def format_network(net: ir.Network) -> str:
    """An elaborated network as flat .net text with the same architecture (and spec_hash)."""
    if any(n.kind in _PASS_KINDS for n in ir.walk(net.body)):
        raise ValueError("an optimised network has no .net form: write it out before the inference passes")
    out = []
    params = ", ".join(f"{k}={_value(v)}" for k, v in net.params.items())
    out.append(f"network {net.name}" + (f"({params})" if params else ""))
    for key, value in net.meta.items():
        out.append(f"meta {key} {quote(value)}")
    out.append("input " + "x".join(str(d) for d in net.input_shape))
    if net.lint_off:
        out.append("lint off " + ", ".join(net.lint_off))
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
        return _num(v)
    return str(v)
