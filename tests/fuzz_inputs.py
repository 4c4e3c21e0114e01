"""Inputs for fuzzing the front end, and the property every input must have (issue 13).

Two sources of .net text, each a function of a random.Random (benchmarks/fuzz.py calls them
directly, a seed per case) and a hypothesis strategy (tests/test_fuzz.py):

- `grammar_spec`: random sentences of grammars/netspec.lark, its rules read from Lark and
  expanded at random, the terminals drawn from the words and numbers netspec knows, extremes
  included, so that most of them get past the parser into the elaborator (hypothesis.extra.lark
  does the same, but at 100 ms a sentence: too slow for 200,000 of them);
- `mutated_spec`: a zoo spec with a few edits (a token deleted, duplicated, swapped or replaced by
  an extreme number, a span wrapped in a repeat or a group), near-valid input that reaches deep.

`check` is the property: the text parses and elaborates to a network that analyses and formats,
or it gives a SpecError whose every diagnostic is located; never another exception.
tests/test_fuzz.py runs them in CI; benchmarks/fuzz.py runs them for hours in parallel.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from hypothesis import strategies as st

import netspec
from netspec.analysis import analyze
from netspec.ops.registry import known_words
from netspec.sources import zoo_dir

ZOO = sorted(zoo_dir().glob("*.net"))

# numbers a spec may hold, with the edges: zero, one, odd sizes, the 2**53 bound, past it, huge
NUMBERS = ["0", "1", "2", "3", "7", "8", "16", "64", "1000", "99999999", "9007199254740993",
           "99999999999999999999999", "100000"]
FLOATS = ["0.5", "1.0", "1e309", "1e-320", "2.5", "0.0"]
NAMES = ["a", "b", "k", "in", "num_classes", "same", "valid", "none", "true", "false", "x2", "block1", "pad"]
SHAPES = ["3x32x32", "1x28x28", "3xHxW", "3x1x1", "3x100000x100000", "0x0x0", "3x8"]
STRINGS = ['"lib/resnet.net"', '"/dev/zero"', '"../../../../etc/passwd"', '"x"', '"lib/vgg.net"', '""']


@lru_cache(maxsize=1)
def _grammar():
    """The grammar's rules by name, and the fewest terminals each rule can expand to."""
    from lark import Lark

    text = resources.files("netspec.grammars").joinpath("netspec.lark").read_text(encoding="utf-8")
    lark = Lark(text, parser="lalr", lexer="contextual")
    rules: dict[str, list[list]] = {}
    for rule in lark.rules:
        rules.setdefault(rule.origin.name, []).append(list(rule.expansion))
    patterns = {t.name: t.pattern for t in lark.terminals}
    shortest = {name: 10 ** 9 for name in rules}
    changed = True
    while changed:  # fixpoint: a rule's shortest expansion, in terminals
        changed = False
        for name, expansions in rules.items():
            best = min(sum(1 if sym.is_term else shortest[sym.name] for sym in exp) for exp in expansions)
            if best < shortest[name]:
                shortest[name], changed = best, True
    return rules, patterns, shortest


# what the grammar's regular-expression terminals are drawn from (the literal ones are written as they are)
TERMINALS = {
    "NAME": known_words() + NAMES, "INT": NUMBERS, "FLOAT": FLOATS, "SHAPE": SHAPES, "STRING": STRINGS,
    "QUANTITY": ["4.09G", "1M", "0K"], "LINT_ID": ["bias-before-bn", "no-such-lint"], "REF": ["@a", "@b", "@skip"],
    "SOFTMAX": ["soft-max"], "ADD_OP": ["+", "-"], "MUL_OP": ["*", "/", "//", "%"], "POW_OP": ["**"],
    "CONCAT_KW": ["concat"], "ADD_KW": ["add"], "TIMES": ["x"],
}


