"""Write syntaxes/netspec.tmLanguage.json, the TextMate grammar of the .net language.

The grammar is written here as Python data, and its word lists come from netspec itself: the
layer words from the op registry (names and aliases, with a kernel size allowed after the ops
that take one: conv3, maxpool3x3), the keywords from the word literals of grammars/netspec.lark,
the built-in functions from netspec.expr. Run it after adding an op, a keyword or a function:

    python editors/vscode/build_grammar.py            # rewrite the JSON
    python editors/vscode/build_grammar.py --check    # exit 1 if the JSON is out of date

tests/test_textmate.py checks that the committed JSON is what this script writes, and runs the
grammar with a TextMate tokenizer (Oniguruma regexes, as VS Code's vscode-textmate) over the zoo.

TextMate reads a file one line at a time, so a rule cannot look past the end of its line, and it
knows nothing of the parser's state: the rules below tell the parts of the language apart by
what stands next to them, as the Lark lexer does (`dwconv{k}`: a brace right after a name is an
expression; `in` is a keyword only in `for NAME in`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from importlib import resources
from pathlib import Path

from lark import Lark

from netspec import expr, ops
from netspec.files import write_atomic

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "syntaxes" / "netspec.tmLanguage.json"

NAME = r"[A-Za-z_][A-Za-z_0-9]*"

# Every word literal of grammars/netspec.lark, by the scope it takes. A word the .lark grammar
# gains and this table lacks stops the build (see `keywords_of_lark`): each needs a decision.
KEYWORDS = {
    "keyword.declaration.network.netspec": ["network"],
    "keyword.declaration.block.netspec": ["block"],
    "keyword.control.import.netspec": ["import"],
    "keyword.other.statement.netspec": ["input", "meta", "expect", "default", "lint", "off"],
    "keyword.control.conditional.netspec": ["if", "else"],
    "keyword.control.loop.netspec": ["for", "in"],
    "keyword.other.combinator.netspec": ["concat", "split", "residual", "dense", "gate", "side"],
    "keyword.other.merge.netspec": ["add"],  # and concat, when it is followed by `(`
    "keyword.operator.logical.netspec": ["and", "or", "not"],
}


def keywords_of_lark() -> set[str]:
    """The words that grammars/netspec.lark spells out as literals (terminals such as "network")."""
    text = resources.files("netspec.grammars").joinpath("netspec.lark").read_text(encoding="utf-8")
    terminals = Lark(text, parser="lalr", lexer="contextual").terminals
    return {t.pattern.value for t in terminals
            if t.pattern.type == "str" and re.fullmatch(r"[a-z]+", t.pattern.value)}


def layer_words() -> tuple[list[str], list[str]]:
    """The registry's layer words: those that may carry a kernel size (conv3, pool3) and the rest."""
    op_of = {**{name: name for name in ops.OPS}, **ops.registry.ALIASES}  # word -> the op it names
    kernel = sorted(word for word, name in op_of.items() if ops.OPS[name].kernel_in_name)
    return kernel, sorted(set(op_of) - set(kernel))


def _alternation(words: list[str]) -> str:
    # longest first, so that a word that begins another (relu, relu6) never cuts it short
    return "|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w)))


def _captures(*names: str) -> dict:
    return {str(i): {"name": name} for i, name in enumerate(names, start=1) if name}


def _match(regex: str, name: str | None = None, *captures: str) -> dict:
    rule: dict = {"match": regex}
    if name:
        rule["name"] = name
    if captures:
        rule["captures"] = _captures(*captures)
    return rule


def _whole(name: str) -> dict:
    """Captures that scope the whole match (group 0)."""
    return {"0": {"name": name}}


