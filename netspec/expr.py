"""Evaluation of the expressions in a spec: `{4*k}`, `{divisible(32*width)}`, `{s == 1 and in == out}`,
`{depths[i]}`, `{a if c else b}`. Numbers, truth values, words (Symbols) and lists."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from . import syntax
from .diagnostics import Span, SpecError, did_you_mean, error


@dataclass(frozen=True)
class Symbol:
    """A bare word that is not a variable: `same`, `valid`, `none`, `pad`. Its user decides."""

    word: str
    loc: syntax.Loc


class ListValue(tuple):
    """A list value: `depths=[3, 3, 9, 3]`. A tuple (values are immutable), told apart from a shape."""


Value = Any  # int | float | bool | str | tuple (a shape) | ListValue | Symbol


def divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of divisor, never more than 10% below the value.

    The rule MobileNet v2 and EfficientNet use for width multipliers.
    """
    divisor = int(divisor)
    low = divisor if min_value is None else int(min_value)
    out = max(low, int(value + divisor / 2) // divisor * divisor)
    if out < 0.9 * value:
        out += divisor
    return out


def round_to(value: float, multiple: float | None = None) -> int | float:
    """round(x): the nearest whole number; round(x, m): the nearest multiple of m (RegNet's quantisation).

    Halves go to the even neighbour (round(2.5) == 2), as Python and torch.round do.
    """
    if multiple is None:
        return round(value)
    if multiple <= 0:
        raise ValueError("the multiple must be positive")
    out = round(value / multiple) * multiple
    return int(out) if float(out).is_integer() else out


def log(value: float, base: float | None = None) -> float:
    """log(x): the natural logarithm; log(x, b): to base b."""
    if value <= 0 or (base is not None and (base <= 0 or base == 1)):
        raise ValueError("a logarithm needs a positive number (and a positive base other than 1)")
    return math.log(value) if base is None else math.log(value, base)


def _range(*bounds) -> "ListValue":
    if not 1 <= len(bounds) <= 3 or not all(isinstance(b, int) for b in bounds):
        raise ValueError("range takes one to three whole numbers: range(n), range(start, stop[, step])")
    if len(bounds) == 3 and bounds[2] == 0:
        raise ValueError("the step of a range cannot be 0")
    r = range(*bounds)
    if len(r) > 100_000:
        raise ValueError(f"a range of {len(r)} values is far too long")
    return ListValue(r)


# functions over numbers; LIST_FUNCTIONS take lists too (min and max take a list or numbers)
FUNCTIONS = {
    "min": min, "max": max, "abs": abs, "round": round_to, "floor": math.floor, "ceil": math.ceil,
    "int": int, "float": float, "divisible": divisible, "log": log, "pow": pow, "sqrt": math.sqrt,
    "len": len, "sum": sum, "range": _range,
}
LIST_FUNCTIONS = {"len", "sum", "min", "max"}

_COMPARE = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}

_BINARY = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "//": lambda a, b: a // b, "%": lambda a, b: a % b,
    "**": lambda a, b: a ** b,
}

_RESERVED = {"true": True, "false": False}


@lru_cache(maxsize=8192)  # a block's text is elaborated once per call and per repeat: its spans are shared
def span_of(loc: syntax.Loc, filename: str) -> Span:
    return Span.model_construct(file=filename, line=loc.line, column=loc.column, end_line=loc.end_line, end_column=loc.end_column)


