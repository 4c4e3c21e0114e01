"""Where nodes are being created: path prefixes, names in use, variables and scoped defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import ir, syntax
from ..diagnostics import error
from ..expr import span_of
from ..shapes import to_dim

Shape = tuple  # of shapes.Size while elaborating: (C, H, W) or (F,); `dims` makes the IR's


@dataclass
class Scope:
    """Where nodes are being created: their path prefix, names in use, variables and defaults."""

    path: str
    env: dict[str, Any]
    defaults: dict[str, dict[str, tuple[syntax.Expr | syntax.Body, dict[str, Any], str]]]
    filename: str
    used: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)
    apply_defaults: bool = True

    def child(self, name: str, env: dict[str, Any] | None = None, filename: str | None = None) -> "Scope":
        return Scope(self.join(name), self.env if env is None else env, self.defaults,
                     filename or self.filename, apply_defaults=self.apply_defaults)

    def join(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def auto_name(self, base: str) -> str:
        n = self.counters.get(base, 0)
        while True:
            n += 1
            name = f"{base}{n}"
            if name not in self.used:
                break
        self.counters[base] = n
        self.used.add(name)
        return name

    def claim(self, label: str, span: ir.Span) -> str:
        if label in self.used:
            raise error(f"the name `{label}` is used twice in `{self.path or 'the network'}`", span,
                        code="duplicate-name", help="give each layer in a scope its own label")
        self.used.add(label)
        return label

    def name_for(self, label: str | None, base: str, loc: syntax.Loc) -> tuple[str, str | None]:
        """A node's name in this scope: its label (claimed), or `base` and a counter; and its label."""
        if label is not None:
            return self.claim(label, span_of(loc, self.filename)), label
        return self.auto_name(base), None


class Nodes(list):
    """The nodes a body elaborates to, and which runs of them were written as repeats."""

    def __init__(self):
        super().__init__()
        self.repeats: list[ir.RepeatSpan] = []

    def append_all(self, new: list) -> None:
        offset = len(self)
        self.repeats += [r.model_copy(update={"start": r.start + offset, "stop": r.stop + offset})
                         for r in getattr(new, "repeats", ())]
        self.extend(new)


def seq(*, children, **fields) -> ir.Seq:
    """A Seq of `children`, keeping which runs of them were repeats."""
    return ir.Seq.model_construct(children=tuple(children), repeats=tuple(getattr(children, "repeats", ())),
                                  **fields)


def dims(shape) -> tuple:
    """A shape as the IR stores it: symbolic sizes as text."""
    return tuple(to_dim(d) for d in shape)
