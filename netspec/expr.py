"""Evaluation of the integer/float expressions in a spec: `{4*k}`, `{divisible(32*width)}`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from . import syntax
from .diagnostics import Span, SpecError, did_you_mean, error


@dataclass(frozen=True)
class Symbol:
    """A bare word that is not a variable: `same`, `valid`, `none`, `pad`. Its user decides."""

    word: str
    loc: syntax.Loc


Value = Any  # int | float | bool | str | tuple | Symbol


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


FUNCTIONS = {
    "min": min, "max": max, "abs": abs, "round": round, "floor": math.floor, "ceil": math.ceil,
    "int": int, "float": float, "divisible": divisible,
}

_BINARY = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "//": lambda a, b: a // b, "%": lambda a, b: a % b,
    "**": lambda a, b: a ** b,
}

_RESERVED = {"true": True, "false": False}


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
    if isinstance(expr, syntax.Neg):
        return -number(evaluate(expr.operand, env, filename), expr.operand, env, filename)
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
    if isinstance(expr, syntax.Call):
        fn = FUNCTIONS.get(expr.fn)
        if fn is None:
            raise error(f"unknown function `{expr.fn}`", span_of(expr.loc, filename), code="undefined",
                        help=did_you_mean(expr.fn, FUNCTIONS) or f"available: {', '.join(sorted(FUNCTIONS))}")
        args = [number(evaluate(a, env, filename), a, env, filename) for a in expr.args]
        try:
            return _in_range(fn(*args), expr.loc, filename)
        except (TypeError, ValueError, OverflowError, ZeroDivisionError) as exc:  # divisible(x, 0)
            raise error(f"`{expr.fn}` cannot take these arguments: {exc}", span_of(expr.loc, filename),
                        code="value") from None
    raise TypeError(f"not an expression: {expr!r}")


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
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    if isinstance(value, syntax.Body):
        return "a list of layers"
    return repr(value) if isinstance(value, str) else str(value)


__all__ = ["FUNCTIONS", "SpecError", "Symbol", "describe", "divisible", "evaluate", "number", "span_of"]
