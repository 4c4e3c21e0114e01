"""How op files write numbers and pairs back as .net text (flat form and paper notation alike)."""

from __future__ import annotations


def pair(p) -> str:
    """`3` for (3, 3), `1x7` for (1, 7)."""
    return str(p[0]) if p[0] == p[1] else f"{p[0]}x{p[1]}"


def stride(p) -> str:
    """The paper's `/s` suffix: nothing for stride 1."""
    return "" if tuple(p) == (1, 1) else f"/{pair(p)}"


def number(x: float) -> str:
    """A float that reads back as the same float and as a float: 1e-05, 0.1, 2.0."""
    text = repr(float(x))
    return text if "e" in text or "." in text else text + ".0"


def flag(b: bool) -> str:
    return "true" if b else "false"


def call(name: str, args) -> str:
    """`name(a, b)`, or just `name` without arguments."""
    args = list(args)
    return f"{name}({', '.join(args)})" if args else name
