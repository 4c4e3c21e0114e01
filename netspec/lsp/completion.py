"""Completion: inside a layer's parentheses its keyword arguments with their defaults (a block's
parameters for a block call); after `lint off` the lint ids; elsewhere every layer word of the op
registry (netspec/ops) with its aliases, the blocks in scope (the spec's and its imports'), and the
language's keywords."""

from __future__ import annotations

import re

from lsprotocol import types

from ..analysis.lints import LINTS
from ..analysis.notation import arg_text
from ..expr import Symbol
from ..formatter import expr_text
from ..ops.registry import ALIASES, OPS, Op, lookup

KEYWORDS = ("network", "input", "import", "block", "default", "expect", "meta", "lint off", "residual", "concat",
            "split", "dense", "gate", "side", "if", "else", "for", "in")
_WORD = re.compile(r"[A-Za-z_]\w*")
_GIVEN = re.compile(r"([A-Za-z_]\w*)\s*=")
_LOOKBACK = 4000  # characters before the cursor searched for the open parenthesis


def _without_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.split("\n"))


def open_call(before: str) -> tuple[str, str] | None:
    """When the cursor is inside `word...(` : the word and the arguments written so far."""
    text = _without_comments(before[-_LOOKBACK:])
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        ch = text[i]
        if ch in ")]}":
            depth += 1
        elif ch in "([{":
            if depth:
                depth -= 1
                continue
            return (_word_before(text, i), text[i + 1:]) if ch == "(" else None
    return None


def _word_before(text: str, paren: int) -> str:
    """The layer word a `(` belongs to: `conv3-{c}/{s}(` -> `conv3` (computed sizes may hold spaces)."""
    i, depth = paren, 0
    while i > 0:
        ch = text[i - 1]
        if ch == "}":
            depth += 1
        elif ch == "{":
            if not depth:
                break
            depth -= 1
        elif not depth and (ch.isspace() or ch in "[|(,=:"):
            break
        i -= 1
    match = _WORD.match(text, i)
    return match.group(0) if match else ""


def default_text(value) -> str:
    if value is None:
        return "automatic"
    if isinstance(value, Symbol):
        return value.word
    return arg_text(value)


def _keyword_items(names_defaults: list[tuple[str, str]], given: set[str], owner: str) -> list[types.CompletionItem]:
    return [types.CompletionItem(label=name, kind=types.CompletionItemKind.Property, insert_text=f"{name}=",
                                 detail=f"{owner}: default {default}", sort_text=f"{i:03}")
            for i, (name, default) in enumerate(names_defaults) if name not in given]


def arguments(word: str, written: str, blocks: dict) -> list[types.CompletionItem]:
    given = set(_GIVEN.findall(written))
    if word in blocks:
        block = blocks[word][0]
        return _keyword_items([(p.name, expr_text(p.default) if p.default is not None else "none (required)")
                               for p in block.params], given, f"block {word}")
    found = lookup(word)
    if found is None:
        return []
    op = found[0]
    return _keyword_items([(k, default_text(v)) for k, v in op.params.items()], given, op.name)


def _op_doc(op: Op) -> str:
    parts = []
    if op.dash:
        parts.append(f"`{op.name}-N`: N is the {op.dash}" + (f", e.g. `{op.example}`" if op.example else ""))
    if op.kernel_in_name:
        parts.append(f"the kernel may be written into the name: `{op.name}3`, `{op.name}1x7`")
    if op.params:
        parts.append("arguments: " + ", ".join(f"`{k}={default_text(v)}`" for k, v in op.params.items()))
    if op.aliases:
        parts.append("also written: " + ", ".join(f"`{a}`" for a in op.aliases))
    return "\n\n".join(parts)


def words(blocks: dict) -> list[types.CompletionItem]:
    """Layer words, aliases, blocks in scope and keywords."""
    items = [types.CompletionItem(label=name, kind=types.CompletionItemKind.Function, detail="layer",
                                  documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=_op_doc(op)))
             for name, op in OPS.items()]
    items += [types.CompletionItem(label=alias, kind=types.CompletionItemKind.Function, detail=f"layer: {name}")
              for alias, name in ALIASES.items()]
    for name, (block, file) in blocks.items():
        params = ", ".join(p.name + (f"={expr_text(p.default)}" if p.default is not None else "") for p in block.params)
        items.append(types.CompletionItem(label=name, kind=types.CompletionItemKind.Class,
                                          detail=f"block {name}({params})", documentation=file))
    items += [types.CompletionItem(label=k, kind=types.CompletionItemKind.Keyword) for k in KEYWORDS]
    return items


def complete(before: str, blocks: dict) -> list[types.CompletionItem]:
    """The items for a cursor preceded by `before` (the document up to it)."""
    line = before.rsplit("\n", 1)[-1]
    if re.match(r"\s*lint\s+off\b", line):
        return [types.CompletionItem(label=lint.id, kind=types.CompletionItemKind.EnumMember, detail=lint.summary)
                for lint in LINTS.values()]
    call = open_call(before)
    if call is not None:
        return arguments(call[0], call[1], blocks)
    return words(blocks)


__all__ = ["complete", "open_call"]
