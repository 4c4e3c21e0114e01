"""The TextMate grammar of editors/vscode, run over the zoo as an editor runs it.

babi's highlighter tokenizes each spec line by line: a TextMate engine on Oniguruma, the regex
library of VS Code's own vscode-textmate. The scopes it gives are checked against an independent
source, the tokens that netspec's Lark parser reads from the same text (a NUMBER must lie in a
numeric scope, a keyword in a keyword scope, a layer word in the layer scope), and against
snippets scoped by hand.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from functools import lru_cache
from importlib import resources

import pytest
from lark import Lark, Token

from conftest import ROOT
from netspec import expr, ops

EDITOR = ROOT / "editors" / "vscode"
GRAMMAR = EDITOR / "syntaxes" / "netspec.tmLanguage.json"
ZOO = sorted((ROOT / "specs").glob("*.net")) + sorted((ROOT / "specs" / "lib").glob("*.net"))

LAYER = "support.function.layer.netspec"


# ---------------------------------------------------------------------------- the two tokenizers

@pytest.fixture(scope="module")
def compiler(tmp_path_factory):
    highlight = pytest.importorskip("babi.highlight", reason="babi (in the test extra) runs TextMate grammars")
    folder = tmp_path_factory.mktemp("grammars")
    shutil.copy(GRAMMAR, folder / "source.netspec.json")  # babi finds a grammar by its scope's file name
    return highlight.Grammars(str(folder)).compiler_for_scope("source.netspec")


def tokenize(compiler, text: str) -> list[list[tuple[int, int, tuple[str, ...]]]]:
    """Per line, each token's (start, end, scopes), the grammar's own scope first."""
    from babi.highlight import highlight_line

    state, lines = compiler.root_state, []
    for number, line in enumerate(text.split("\n")):
        state, regions = highlight_line(compiler, state, line + "\n", first_line=number == 0)
        lines.append([(r.start, min(r.end, len(line)), r.scope) for r in regions if r.start < len(line)])
    return lines


def scope_map(compiler, text: str) -> dict[tuple[int, int], tuple[str, ...]]:
    """(line, column), both from 1 as Lark counts them -> the scopes of that character."""
    return {(number, column + 1): scopes
            for number, tokens in enumerate(tokenize(compiler, text), start=1)
            for start, end, scopes in tokens for column in range(start, end)}


def pairs(compiler, text: str) -> list[tuple[str, str]]:
    """(token text, innermost scope) for one line, whitespace left out."""
    (tokens,) = tokenize(compiler, text)
    return [(text[start:end], scopes[-1]) for start, end, scopes in tokens if text[start:end].strip()]


@lru_cache(maxsize=1)
def _lark_text() -> str:
    return resources.files("netspec.grammars").joinpath("netspec.lark").read_text(encoding="utf-8")


_COMMENTS: list = []


def _keep(token):
    _COMMENTS.append(token)
    return token


@lru_cache(maxsize=1)
def _parser() -> Lark:
    # keep_all_tokens: the tree keeps keywords and brackets too; comments, which the parser skips,
    # come through the lexer callback
    return Lark(_lark_text(), parser="lalr", lexer="contextual", keep_all_tokens=True,
                lexer_callbacks={"COMMENT": _keep})


def lark_tokens(text: str) -> list[tuple[str, Token]]:
    """(rule, token) for every token netspec's parser reads from `text`: the rule is the tree node
    that holds it (for a comment, "comment")."""
    _COMMENTS.clear()
    tree = _parser().parse(text)
    held = [(node.data, child) for node in tree.iter_subtrees() for child in node.children
            if isinstance(child, Token)]
    return held + [("comment", c) for c in _COMMENTS]


def lark_keywords() -> set[str]:
    terminals = Lark(_lark_text(), parser="lalr", lexer="contextual").terminals
    return {t.pattern.value for t in terminals if t.pattern.type == "str" and re.fullmatch(r"[a-z]+", t.pattern.value)}


# ---------------------------------------------------------------------------- what each Lark token must be

SCOPE_OF_TERMINAL = {
    "INT": "constant.numeric", "FLOAT": "constant.numeric", "QUANTITY": "constant.numeric",
    "SHAPE": "constant.numeric", "LINT_ID": "constant.other.lint",
    "TIMES": "keyword.operator.repeat", "SOFTMAX": LAYER, "CMP_OP": "keyword.operator.comparison",
    "ADD_OP": "keyword.operator.arithmetic", "MUL_OP": "keyword.operator.arithmetic",
    "POW_OP": "keyword.operator.arithmetic",
}
# tokens whose parts have scopes of their own inside the token's: quotes, `#`, `@`
SCOPE_AROUND = {"STRING": "string.quoted.double", "COMMENT": "comment.line.number-sign",
                "REF": "variable.other.reference"}
SCOPE_OF_PUNCTUATION = {
    "{": "punctuation.section", "}": "punctuation.section", "[": "punctuation.section.brackets",
    "]": "punctuation.section.brackets", "(": "punctuation.section.parens", ")": "punctuation.section.parens",
    ",": "punctuation.separator.comma", ":": "punctuation.separator.label", "=": "keyword.operator.assignment",
    "|": "keyword.operator.branch", "-": "keyword.operator", "/": "keyword.operator",
}
# a NAME by the rule of the .lark grammar that holds it
SCOPE_OF_NAME = {
    "param": "variable.parameter", "arg": "variable.parameter", "labelled": "entity.name.label",
    "network": "entity.name.type.network", "block_def": "entity.name.function.block",
    "meta": "variable.other.property.meta", "expect": "variable.other.property.expect",
    "side": "entity.name.label.side", "for_": "variable.other", "lint_off": "constant.other.lint",
}


def expected_scope(rule: str, tok: Token) -> str | None:
    """The scope a Lark token should get, from its terminal and the rule that holds it."""
    if tok.type in ("CONCAT_KW", "ADD_KW"):  # concat(@a) joins a saved tensor; concat { ... } branches
        return "keyword.other.merge" if rule == "merge" else "keyword.other.combinator"
    if tok.type in SCOPE_OF_TERMINAL:
        return SCOPE_OF_TERMINAL[tok.type]
    if tok.type == "NAME":
        if rule in ("layer", "default"):  # conv3, relu; or a block: bottleneck(64)
            return LAYER if ops.lookup(tok.value) else "entity.name.function.call"
        if rule == "call":
            return "support.function.builtin" if tok.value in expr.FUNCTIONS else "entity.name.function.call"
        if rule == "name":  # a name in an expression
            return {"in": "variable.language.in", "true": "constant.language.boolean",
                    "false": "constant.language.boolean", "none": "constant.language.none"}.get(tok.value,
                                                                                          "variable.other")
        return SCOPE_OF_NAME.get(rule)
    if rule == "slice" and tok.value == ":":  # xs[a:b]
        return "punctuation.separator.slice"
    if tok.value in SCOPE_OF_PUNCTUATION:
        return SCOPE_OF_PUNCTUATION[tok.value]
    if re.fullmatch(r"[a-z]+", tok.value):  # the .lark grammar's keywords
        return "keyword."
    return None  # a terminal or a rule these tables do not know: decide what it should be


def mismatches(compiler, text: str) -> list[str]:
    """Each Lark token whose characters the grammar scopes otherwise than its terminal and rule say."""
    scopes = scope_map(compiler, text)
    wrong = []
    for rule, tok in lark_tokens(text):
        at = [scopes.get((tok.line, tok.column + k), ("source.netspec",)) for k in range(len(tok.value))]
        if tok.type in SCOPE_AROUND:
            ok = all(any(s.startswith(SCOPE_AROUND[tok.type]) for s in stack) for stack in at)
        elif tok.type == "KERNEL_NAME":  # dwconv{: the layer word, then the brace that opens an expression
            ok = (all(stack[-1] == LAYER for stack in at[:-1]) and ops.lookup(tok.value[:-1]) is not None
                  and at[-1][-1] == "punctuation.section.embedded.begin.netspec")
        else:
            want = expected_scope(rule, tok)
            ok = want is not None and all(stack[-1].startswith(want) for stack in at)
        if not ok:
            wrong.append(f"{tok.line}:{tok.column} {rule} {tok.type} {tok.value!r}: {sorted({s[-1] for s in at})}")
    return wrong


# ---------------------------------------------------------------------------- the zoo

@pytest.mark.parametrize("path", ZOO, ids=[p.relative_to(ROOT / "specs").as_posix() for p in ZOO])
def test_every_character_of_every_zoo_spec_has_a_scope(compiler, path):
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    bare, invalid = [], []
    for number, tokens in enumerate(tokenize(compiler, text), start=1):
        covered = set()
        for start, end, scopes in tokens:
            covered.update(range(start, end))
            piece = lines[number - 1][start:end]
            if piece.strip() and len(scopes) == 1:
                bare.append(f"{number}:{start + 1} {piece!r}")
            if any(s.startswith("invalid.") for s in scopes):
                invalid.append(f"{number}:{start + 1} {piece!r}")
        # babi reports every character once; a gap would be text no token covers
        assert covered >= {c for c, ch in enumerate(lines[number - 1]) if not ch.isspace()}
    assert not bare, f"text with no scope but the file's: {bare[:10]}"
    assert not invalid, f"marked invalid: {invalid[:10]}"


@pytest.mark.parametrize("path", ZOO, ids=[p.relative_to(ROOT / "specs").as_posix() for p in ZOO])
def test_zoo_tokens_are_scoped_as_the_lark_lexer_reads_them(compiler, path):
    assert mismatches(compiler, path.read_text(encoding="utf-8")) == []


def test_the_zoo_exercises_the_scopes_that_matter(compiler):
    """The two zoo tests above mean something only if the zoo has each kind of token in it."""
    seen = set()
    for path in ZOO:
        for tokens in tokenize(compiler, path.read_text(encoding="utf-8")):
            seen.update(scopes[-1] for _, _, scopes in tokens)
    for scope in (LAYER, "constant.numeric.integer.netspec", "constant.numeric.float.netspec",
                  "constant.numeric.quantity.netspec", "constant.numeric.shape.netspec",
                  "comment.line.number-sign.netspec", "string.quoted.double.netspec",
                  "keyword.control.import.netspec", "keyword.control.conditional.netspec",
                  "keyword.control.loop.netspec", "keyword.other.combinator.netspec",
                  "entity.name.function.block.netspec", "entity.name.label.netspec",
                  "support.function.builtin.netspec", "constant.other.lint.netspec"):
        assert scope in seen, scope


# ---------------------------------------------------------------------------- words from netspec itself

ALL_KEYWORDS = """\
network k(n=2)
input 3x32x32
meta paper "every keyword of the .lark grammar, once"
import "lib/resnet.net"
expect params 10
lint off missing-activation
block b(c) { conv3-{c} }
default conv(after=[relu])
concat { conv1-4 | split { identity | identity } }
residual { conv3-{in} } dense(2) { conv3-4 } gate { gap fc-4 sigmoid }
side aux { gap }
@a add(@a) concat(@a)
if n > 1 and not (n > 4 or n < 0) { relu } else { gelu }
for i in range(n) { conv1-8 }
"""


def test_every_keyword_of_the_lark_grammar_gets_a_keyword_scope(compiler):
    seen = {t.value for _, t in lark_tokens(ALL_KEYWORDS) if re.fullmatch(r"[a-z]+", t.value) and t.type != "NAME"}
    assert seen == lark_keywords()  # the snippet holds them all, as the parser reads them
    assert mismatches(compiler, ALL_KEYWORDS) == []


def test_every_layer_word_of_the_registry_is_a_layer(compiler):
    op_of = {**{name: name for name in ops.OPS}, **ops.registry.ALIASES}
    words = set(op_of) | {f"{w}{k}" for w, name in op_of.items() if ops.OPS[name].kernel_in_name for k in ("3", "1x7")}
    for word in sorted(words):
        assert ops.lookup(word) is not None, word  # the registry reads it as a layer word
        for spelled in (word, word.upper()):
            assert pairs(compiler, spelled) == [(spelled, LAYER)]


def test_words_that_are_not_layers_are_not_scoped_as_layers(compiler):
    for word in ("convolution", "relux", "bn_size", "fc_head", "gelu2", "softmax3"):
        assert ops.lookup(word) is None, word
        assert pairs(compiler, word) == [(word, "entity.name.function.call.netspec")]


# ---------------------------------------------------------------------------- scoped by hand

def test_a_layer_in_paper_notation(compiler):
    assert pairs(compiler, "s2: conv3-64/2(pad=1, ceil=true)  # note") == [
        ("s2", "entity.name.label.netspec"), (":", "punctuation.separator.label.netspec"),
        ("conv3", LAYER), ("-", "keyword.operator.size.netspec"), ("64", "constant.numeric.integer.netspec"),
        ("/", "keyword.operator.stride.netspec"), ("2", "constant.numeric.integer.netspec"),
        ("(", "punctuation.section.parens.begin.netspec"), ("pad", "variable.parameter.netspec"),
        ("=", "keyword.operator.assignment.netspec"), ("1", "constant.numeric.integer.netspec"),
        (",", "punctuation.separator.comma.netspec"), ("ceil", "variable.parameter.netspec"),
        ("=", "keyword.operator.assignment.netspec"), ("true", "constant.language.boolean.netspec"),
        (")", "punctuation.section.parens.end.netspec"),
        ("#", "punctuation.definition.comment.netspec"), (" note", "comment.line.number-sign.netspec"),
    ]


def test_expressions_in_braces_and_repeats(compiler):
    assert pairs(compiler, "[dwconv{k}/{s}]x{n - 1} [FC-4096]x2") == [
        ("[", "punctuation.section.brackets.begin.netspec"), ("dwconv", LAYER),
        ("{", "punctuation.section.embedded.begin.netspec"), ("k", "variable.other.netspec"),
        ("}", "punctuation.section.embedded.end.netspec"), ("/", "keyword.operator.stride.netspec"),
        ("{", "punctuation.section.embedded.begin.netspec"), ("s", "variable.other.netspec"),
        ("}", "punctuation.section.embedded.end.netspec"), ("]", "punctuation.section.brackets.end.netspec"),
        ("x", "keyword.operator.repeat.netspec"), ("{", "punctuation.section.embedded.begin.netspec"),
        ("n", "variable.other.netspec"), ("-", "keyword.operator.arithmetic.netspec"),
        ("1", "constant.numeric.integer.netspec"), ("}", "punctuation.section.embedded.end.netspec"),
        ("[", "punctuation.section.brackets.begin.netspec"), ("FC", LAYER), ("-", "keyword.operator.size.netspec"),
        ("4096", "constant.numeric.integer.netspec"), ("]", "punctuation.section.brackets.end.netspec"),
        ("x", "keyword.operator.repeat.netspec"), ("2", "constant.numeric.integer.netspec"),
    ]


def test_braced_and_bare_conditions(compiler):
    assert pairs(compiler, "if {in == c} { relu } else if s > 1 { gelu }") == [
        ("if", "keyword.control.conditional.netspec"), ("{", "punctuation.section.embedded.begin.netspec"),
        ("in", "variable.language.in.netspec"), ("==", "keyword.operator.comparison.netspec"),
        ("c", "variable.other.netspec"), ("}", "punctuation.section.embedded.end.netspec"),
        ("{", "punctuation.section.block.begin.netspec"), ("relu", LAYER),
        ("}", "punctuation.section.block.end.netspec"), ("else", "keyword.control.conditional.netspec"),
        ("if", "keyword.control.conditional.netspec"), ("s", "variable.other.netspec"),
        (">", "keyword.operator.comparison.netspec"), ("1", "constant.numeric.integer.netspec"),
        ("{", "punctuation.section.block.begin.netspec"), ("gelu", LAYER),
        ("}", "punctuation.section.block.end.netspec"),
    ]


def test_header_statements(compiler):
    assert pairs(compiler, "expect macs 4.09G") == [
        ("expect", "keyword.other.statement.netspec"), ("macs", "variable.other.property.expect.netspec"),
        ("4.09G", "constant.numeric.quantity.netspec")]
    assert pairs(compiler, "input 3xHxW") == [
        ("input", "keyword.other.statement.netspec"), ("3xHxW", "constant.numeric.shape.netspec")]
    assert pairs(compiler, "lint off missing-activation, head") == [
        ("lint", "keyword.other.statement.netspec"), ("off", "keyword.other.statement.netspec"),
        ("missing-activation", "constant.other.lint.netspec"), (",", "punctuation.separator.comma.netspec"),
        ("head", "constant.other.lint.netspec")]
    assert pairs(compiler, r'meta title "a \"b\""') == [
        ("meta", "keyword.other.statement.netspec"), ("title", "variable.other.property.meta.netspec"),
        ('"', "punctuation.definition.string.begin.netspec"), ("a ", "string.quoted.double.netspec"),
        (r"\"", "constant.character.escape.netspec"), ("b", "string.quoted.double.netspec"),
        (r"\"", "constant.character.escape.netspec"), ('"', "punctuation.definition.string.end.netspec")]


def test_an_unclosed_string_stops_at_its_line(compiler):
    """While a string is being typed, the lines below it keep their colours."""
    lines = tokenize(compiler, 'meta title "half\nrelu')
    assert [scopes[-1] for _, _, scopes in lines[1]] == [LAYER]


# ---------------------------------------------------------------------------- the extension's files

def _build_script():
    spec = importlib.util.spec_from_file_location("build_grammar", EDITOR / "build_grammar.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_grammar_is_what_the_build_script_writes():
    assert GRAMMAR.read_text(encoding="utf-8") == _build_script().render(), (
        "run: python editors/vscode/build_grammar.py")


def test_build_script_refuses_a_keyword_it_has_no_scope_for(monkeypatch):
    build = _build_script()
    monkeypatch.setitem(build.KEYWORDS, "keyword.other.combinator.netspec", ["concat", "split"])
    with pytest.raises(SystemExit, match="residual"):
        build.build()


def test_package_json_ties_the_language_to_its_grammar_and_configuration():
    manifest = json.loads((EDITOR / "package.json").read_text(encoding="utf-8"))
    (language,) = manifest["contributes"]["languages"]
    (grammar,) = manifest["contributes"]["grammars"]
    assert language["id"] == grammar["language"] == "netspec"
    assert language["extensions"] == [".net"]
    assert grammar["scopeName"] == json.loads(GRAMMAR.read_text(encoding="utf-8"))["scopeName"]
    assert (EDITOR / grammar["path"]).resolve() == GRAMMAR
    assert (EDITOR / manifest["main"]).is_file()
    assert "vscode-languageclient" in manifest["dependencies"]
    config = json.loads((EDITOR / language["configuration"]).read_text(encoding="utf-8"))
    # the comment and the brackets are the .lark grammar's own
    comment = next(t for t in Lark(_lark_text(), parser="lalr").terminals if t.name == "COMMENT")
    assert re.match(comment.pattern.to_regexp(), config["comments"]["lineComment"] + " text")
    for open_, close in config["brackets"]:
        assert f'"{open_}"' in _lark_text() and f'"{close}"' in _lark_text()
    assert {p["open"] for p in config["autoClosingPairs"]} == {"{", "[", "(", '"'}


def test_readme_editor_snippets_agree_with_the_extension():
    """The Helix and Neovim set-ups in the README run the same server on the same files as VS Code."""
    import tomllib

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (toml,) = re.findall(r"```toml\n(.*?)```", readme.split("## Editors", 1)[1], re.S)
    helix = tomllib.loads(toml)
    manifest = json.loads((EDITOR / "package.json").read_text(encoding="utf-8"))
    extensions = [e.lstrip(".") for e in manifest["contributes"]["languages"][0]["extensions"]]
    assert helix["language"][0]["file-types"] == extensions
    assert helix["language"][0]["scope"] == json.loads(GRAMMAR.read_text(encoding="utf-8"))["scopeName"]
    server = helix["language-server"][helix["language"][0]["language-servers"][0]]
    assert [server["command"], *server["args"]] == ["netspec", "lsp"]
    assert 'cmd = { "netspec", "lsp" }' in readme and "extension = { net = " in readme
    assert 'args: ["lsp"]' in (EDITOR / manifest["main"]).read_text(encoding="utf-8")
