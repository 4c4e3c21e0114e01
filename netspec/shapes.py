"""Output-size arithmetic for convolution and pooling, on concrete or symbolic sizes.

The formula is the one in the seeds: out = floor((n + pad_total - d*(k-1) - 1) / s) + 1,
with ceil instead of floor in ceil mode (where, as in torch, the last window must start
inside the input). A symbolic size (`input 3xHxW`) is tracked as H/den + off; a stride s
on it requires H to be a multiple of den*s, which is how "H must be a multiple of 32"
is derived.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sym:
    """A symbolic spatial size: name/den + off."""

    name: str
    den: int = 1
    off: int = 0

    def __str__(self) -> str:
        base = self.name if self.den == 1 else f"{self.name}/{self.den}"
        if self.off == 0:
            return base
        return f"{base}{'+' if self.off > 0 else '-'}{abs(self.off)}"


Size = int | Sym


@dataclass
class Constraints:
    """What a symbolic input must satisfy: a multiple of, and at least, per dimension name."""

    multiple: dict[str, int] = field(default_factory=dict)
    minimum: dict[str, int] = field(default_factory=dict)

    def require(self, name: str, multiple: int = 1, minimum: int = 1) -> None:
        self.multiple[name] = math.lcm(self.multiple.get(name, 1), multiple)
        self.minimum[name] = max(self.minimum.get(name, 1), minimum)

    def describe(self) -> tuple[str, ...]:
        out = []
        for name in sorted(set(self.multiple) | set(self.minimum)):
            mult = self.multiple.get(name, 1)
            low = self.minimum.get(name, 1)
            low = -(-low // mult) * mult  # the smallest multiple that is large enough
            # a positive multiple of `mult` is at least `mult`: say the minimum only when it adds something
            needs = ([f"a multiple of {mult}"] if mult > 1 else []) + ([f"at least {low}"] if low > mult else [])
            if needs:
                out.append(f"{name} must be {' and '.join(needs)}")
        return tuple(out)


def window_out(n: Size, kernel: int, stride: int, pad_before: int, pad_after: int, dilation: int = 1,
               ceil_mode: bool = False, constraints: Constraints | None = None) -> Size:
    """Output size of a sliding window (conv or pool) along one dimension."""
    span = dilation * (kernel - 1) + 1
    if isinstance(n, Sym):
        c = n.off + pad_before + pad_after - span
        if stride > 1 and constraints is not None:
            constraints.require(n.name, multiple=n.den * stride)
        # with name/den a multiple of stride: floor((name/den + c)/s) = name/(den*s) + floor(c/s)
        off = (-(-c // stride) if ceil_mode else c // stride) + 1
        out = Sym(n.name, n.den * stride, off)
        if constraints is not None:
            # out >= 1  <=>  name >= den*stride*(1 - off)
            constraints.require(n.name, minimum=out.den * (1 - out.off))
        return out
    total = n + pad_before + pad_after - span
    if ceil_mode:
        out = -(-total // stride) + 1
        if (out - 1) * stride >= n + pad_before:  # torch: the last window must start inside the input
            out -= 1
    else:
        out = total // stride + 1 if total >= 0 else 0
    return out


def same_padding(kernel: int, dilation: int = 1) -> tuple[int, int]:
    """'same' padding: total d*(k-1), the extra pixel after (bottom/right) for an even kernel.

    The output is then ceil(n / stride) at any stride, TensorFlow's 'SAME' size.
    """
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2


def scale(n: Size, factor: int) -> Size:
    """Upsampling by an integer factor."""
    if isinstance(n, Sym):
        if n.den % factor == 0:
            return Sym(n.name, n.den // factor, n.off * factor)
        raise ValueError(f"cannot upsample the symbolic size {n} by {factor}")
    return n * factor


def to_dim(n: Size) -> int | str:
    """The IR's form of a size: an int, or the symbolic size's text."""
    return str(n) if isinstance(n, Sym) else n


def shape_text(shape) -> str:
    """A shape as written in specs and messages: 512x7x7."""
    return "x".join(str(d) for d in shape)