def evaluate(expr: syntax.Expr, env: Mapping[str, Value], filename: str) -> Value:
    """The value of an expression; a bare unknown word becomes a Symbol for its user to judge."""
    if isinstance(expr, syntax.Num):
        return _in_range(expr.value, expr.loc, filename, expr.text)
    if isinstance(expr, syntax.Str):
        return expr.value
    if isinstance(expr, syntax.ShapeLit):
        for d in expr.dims:
            if isinstance(d, str):
                raise error(f"`{d}` in a size must be a number here", span_of(expr.loc, filename), code="value")
        return tuple(expr.dims)
    if isinstance(expr, syntax.Name):
        if expr.id in env:
            return env[expr.id]
        if expr.id in _RESERVED:
            return _RESERVED[expr.id]
        return Symbol(expr.id, expr.loc)
    if isinstance(expr, syntax.Neg) and expr.op == "not":
        return not truth(evaluate(expr.operand, env, filename), expr.operand, env, filename)
    if isinstance(expr, syntax.Neg):
        return -number(evaluate(expr.operand, env, filename), expr.operand, env, filename)
    if isinstance(expr, syntax.BinOp) and expr.op in _COMPARE:
        return _compare(expr, env, filename)
    if isinstance(expr, syntax.BinOp) and expr.op in ("and", "or"):
        left = truth(evaluate(expr.left, env, filename), expr.left, env, filename)
        if left == (expr.op == "or"):  # short-circuit: `i > 0 and d[i - 1] > 1` never reads d[-1]
            return left
        return truth(evaluate(expr.right, env, filename), expr.right, env, filename)
    if isinstance(expr, syntax.BinOp):
        left = number(evaluate(expr.left, env, filename), expr.left, env, filename)
        right = number(evaluate(expr.right, env, filename), expr.right, env, filename)
        if (expr.op in ("/", "//", "%") and right == 0) or (expr.op == "**" and left == 0 and right < 0):
            raise error("division by zero", span_of(expr.loc, filename), code="value")
        if expr.op == "**" and _too_big_power(left, right):
            raise error(f"`{describe(left)} ** {describe(right)}` is far too large a number",
                        span_of(expr.loc, filename), code="value", help=f"numbers in a spec stay below 2**{_BITS}")
        try:
            value = _BINARY[expr.op](left, right)
        except (OverflowError, ZeroDivisionError):
            raise error("the number is too large", span_of(expr.loc, filename), code="value") from None
        return _in_range(value, expr.loc, filename)
    if isinstance(expr, syntax.ListLit):
        return ListValue(evaluate(e, env, filename) for e in expr.items)
    if isinstance(expr, syntax.IfExpr):
        chosen = expr.then if truth(evaluate(expr.cond, env, filename), expr.cond, env, filename) else expr.orelse
        return evaluate(chosen, env, filename)
    if isinstance(expr, syntax.Index):
        return _index(expr, env, filename)
    if isinstance(expr, syntax.Slice):
        return _slice(expr, env, filename)
    if isinstance(expr, syntax.Call):
        fn = FUNCTIONS.get(expr.fn)
        if fn is None:
            raise error(f"unknown function `{expr.fn}`", span_of(expr.loc, filename), code="undefined",
                        help=did_you_mean(expr.fn, FUNCTIONS) or f"available: {', '.join(sorted(FUNCTIONS))}")
        values = [evaluate(a, env, filename) for a in expr.args]
        lists = expr.fn in LIST_FUNCTIONS and len(values) == 1 and isinstance(values[0], ListValue)
        if expr.fn in ("len", "sum") and not lists:
            raise error(f"`{expr.fn}` takes one list, such as {expr.fn}(depths)", span_of(expr.loc, filename),
                        code="value")
        if expr.fn == "pow" and len(values) == 2 and all(isinstance(v, (int, float)) for v in values) \
                and _too_big_power(*values):
            raise error(f"`pow({describe(values[0])}, {describe(values[1])})` is far too large a number",
                        span_of(expr.loc, filename), code="value", help=f"numbers in a spec stay below 2**{_BITS}")
        if lists:
            for item, a in ((v, expr.args[0]) for v in values[0]):
                if expr.fn != "len":
                    number(item, a, env, filename)
            args = values
        else:
            args = [number(v, a, env, filename) for v, a in zip(values, expr.args)]
        try:
            return _in_range(fn(*args), expr.loc, filename)
        except (TypeError, ValueError, OverflowError, ZeroDivisionError) as exc:  # divisible(x, 0)
            raise error(f"`{expr.fn}` cannot take these arguments: {exc}", span_of(expr.loc, filename),
                        code="value") from None
    raise TypeError(f"not an expression: {expr!r}")


