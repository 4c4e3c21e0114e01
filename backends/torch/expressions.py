"""Expressions that give a number in every call of a block: what the generated source writes.

`fit` tries, simplest first, a literal, a name, `a * n`, `n // a`, `n + d`, `a * b`, `a + b` and
`a * b // d` over the names of each call's environment (the block's arguments, `in_channels`, a
network parameter), and keeps the first that gives every sample's value; `fit_condition` finds the
test (`in_channels != 4 * c`) that tells the calls with a projection shortcut from those without.
Only numbers are compared: nothing is evaluated.
"""

from __future__ import annotations

import itertools
from typing import Any


def literal(value: Any) -> str:
    """Python source for a number, bool, short string or tuple of them: repr(), after a type check. A list
    (a block's stage table: `depths=[3, 3, 9, 3]`) is written as a tuple: a constructor's default stays immutable."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    raise TypeError(f"refusing to write a {type(value).__name__} into generated source")


def same(a, b) -> bool:
    return type(a) is type(b) and a == b


def fit(samples: list[tuple[dict, Any]], name: str | None = None) -> str | None:
    """The simplest expression over the names in each sample's env that gives its value in all samples.

    name: the argument the value is passed for; a variable of that name that fits comes first.
    """
    values = [v for _, v in samples]
    if name is not None and all(name in env and same(env[name], v) for env, v in samples):
        return name
    if all(same(v, values[0]) for v in values):
        return literal(values[0])
    names = [n for n in samples[0][0] if all(n in env for env, _ in samples)]
    for n in names:
        if all(same(env[n], v) for env, v in samples):
            return n
    if not all(type(v) is int for v in values):
        return None
    ints = [n for n in names if all(type(env[n]) is int for env, _ in samples)]

    def check(fn) -> bool:
        try:
            return all(fn(env) == v for env, v in samples)
        except ZeroDivisionError:
            return False

    env0, v0 = samples[0]
    for n in ints:
        x = env0[n]
        if x and v0 % x == 0 and check(lambda e, a=v0 // x: a * e[n]):
            return f"{v0 // x} * {n}"
        if v0 and x % v0 == 0 and check(lambda e, a=x // v0: e[n] // a):
            return f"{n} // {x // v0}"
        for a in range(2, 9):  # `k // 2`: the padding of an odd kernel
            if check(lambda e, a=a: e[n] // a):
                return f"{n} // {a}"
        if check(lambda e, d=v0 - x: e[n] + d):
            return f"{n} + {v0 - x}" if v0 > x else f"{n} - {x - v0}"
    for a, b in itertools.combinations(ints, 2):
        if check(lambda e: e[a] * e[b]):
            return f"{a} * {b}"
        if check(lambda e: e[a] + e[b]):
            return f"{a} + {b}"
        x = env0[a] * env0[b]
        if v0 and x % v0 == 0 and check(lambda e, d=x // v0: e[a] * e[b] // d):
            return f"{a} * {b} // {x // v0}"
    return None


def fit_condition(samples: list[tuple[dict, bool]], columns: dict[str, list]) -> str | None:
    """A test true exactly for the calls with a shortcut: `name != other`, over the env and `columns`.

    columns: expression source -> its value in each sample (the class's fitted expressions).
    """
    names = [n for n in samples[0][0] if all(type(env.get(n)) is int for env, _ in samples)]
    atoms: dict[str, list[bool]] = {}
    for n in names:
        left = [env[n] for env, _ in samples]
        others = {m: [env[m] for env, _ in samples] for m in names if m != n}
        others.update({e: vs for e, vs in columns.items() if e != n})
        others.update({literal(env[n]): [env[n]] * len(samples) for env, has in samples if not has})
        for text, right in others.items():
            atoms[f"{n} != {text}"] = [a != b for a, b in zip(left, right)]
    wanted = [has for _, has in samples]
    for size in (1, 2):
        for combo in itertools.combinations(atoms, size):
            if [any(atoms[a][k] for a in combo) for k in range(len(samples))] == wanted:
                return " or ".join(combo)
    return None