def _region(begin: str, end: str, patterns: list[dict], *, name: str | None = None,
            content: str | None = None, begin_captures: dict | None = None,
            end_captures: dict | None = None) -> dict:
    """A begin/end rule: `patterns` apply between the two; `content` scopes only what lies between."""
    rule: dict = {}
    if name:
        rule["name"] = name
    if content:
        rule["contentName"] = content
    rule["begin"] = begin
    if begin_captures:
        rule["beginCaptures"] = begin_captures
    rule["end"] = end
    if end_captures:
        rule["endCaptures"] = end_captures
    rule["patterns"] = patterns
    return rule


def _include(*names: str) -> list[dict]:
    return [{"include": f"#{name}"} for name in names]


EXPRESSION = "meta.embedded.expression.netspec"
EMBED_BEGIN = "punctuation.section.embedded.begin.netspec"
EMBED_END = "punctuation.section.embedded.end.netspec"
PARENS_BEGIN = "punctuation.section.parens.begin.netspec"
PARENS_END = "punctuation.section.parens.end.netspec"


def repository() -> dict:
    kernel_layers, plain_layers = layer_words()
    builtins = _alternation(list(expr.FUNCTIONS))
    conditional = "keyword.control.conditional.netspec"
    loop = "keyword.control.loop.netspec"
    statement = "keyword.other.statement.netspec"
    logical = "keyword.operator.logical.netspec"

    def braced(begin: str, *begin_captures: str) -> dict:
        """A `{expression}`: everything up to the closing brace is an expression."""
        return _region(begin, r"\}", _include("expression"), name=EXPRESSION,
                       begin_captures=_captures(*begin_captures), end_captures=_whole(EMBED_END))

    def definition(keyword: str, name: str) -> dict:
        """`network NAME(p=default, ...)`, `block NAME(...)`: the name, then the parameters."""
        return _region(rf"\b({keyword})\s+({NAME})\s*(\()", r"\)", _include("parameters"),
                       name="meta.parameters.netspec",
                       begin_captures=_captures(f"keyword.declaration.{keyword}.netspec", name, PARENS_BEGIN),
                       end_captures=_whole(PARENS_END))

    def brackets(begin: str, patterns: list[dict], name: str | None = None) -> dict:
        return _region(begin, r"\]", patterns, name=name,
                       begin_captures=_whole("punctuation.section.brackets.begin.netspec"),
                       end_captures=_whole("punctuation.section.brackets.end.netspec"))

    def parens(patterns: list[dict], name: str | None = None) -> dict:
        return _region(r"\(", r"\)", patterns, name=name,
                       begin_captures=_whole(PARENS_BEGIN), end_captures=_whole(PARENS_END))

    return {
        "comment": _match(r"(#).*$", "comment.line.number-sign.netspec", "punctuation.definition.comment.netspec"),
        # a string ends at its line's end: the .lark grammar's STRING holds no newline
        "string": _region(r'"', r'"|$', [_match(r"\\.", "constant.character.escape.netspec")],
                          name="string.quoted.double.netspec",
                          begin_captures=_whole("punctuation.definition.string.begin.netspec"),
                          end_captures=_whole("punctuation.definition.string.end.netspec")),
        # the .lark grammar's QUANTITY, SHAPE, FLOAT and INT, in the order its priorities decide
        "number": {"patterns": [
            _match(r"[0-9]+(?:\.[0-9]+)?[KMGT](?![A-Za-z_0-9])", "constant.numeric.quantity.netspec"),
            _match(rf"[0-9]+(?:x(?:[0-9]+|{NAME}))+", "constant.numeric.shape.netspec"),
            _match(r"[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+", "constant.numeric.float.netspec"),
            _match(r"[0-9]+", "constant.numeric.integer.netspec"),
        ]},
        "comma": _match(",", "punctuation.separator.comma.netspec"),
        "reference": _match(rf"(@){NAME}", "variable.other.reference.netspec",
                            "punctuation.definition.reference.netspec"),
        "invalid": _match(r"\S", "invalid.illegal.character.netspec"),

        # ------------------------------------------------------------ statements and bodies
        "body": {"patterns": _include("comment", "string", "statement", "control", "combinator", "keyword", "label",
                                      "repeat", "layer", "notation-expression", "arguments", "punctuation",
                                      "reference", "number", "notation", "block-call", "invalid")},
        "statement": {"patterns": [
            definition("network", "entity.name.type.network.netspec"),
            definition("block", "entity.name.function.block.netspec"),
            _match(rf"\b(network)\s+({NAME})", None,
                   "keyword.declaration.network.netspec", "entity.name.type.network.netspec"),
            _match(rf"\b(block)\s+({NAME})", None,
                   "keyword.declaration.block.netspec", "entity.name.function.block.netspec"),
            _match(rf"\b(meta)\s+({NAME})", None, statement, "variable.other.property.meta.netspec"),
            _match(rf"\b(expect)\s+({NAME})", None, statement, "variable.other.property.expect.netspec"),
            # lint off ID, ID: up to the line's end, where a lint id may hold dashes (missing-activation)
            _region(r"\b(lint)\s+(off)\b", "$", _include("comment", "comma") + [
                _match(r"[A-Za-z_0-9]+(?:-[A-Za-z_0-9]+)*", "constant.other.lint.netspec")],
                begin_captures=_captures(statement, statement)),
        ]},
        # a block's or the network's parameters: names, each with an optional default
        "parameters": {"patterns": _include("comment") + [
            _match(rf"(?:(?<=[(,])|^)\s*({NAME})", None, "variable.parameter.netspec"),
            _match("=", "keyword.operator.assignment.netspec"),
        ] + _include("comma", "expression")},
        # if COND { ... } else { ... }; for NAME in VALUES { ... }: the condition and the values are
        # expressions, braced or not; an unbraced one runs up to the body's brace
        "control": {"patterns": [
            braced(r"\b(if)\s*(\{)", conditional, EMBED_BEGIN),
            _region(r"\b(if)\b", r"(?=\{)", _include("expression"), content=EXPRESSION,
                    begin_captures=_captures(conditional)),
            braced(rf"\b(for)\s+({NAME})\s+(in)\s*(\{{)", loop, "variable.other.netspec", loop, EMBED_BEGIN),
            _region(rf"\b(for)\s+({NAME})\s+(in)\b", r"(?=\{)", _include("expression"), content=EXPRESSION,
                    begin_captures=_captures(loop, "variable.other.netspec", loop)),
        ]},
        "combinator": {"patterns": [
            _match(r"\b(?:concat|add)(?=\s*\()", "keyword.other.merge.netspec"),
            _match(rf"\b(side)\s+({NAME})", None, "keyword.other.combinator.netspec",
                   "entity.name.label.side.netspec"),
        ]},
        # every keyword of the .lark grammar where no rule above has read it in its context
        "keyword": {"patterns": [_match(rf"\b(?:{_alternation(words)})\b", scope) for scope, words in KEYWORDS.items()]},
        "label": _match(rf"\b({NAME})\s*(:)", None, "entity.name.label.netspec", "punctuation.separator.label.netspec"),
        # [ ... ]x3, [ ... ]x{n}: the x right after the closing bracket
        "repeat": _match(r"(?<=\])\s*(x)(?:([0-9]+)|(?=\{))", None,
                         "keyword.operator.repeat.netspec", "constant.numeric.integer.netspec"),
        # layer words are matched without regard to case (FC-4096, LRN), as the registry does
        "layer": _match(rf"\b(?i:(?:{_alternation(kernel_layers)})(?:[0-9]+(?:x[0-9]+)?)?"
                        rf"|{_alternation(plain_layers)})(?![A-Za-z_0-9])", "support.function.layer.netspec"),
        # a brace right after a name, a dash or a slash opens an expression: dwconv{k}, fc-{n}, /{s}
        "notation-expression": braced(r"(?<=[-/A-Za-z_0-9])(\{)", EMBED_BEGIN),
        "punctuation": {"patterns": [
            _match(r"\{", "punctuation.section.block.begin.netspec"),
            _match(r"\}", "punctuation.section.block.end.netspec"),
            _match(r"\[", "punctuation.section.brackets.begin.netspec"),
            _match(r"\]", "punctuation.section.brackets.end.netspec"),
        ] + _include("comma")},
        # conv3-64/2: the dash gives the size, the slash the stride; | parts branches
        "notation": {"patterns": [
            _match("-", "keyword.operator.size.netspec"),
            _match("/", "keyword.operator.stride.netspec"),
            _match(r"\|", "keyword.operator.branch.netspec"),
        ]},
        # any other word in a body calls a block: resnet_stem, bottleneck(64, stride=2)
        "block-call": _match(rf"\b{NAME}", "entity.name.function.call.netspec"),

        # ------------------------------------------------------------ arguments and expressions
        # (pad=1, after=[bn relu]): keyword names, lists of layers, values
        "arguments": parens(_include("argument"), name="meta.arguments.netspec"),
        "argument": {"patterns": _include("comment") + [
            _match(rf"\b({NAME})\s*(=)(?!=)", None, "variable.parameter.netspec", "keyword.operator.assignment.netspec"),
            # ts[i]: an index; depths=[3, 3, 9, 3]: a list that opens with a number holds expressions
            # (the .lark num_list); after=[bn relu]: any other list in an argument holds layers
            brackets(r"(?<=[A-Za-z_0-9)\]])\[|\[(?=\s*-?[0-9])", _include("expression")),
            brackets(r"\[", _include("body"), name="meta.sequence.netspec"),
            braced(r"(\{)", EMBED_BEGIN),
        ] + _include("reference", "expression")},
        "expression": {"patterns": _include("comment", "string", "number") + [
            _match(rf"\b(?:{builtins})(?=\s*\()", "support.function.builtin.netspec"),
            _match(r"\b(?:true|false)\b", "constant.language.boolean.netspec"),
            _match(r"\bnone\b", "constant.language.none.netspec"),
            # `in`: the channels entering the enclosing block (a keyword only in `for NAME in`)
            _match(r"\bin\b", "variable.language.in.netspec"),
            _match(rf"\b(?:{_alternation(KEYWORDS[logical])})\b", logical),
            _match(rf"\b(?:{_alternation(KEYWORDS[conditional])})\b", conditional),
            _match(rf"\b{NAME}(?=\s*\()", "entity.name.function.call.netspec"),
            _match(rf"\b{NAME}", "variable.other.netspec"),
            parens(_include("expression")),
            _match(r"==|!=|<=|>=|<|>", "keyword.operator.comparison.netspec"),
            _match(r"\*\*|//|[-+*/%]", "keyword.operator.arithmetic.netspec"),
            brackets(r"\[", _include("expression")),  # a list, or an index: ts[i]
            _match(":", "punctuation.separator.slice.netspec"),  # xs[a:b]
        ] + _include("comma", "invalid")},
    }


def build() -> dict:
    """The grammar as JSON data; raises if the .lark grammar has a word KEYWORDS does not place."""
    placed = {word for words in KEYWORDS.values() for word in words}
    unplaced = keywords_of_lark() - placed
    if unplaced:
        raise SystemExit(f"build_grammar.py: give these .lark keywords a scope in KEYWORDS: {sorted(unplaced)}")
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "netspec",
        "scopeName": "source.netspec",
        "fileTypes": ["net"],
        "comment": "Generated by editors/vscode/build_grammar.py from netspec's op registry and grammar: edit that, not this.",
        "patterns": _include("body"),
        "repository": repository(),
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed grammar is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.name} is out of date: run python editors/vscode/build_grammar.py", file=sys.stderr)
            return 1
        return 0
    write_atomic(OUTPUT, text)
    print(f"wrote {OUTPUT.relative_to(HERE.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
