"""Argument values: evaluated where they are written, then coerced with located errors in the seeds' words."""

from __future__ import annotations

import math

from .. import syntax
from ..diagnostics import did_you_mean, error
from ..expr import Symbol, describe, evaluate, number, span_of
from .scope import Scope


def value(expr, env, filename):
    """An argument's value; a sequence value (after=[bn relu]) stays a body, elaborated where it is used."""
    if isinstance(expr, syntax.Body):
        return expr
    return evaluate(expr, env, filename)


def as_int(value, expr, scope: Scope, what: str, minimum: int = 1) -> int:
    filename = scope.filename
    loc = expr.loc if hasattr(expr, "loc") else expr  # an expression, or already a location
    if isinstance(value, Symbol):
        number(value, expr, scope.env, filename)
    if isinstance(value, float) and not math.isfinite(value):  # from Python (params=...), never the text
        raise error(f"{what} must be a finite number, got {value}", span_of(loc, filename), code="value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise error(f"{what} must be a whole number, got {describe(value)}", span_of(loc, filename), code="value")
    value = int(value)
    if value < minimum:
        raise error(f"{what} must be at least {minimum}, got {value}", span_of(loc, filename), code="value")
    return value


def as_pair(value, loc, scope: Scope, what: str, minimum: int = 1) -> tuple[int, int]:
    if isinstance(value, tuple):
        if len(value) != 2:
            raise error(f"{what} takes one number or two (HxW), got {describe(value)}",
                        span_of(loc, scope.filename), code="value")
        return (as_int(value[0], loc, scope, what, minimum), as_int(value[1], loc, scope, what, minimum))
    v = as_int(value, loc, scope, what, minimum)
    return v, v


def as_float(value, loc, scope: Scope, what: str, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, Symbol):
        number(value, syntax.Name(value.word, value.loc), scope.env, scope.filename)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{what} must be a number, got {describe(value)}", span_of(loc, scope.filename), code="value")
    if not math.isfinite(value):
        raise error(f"{what} must be a finite number, got {value}", span_of(loc, scope.filename), code="value")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise error(f"{what} must be {bounds}, got {value}", span_of(loc, scope.filename), code="value")
    return float(value)


def as_bool(value, loc, scope: Scope, what: str) -> bool:
    if not isinstance(value, bool):
        raise error(f"{what} is true or false, got {describe(value)}", span_of(loc, scope.filename), code="value")
    return value


def as_word(value, loc, scope: Scope, what: str, choices) -> str:
    word = value.word if isinstance(value, Symbol) else value if isinstance(value, str) else None
    if word not in choices:
        raise error(f"{what} must be one of {', '.join(choices)}; got {describe(value)}",
                    span_of(loc, scope.filename), code="value",
                    help=did_you_mean(word, choices) if word else None)
    return word
