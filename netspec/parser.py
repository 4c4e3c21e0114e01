"""Text -> syntax tree (netspec.syntax), with syntax errors a person can act on.

Lark parses grammars/netspec.lark (LALR); `ToAst` has one method per grammar rule.
Syntax errors become Diagnostics: located, with the source line and a caret, and what
was expected in words rather than terminal names.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import syntax
from .diagnostics import Diagnostic, SpecError, Span
from .limits import current, too_deep_for_python


@lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = resources.files("netspec.grammars").joinpath("netspec.lark").read_text(encoding="utf-8")
    # cache=True keeps the LALR tables in the temp folder: most of a cold start otherwise
    return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                maybe_placeholders=False, cache=True)


def parse_tree(text: str, filename: str = "<string>") -> syntax.SpecFile:
    """Parse .net text into a SpecFile, or raise SpecError with a located syntax diagnostic."""
    comment_starts = _check_brackets(text, filename)
    try:
        tree = _lark().parse(text, on_error=None)
    except UnexpectedInput as exc:
        raise SpecError(_syntax_errors(exc, text, filename), {filename: text}) from None
    _check_size(tree, text, filename)  # before the Transformer, which recurses once per tree level
    try:
        statements = ToAst().transform(tree)
    except VisitError as exc:  # a ValueError from a literal: report it where it stands
        if isinstance(exc.orig_exc, SpecError):
            raise exc.orig_exc from None
        raise
    except RecursionError:  # only with a --max-depth raised far past its default
        raise SpecError(too_deep_for_python(_span(filename, 1, 1)).diagnostics, {filename: text}) from None
    lines = text.split("\n")
    comments = tuple(syntax.Comment(lines[line - 1][column - 1:].rstrip(), line, column)
                     for line, column in comment_starts)
    return syntax.SpecFile(tuple(statements), comments, filename)


def _loc(meta) -> syntax.Loc:
    return syntax.Loc(meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_loc(tok: Token) -> syntax.Loc:
    return syntax.Loc(tok.line, tok.column, tok.end_line, tok.end_column)


def _shape_dims(text: str) -> tuple[int | str, ...]:
    return tuple(int(d) if d.isdigit() else d for d in text.split("x"))


def _unescape(token: str) -> str:
    body = token[1:-1]
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@v_args(meta=True)
class ToAst(Transformer):
    """One method per grammar rule (and alias), each building the matching syntax node."""

    def start(self, meta, items):
        return items

    # header statements
    def network(self, meta, items):
        params = items[1] if len(items) > 1 else ()
        return syntax.NetworkDecl(str(items[0]), params, _loc(meta))

    def params(self, meta, items):
        return tuple(items)

    def param(self, meta, items):
        return syntax.Param(str(items[0]), items[1] if len(items) > 1 else None, _loc(meta))

    def input(self, meta, items):
        tok = items[0]
        return syntax.InputDecl(syntax.ShapeLit(_shape_dims(str(tok)), _tok_loc(tok)), _loc(meta))

    def meta(self, meta, items):
        return syntax.MetaDecl(str(items[0]), _unescape(str(items[1])), _loc(meta))

    def import_(self, meta, items):
        return syntax.ImportDecl(_unescape(str(items[0])), _loc(meta))

    def expect(self, meta, items):
        return syntax.ExpectDecl(str(items[0]), str(items[1]), _loc(meta))

    def lint_off(self, meta, items):
        locs = tuple(syntax.Loc(t.line, t.column, t.end_line, t.end_column) for t in items)
        return syntax.LintOff(tuple(str(t) for t in items), _loc(meta), locs)

    def block_def(self, meta, items):
        name, *rest = items
        params = rest[0] if len(rest) == 2 else ()
        return syntax.BlockDef(str(name), params, rest[-1], _loc(meta))

    # bodies
    def body(self, meta, items):
        return syntax.Body(tuple(items), None if meta.empty else _loc(meta))

    def default(self, meta, items):
        return syntax.Default(str(items[0]), tuple(items[1:]), _loc(meta))

    def labelled(self, meta, items):
        return syntax.Labelled(str(items[0]), items[1], _loc(meta))

    def layer(self, meta, items):
        op, kernel = (items[0][1], items[0][2]) if isinstance(items[0], tuple) else (str(items[0]), None)
        dash = slash = args = None
        for item in items[1:]:
            kind, value = item
            if kind == "dash":
                dash = value
            elif kind == "slash":
                slash = value
            else:
                args = value
        return syntax.Layer(op, dash, slash, args, _loc(meta), kernel)

    def kernel(self, meta, items):
        return ("kernel", str(items[0])[:-1], items[1])

    def dash(self, meta, items):
        return ("dash", self._atom(items[0]))

    def slash(self, meta, items):
        return ("slash", self._atom(items[0]))

    def braced(self, meta, items):
        return items[0]

    def args(self, meta, items):
        return ("args", tuple(items))

    def arg(self, meta, items):
        if len(items) == 2:
            return syntax.Arg(str(items[0]), items[1], _loc(meta))
        return syntax.Arg(None, items[0], _loc(meta))

    def seq_value(self, meta, items):
        return items[0]

    def list(self, meta, items):
        return syntax.ListLit(tuple(items), _loc(meta))

    num_list = list

    def if_(self, meta, items):
        return syntax.IfElement(items[0], items[1], items[2] if len(items) > 2 else None, _loc(meta))

    def for_(self, meta, items):
        return syntax.ForElement(str(items[0]), items[1], items[2], _loc(meta))

    def repeat(self, meta, items):
        body, _times, count = items
        return syntax.Repeat(body, self._atom(count), _loc(meta))

    def group(self, meta, items):
        return syntax.Group(items[0], _loc(meta))

    def concat(self, meta, items):
        return syntax.ConcatBlock(tuple(b for b in items if isinstance(b, syntax.Body)), _loc(meta))

    def split(self, meta, items):
        return syntax.ConcatBlock(tuple(b for b in items if isinstance(b, syntax.Body)), _loc(meta), split=True)

    def residual(self, meta, items):
        args = None
        if items and isinstance(items[0], tuple) and items[0][0] == "args":
            args = items[0][1]
            items = items[1:]
        return syntax.ResidualBlock(args, items[0], items[1] if len(items) > 1 else None, _loc(meta))

    def dense(self, meta, items):
        args = items[0][1] if isinstance(items[0], tuple) else None
        return syntax.DenseBlock(args, tuple(b for b in items if isinstance(b, syntax.Body)), _loc(meta))

    def gate(self, meta, items):
        return syntax.GateBlock(items[0], _loc(meta))

    def side(self, meta, items):
        return syntax.SideBlock(str(items[0]), items[1], _loc(meta))

    def save(self, meta, items):
        return syntax.SaveRef(str(items[0])[1:], _loc(meta))

    def merge(self, meta, items):
        return syntax.MergeRefs(str(items[0]), tuple(str(t)[1:] for t in items[1:]), _loc(meta))

    # expressions
    def _atom(self, item):
        return self.int(None, [item]) if isinstance(item, Token) and item.type == "INT" else (
            self.shape(None, [item]) if isinstance(item, Token) else item)

    def binop(self, meta, items):
        left, op, right = items
        return syntax.BinOp(str(op), left, right, _loc(meta))

    def neg(self, meta, items):
        return syntax.Neg(items[0], _loc(meta))

    def negnum(self, meta, items):
        tok = items[0]
        literal = self.int(None, [tok]) if tok.type == "INT" else self.float(None, [tok])
        return syntax.Neg(literal, _loc(meta))

    compare = binop

    def or_(self, meta, items):
        return syntax.BinOp("or", items[0], items[1], _loc(meta))

    def and_(self, meta, items):
        return syntax.BinOp("and", items[0], items[1], _loc(meta))

    def not_(self, meta, items):
        return syntax.Neg(items[0], _loc(meta), "not")

    def ifelse(self, meta, items):
        return syntax.IfExpr(items[0], items[1], items[2], _loc(meta))

    def index(self, meta, items):
        return syntax.Index(items[0], items[1], _loc(meta))

    def bound(self, meta, items):
        return items[0] if items else None

    def slice(self, meta, items):
        return syntax.Slice(items[0], items[1], items[2], _loc(meta))

    def int(self, meta, items):
        tok = items[0]
        return syntax.Num(int(tok), str(tok), _tok_loc(tok))

    def float(self, meta, items):
        tok = items[0]
        return syntax.Num(float(tok), str(tok), _tok_loc(tok))

    def shape(self, meta, items):
        tok = items[0]
        return syntax.ShapeLit(_shape_dims(str(tok)), _tok_loc(tok))

    def name(self, meta, items):
        tok = items[0]
        return syntax.Name(str(tok), _tok_loc(tok))

    def string(self, meta, items):
        tok = items[0]
        return syntax.Str(_unescape(str(tok)), _tok_loc(tok))

    def call(self, meta, items):
        return syntax.Call(str(items[0]), tuple(items[1:]), _loc(meta))


# ---------------------------------------------------------------- syntax errors

_WORDS = {
    "NAME": "a name", "INT": "a whole number", "FLOAT": "a number", "SHAPE": "a shape such as 3x224x224",
    "QUANTITY": "a figure such as 4.09G", "STRING": 'a quoted string such as "text"', "REF": "a reference such as @skip1",
    "TIMES": "a repeat count such as x2", "LINT_ID": "a lint id such as bias-before-bn", "SOFTMAX": "soft-max",
    "KERNEL_NAME": "a layer with a computed kernel such as dwconv{k}",
    "LBRACE": "`{`", "RBRACE": "`}`", "LSQB": "`[`", "RSQB": "`]`", "LPAR": "`(`", "RPAR": "`)`",
    "COMMA": "`,`", "COLON": "`:`", "EQUAL": "`=`", "MINUS": "`-`", "SLASH": "`/`", "VBAR": "`|`",
    "ADD_OP": "`+` or `-`", "MUL_OP": "`*`, `/`, `//` or `%`", "POW_OP": "`**`", "CMP_OP": "a comparison (`==`, `<`, ...)",
    "CONCAT_KW": "`concat`", "ADD_KW": "`add`", "$END": "the end of the file",
}

# What may come next, in the user's concepts: when every terminal of a group is expected, the group's
# words stand for them (the first group that applies wins; what is left is named one by one).
_GROUPS = (
    ({"NETWORK", "INPUT", "BLOCK", "IMPORT"}, "a statement (network, input, block, import, meta, expect, lint off)",
     {"NETWORK", "INPUT", "META", "IMPORT", "EXPECT", "LINT", "BLOCK"}),
    ({"NAME", "LSQB", "LBRACE", "RESIDUAL"},
     "a layer, a block, `[` (a repeat), `{` (a group), a composite (concat, split, residual, dense, gate, side, if, for), "
     "`@name` or `default`",
     {"NAME", "SOFTMAX", "KERNEL_NAME", "LSQB", "LBRACE", "CONCAT", "SPLIT", "CONCAT_KW", "ADD_KW", "RESIDUAL", "DENSE", "GATE",
      "SIDE", "IF", "FOR", "REF", "DEFAULT"}),
    ({"INT", "NAME", "LPAR"}, "an expression (a number, a name, `(`, `-`, `not`, `[`)",
     {"INT", "FLOAT", "SHAPE", "NAME", "STRING", "LPAR", "MINUS", "ADD_OP", "NOT", "LSQB"}),
    ({"ADD_OP", "MUL_OP", "CMP_OP"}, "an operator (`+`, `*`, `**`, `==`, `and`, `or`, `if`, `[`)",
     {"ADD_OP", "MUL_OP", "POW_OP", "CMP_OP", "AND", "OR", "IF", "LSQB"}),
)

_STATEMENT_KEYWORDS = ("network", "input", "meta", "import", "expect", "lint", "block", "default")


def _describe_expected(expected: set[str]) -> str:
    expected = {n for n in expected if not n.startswith("__ANON") and n not in ("WS", "COMMENT")}
    words = []
    for needs, text, covers in _GROUPS:
        if needs <= expected:
            words.append(text)
            expected -= covers
    for name in sorted(expected):
        word = _WORDS.get(name) or f"`{name.lower()}`"  # the rest are keywords: RESIDUAL is `residual`
        if word not in words:
            words.append(word)
    if not words:
        return "something else"
    return ", ".join(words[:-1]) + (" or " if len(words) > 1 else "") + words[-1]


def _span(filename: str, line: int, column: int, width: int = 1) -> Span:
    return Span.model_construct(file=filename, line=line, column=column, end_line=line, end_column=column + max(width, 1))


def _syntax_diagnostic(exc: UnexpectedInput, text: str, filename: str) -> Diagnostic:
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        shown = repr(ch)[1:-1] if not ch.isprintable() or ch == "" else ch
        help_ = None
        if ch == ";":
            help_ = "statements are separated by spaces or new lines; remove the `;`"
        elif ch in "'":
            help_ = 'strings use double quotes: "text"'
        return Diagnostic(f"unexpected character `{shown}`", _span(filename, exc.line, exc.column),
                          code="syntax", help=help_,
                          notes=(f"expected {_describe_expected(set(exc.allowed or ()))}",) if exc.allowed else ())
    if isinstance(exc, UnexpectedEOF):
        lines = text.splitlines() or [""]
        return Diagnostic("the file ends in the middle of a statement",
                          _span(filename, len(lines), len(lines[-1]) + 1), code="syntax",
                          notes=(f"expected {_describe_expected(set(exc.expected))}",))
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    expected = set(exc.accepts or exc.expected)
    if tok.type == "$END":
        lines = text.splitlines() or [""]
        return Diagnostic(f"the file ends too early: expected {_describe_expected(expected)}",
                          _span(filename, len(lines), len(lines[-1]) + 1), code="syntax")
    value = str(tok)
    span = _span(filename, tok.line, tok.column, len(value))
    help_ = None
    if value == "-" and "INT" not in expected:
        help_ = "a `-` joins a layer to its size with no spaces, as in conv3-64 or fc-4096"
    elif value in _STATEMENT_KEYWORDS:
        help_ = f"`{value}` starts a statement; it cannot be used as a name here"
    elif tok.type == "INT" and "TIMES" in expected:
        help_ = "a repeat is written right after the bracket: [conv3-64]x2"
    elif "RPAR" in expected and tok.type == "NAME":
        help_ = "separate arguments with commas: conv3-64(stride=2, bias=false)"
    elif value in "-/" and text[:tok.start_pos].rstrip().endswith("}"):
        help_ = ("a computed kernel size follows the layer's name with no space, as in dwconv{k}/{s} or "
                 "conv{k}-{c}/{s}; or give it as kernel=: conv-64(kernel=k)")
    return Diagnostic(f"unexpected `{value[:40]}`: expected {_describe_expected(expected)}", span,
                      code="syntax", help=help_)


# ---------------------------------------------------------------- nesting and expression size

# what counts as one level of nesting (Limits.max_depth): bracketed bodies, and operators
_NESTING = frozenset({"repeat", "group", "concat", "residual", "dense", "gate", "side", "seq_value", "block_def",
                      "binop", "neg", "call"})
# what counts towards the size of one expression (Limits.max_expression)
_EXPRESSION = frozenset({"binop", "neg", "call", "int", "float", "shape", "name", "string"})
_TREE_LEVELS_PER_LEVEL = 6  # `after=[...]` nests arg -> seq_value -> body -> layer -> args -> arg


def _check_size(tree: Tree, text: str, filename: str) -> None:
    """Refuse a tree nested deeper, or an expression larger, than the limits, walking it without recursion.

    Every later stage (this module's Transformer, the elaborator, the formatter, the analysis)
    recurses once or more per level, so the bound here is what keeps Python's recursion limit
    out of reach, and the expression bound keeps an expression evaluated once per layer cheap.
    """
    limits = current()
    max_tree = limits.max_depth * _TREE_LEVELS_PER_LEVEL
    sizes: dict[int, int] = {}
    stack: list[tuple[Tree, int, int, Tree | None]] = [(tree, 0, 0, None)]
    while stack:
        node, level, height, expr_root = stack.pop()
        if node.data in _NESTING:
            level += 1
        if level > limits.max_depth or height > max_tree:
            raise SpecError(limits.refuse("max_depth", f"the spec nests more than {limits.max_depth} levels deep",
                                          _meta_span(node, filename)).diagnostics, {filename: text})
        if node.data in _EXPRESSION:
            expr_root = expr_root or node
            n = sizes[id(expr_root)] = sizes.get(id(expr_root), 0) + 1
            if n > limits.max_expression:
                raise SpecError(limits.refuse(
                    "max_expression", f"an expression of more than {limits.max_expression:,} terms",
                    _meta_span(expr_root, filename)).diagnostics, {filename: text})
        else:
            expr_root = None
        stack.extend((child, level, height + 1, expr_root) for child in node.children if isinstance(child, Tree))


def _meta_span(node: Tree, filename: str) -> Span:
    meta = node.meta
    if getattr(meta, "empty", True):
        return _span(filename, 1, 1)
    return Span.model_construct(file=filename, line=meta.line, column=meta.column, end_line=meta.line,
                                end_column=meta.end_column if meta.end_line == meta.line else meta.column + 1)


MAX_ERRORS = 20  # errors reported from one file in one run


def _syntax_errors(first: UnexpectedInput, text: str, filename: str) -> list[Diagnostic]:
    """Every syntax error of a file, not only the first: the parse is resumed after each.

    Recovery is by line: the line of an error is blanked (its width kept, so later positions stay
    true) and the text parsed again, as long as that line opens and closes its own brackets (else
    the lines after it would not be independent of it, and their errors would be the first one's echo).
    """
    found = [_syntax_diagnostic(first, text, filename)]
    lines = text.split("\n")
    exc = first
    while len(found) < MAX_ERRORS:
        line = getattr(exc, "line", -1)
        if isinstance(exc, UnexpectedEOF) or not 1 <= line <= len(lines) or not _balanced(lines[line - 1]):
            break
        lines[line - 1] = " " * len(lines[line - 1])
        try:
            _lark().parse("\n".join(lines), on_error=None)
            break
        except UnexpectedInput as again:
            if getattr(again, "line", -1) == line or isinstance(again, UnexpectedEOF) or \
                    (isinstance(again, UnexpectedToken) and again.token.type == "$END"):
                break
            found.append(_syntax_diagnostic(again, text, filename))
            exc = again
    return found


def _balanced(line: str) -> bool:
    """Does a line close every bracket it opens (strings and comments aside)?"""
    code = re.sub(r'"([^"\\]|\\.)*"|#.*', "", line)
    depth = 0
    for ch in code:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth < 0:
            return False
    return depth == 0


_PAIRS = {"(": ")", "[": "]", "{": "}"}


def _check_brackets(text: str, filename: str) -> list[tuple[int, int]]:
    """Report an unclosed or stray bracket where it was opened, not where the parser gave up.

    The same scan (strings and comments skipped) returns where each `#` comment starts: (line, column).
    """
    stack: list[tuple[str, int, int]] = []
    comments: list[tuple[int, int]] = []
    line, col = 1, 0
    in_string = in_comment = escaped = False
    for ch in text:
        col += 1
        if ch == "\n":
            line, col = line + 1, 0
            in_comment = False
            in_string = False
            continue
        if in_comment:
            continue
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == "#":
            in_comment = True
            comments.append((line, col))
        elif ch == '"':
            in_string = True
        elif ch in _PAIRS:
            stack.append((ch, line, col))
        elif ch in ")]}":
            if not stack or _PAIRS[stack[-1][0]] != ch:
                opened = f" (the open `{stack[-1][0]}` at line {stack[-1][1]} needs `{_PAIRS[stack[-1][0]]}`)" if stack else ""
                raise SpecError(Diagnostic(f"`{ch}` closes nothing{opened}", _span(filename, line, col),
                                           code="syntax", help="remove it, or add the matching opening bracket"),
                                {filename: text})
            stack.pop()
    if stack:
        ch, l, c = stack[-1]
        raise SpecError(Diagnostic(f"unclosed `{ch}`: no matching `{_PAIRS[ch]}` before the end of the file",
                                   _span(filename, l, c), code="syntax",
                                   help=f"add `{_PAIRS[ch]}` where the {'group' if ch != '(' else 'argument list'} ends"),
                        {filename: text})
    return comments