def truth(value: Value, expr: syntax.Expr, env: Mapping[str, Value], filename: str) -> bool:
    """Insist on true or false: `and`, `or`, `not`, `if` take no numbers (0 is not false in a spec)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, Symbol):
        number(value, expr, env, filename)  # an unknown name: say so
    raise error(f"expected true or false, got {describe(value)}", span_of(expr.loc, filename), code="value",
                help="compare it: `x > 0`, `s == 1`")


def _compare(expr: syntax.BinOp, env: Mapping[str, Value], filename: str) -> bool:
    left, right = evaluate(expr.left, env, filename), evaluate(expr.right, env, filename)
    if expr.op in ("==", "!="):
        # words compare by their text (`act == relu`); a number never equals a word or a truth value
        left, right = (v.word if isinstance(v, Symbol) else v for v in (left, right))
        same = type(left) is type(right) or (isinstance(left, (int, float)) and isinstance(right, (int, float))
                                             and not isinstance(left, bool) and not isinstance(right, bool))
        return (same and left == right) == (expr.op == "==")
    a = number(left, expr.left, env, filename)
    b = number(right, expr.right, env, filename)
    return _COMPARE[expr.op](a, b)


def _list(target_expr: syntax.Expr, env: Mapping[str, Value], filename: str, what: str):
    target = evaluate(target_expr, env, filename)
    if isinstance(target, Symbol):
        number(target, target_expr, env, filename)
    if not isinstance(target, (ListValue, tuple)):
        raise error(f"only a list can be {what}, not {describe(target)}", span_of(target_expr.loc, filename),
                    code="value")
    return target


def _whole(expr: syntax.Expr, env: Mapping[str, Value], filename: str, what: str) -> int:
    i = number(evaluate(expr, env, filename), expr, env, filename)
    if not isinstance(i, int) or isinstance(i, bool):
        raise error(f"{what} is a whole number, got {describe(i)}", span_of(expr.loc, filename), code="value")
    return i


def _index(expr: syntax.Index, env: Mapping[str, Value], filename: str) -> Value:
    target = _list(expr.target, env, filename, "indexed")
    i = _whole(expr.index, env, filename, "an index")
    if not -len(target) <= i < len(target):
        raise error(f"index {i} is out of range: the list has {len(target)} item{'s' if len(target) != 1 else ''}"
                    f" (0 to {len(target) - 1}, or -1 for the last)", span_of(expr.loc, filename), code="value")
    return target[i]


def _slice(expr: syntax.Slice, env: Mapping[str, Value], filename: str) -> ListValue:
    """Python's slice: bounds past either end are clipped (`ds[:0]` is empty, so `sum(ds[:i])` starts at 0)."""
    target = _list(expr.target, env, filename, "sliced")
    start, stop = (None if b is None else _whole(b, env, filename, "a slice bound") for b in (expr.start, expr.stop))
    return ListValue(target[start:stop])


_BITS = 53  # every whole number a float holds exactly: channels, sizes and counts live far below


def _too_big_power(base, exponent) -> bool:
    """Would base ** exponent leave the range? Decided from logarithms, before computing it
    (2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 would otherwise run until memory runs out)."""
    if isinstance(base, bool) or abs(base) <= 1 or exponent <= 0:
        return False
    return exponent * math.log2(abs(base)) > _BITS + 1


def _in_range(value, loc: syntax.Loc, filename: str, text: str | None = None):
    """Numbers stay finite and within 2**53: a spec that computes 1e309 or 10**5000 is an error, not a crash."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > 2 ** _BITS:
        what = f"`{text}`" if text else "the number"
        raise error(f"{what} is too large", span_of(loc, filename), code="value",
                    help=f"numbers in a spec stay below 2**{_BITS} ({2 ** _BITS:,})")
    return value


def number(value: Value, expr: syntax.Expr, env: Mapping[str, Value], filename: str) -> int | float:
    """Insist on a number, with the error a person needs when a name is unknown."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, Symbol):
            known = [k for k in env if not k.startswith("_")]
            raise error(f"unknown name `{value.word}`", span_of(value.loc, filename), code="undefined",
                        help=did_you_mean(value.word, known)
                        or (f"names defined here: {', '.join(sorted(known))}" if known else None))
        raise error(f"expected a number, got {describe(value)}", span_of(expr.loc, filename), code="value")
    return value


def describe(value: Value) -> str:
    if isinstance(value, Symbol):
        return f"`{value.word}`"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, ListValue):
        return "[" + ", ".join(describe(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    if isinstance(value, syntax.Body):
        return "a list of layers"
    return repr(value) if isinstance(value, str) else str(value)


__all__ = ["FUNCTIONS", "ListValue", "SpecError", "Symbol", "describe", "divisible", "evaluate", "number", "span_of"]