def sentence(rnd, start: str = "start", budget: int = 60) -> str:
    """A random sentence of the grammar from rule `start`: expansions drawn at random while the
    budget of terminals lasts, then the shortest ones, so that every sentence ends."""
    rules, patterns, shortest = _grammar()
    out: list[str] = []
    stack: list = [start]
    while stack:
        sym = stack.pop()
        if isinstance(sym, str):  # a rule name
            expansions = rules[sym]
            if len(out) < budget and rnd.random() < 0.9:
                exp = rnd.choice(expansions)
            else:
                exp = min(expansions, key=lambda e: sum(1 if s.is_term else shortest[s.name] for s in e))
            stack.extend(reversed([s.name if not s.is_term else s for s in exp]))
            continue
        name = sym.name
        if name in TERMINALS:
            out.append(rnd.choice(TERMINALS[name]))
        else:
            out.append(patterns[name].value)  # a literal: a keyword or a bracket
        out.append("" if name == "TIMES" else rnd.choice([" ", " ", "\n", " # note\n"]))
    return "".join(out)


def grammar_spec(rnd) -> str:
    """A sentence of grammars/netspec.lark: a body after an input line (most), or a whole file."""
    budget = rnd.choice([5, 20, 60, 200])
    if rnd.random() < 0.8:
        return f"input {rnd.choice(['3x16x16', '1x28x28', '3x8x8', '16'])}\n{sentence(rnd, 'body', budget)}\n"
    return sentence(rnd, "start", budget)


_TOKEN = re.compile(r"\s+|[A-Za-z_][A-Za-z_0-9]*|[0-9]+(?:\.[0-9]+)?|\*\*|//|.", re.S)
_EXTRA = NUMBERS + FLOATS + ["[", "]", "]x2", "{", "}", "(", ")", "|", ",", "-", "/", "**", "@a", "x1000",
                             "residual {", "dense(3) {", "concat {", "gate {", "conv3-8", "fc-2", "relu", "prev()",
                             "block b {", "default conv(", "after=[", "import", '"lib/resnet.net"', "\n"]


def mutated_spec(rnd) -> tuple[str, str]:
    """(file name, text): a zoo spec with one to four edits; the name lets its imports resolve."""
    path: Path = rnd.choice(ZOO)
    tokens = _TOKEN.findall(path.read_text(encoding="utf-8"))
    for _ in range(rnd.randint(1, 4)):
        i = rnd.randrange(len(tokens))
        j = min(len(tokens), i + rnd.randint(1, 12))
        kind = rnd.choice(["delete", "duplicate", "replace", "insert", "swap", "repeat", "group", "number"])
        if kind == "delete":
            del tokens[i:j]
        elif kind == "duplicate":
            tokens[i:i] = tokens[i:j] * rnd.randint(1, 3)
        elif kind == "replace":
            tokens[i] = rnd.choice(_EXTRA)
        elif kind == "insert":
            tokens.insert(i, " " + rnd.choice(_EXTRA) + " ")
        elif kind == "swap":
            k = rnd.randrange(len(tokens))
            tokens[i], tokens[k] = tokens[k], tokens[i]
        elif kind == "repeat":
            tokens[i:j] = [" [", *tokens[i:j], f"]x{rnd.choice(['0', '1', '2', '3', '1000', '{2**60}'])} "]
        elif kind == "group":
            tokens[i:j] = [" { ", *tokens[i:j], " } "]
        else:
            numbers = [n for n, t in enumerate(tokens) if t[:1].isdigit()]
            if numbers:
                tokens[rnd.choice(numbers)] = rnd.choice(NUMBERS + FLOATS)
        if not tokens:
            tokens = ["\n"]
    return str(path), "".join(tokens)


# hypothesis draws the random generator, so a failing case is replayed from its database entry
grammar_specs = st.randoms(use_true_random=False).map(grammar_spec)
mutated_specs = st.randoms(use_true_random=False).map(mutated_spec)


def check(text: str, filename: str = "<fuzz>") -> str:
    """The property: "ok" for a network that analyses and formats, "error" for a located SpecError.

    Anything else (another exception, an error without a location) escapes to the caller.
    """
    try:
        network = netspec.parse(text, filename)
    except netspec.SpecError as err:
        _assert_located(err)
        return "error"
    analyze(network)
    netspec.format(network)
    try:
        netspec.format(text)
    except netspec.SpecError as err:
        _assert_located(err)
    return "ok"


def _assert_located(err: netspec.SpecError) -> None:
    assert err.diagnostics, "a SpecError without diagnostics"
    for d in err.diagnostics:
        assert d.span is not None, f"an error without a location: {d.message}"
        err.render()  # drawing it must not fail either
