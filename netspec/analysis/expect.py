"""`expect` lines: check a spec's written figures against the analysis, and rewrite them (`--update`).

`expect params N` is the trainable parameter count (torch's `sum(p.numel() for p in
model.parameters())`, the figure papers and torchvision publish). A value with a K/M/G
suffix matches when the figure, in that unit and rounded to the decimals written, reads the
same: `expect macs 4.09G` matches 4,089,184,256. `expect output 1000` / `512x7x7` is the
output shape without the batch dimension.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..diagnostics import Diagnostic
from ..ir import Expect, Network
from .core import Analysis
from .notation import shape_str

UNITS = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_SCALED = re.compile(r"^(\d+(?:\.(\d+))?)([KMGT])$", re.IGNORECASE)


def actual(what: str, analysis: Analysis) -> int | str | None:
    if what == "params":
        return analysis.trainable_params
    if what == "macs":
        return analysis.macs
    return shape_str(analysis.output_shape)


def _number(written: str) -> str:
    return written.replace(",", "").replace("_", "").strip()


def matches(written: str, value: int | str) -> bool:
    """Does the figure as written in the spec agree with the computed one?"""
    if isinstance(value, str):  # a shape
        return written.replace(" ", "").lower() == value.lower()
    text = _number(written)
    scaled = _SCALED.match(text)
    if scaled:
        return render_like(written, value) == f"{scaled.group(1)}{scaled.group(3).upper()}"
    return text.isdigit() and int(text) == value


def render_like(written: str, value: int | str) -> str:
    """The figure written in the style of `written`: the same unit and decimals, or an exact integer."""
    if isinstance(value, str):
        return value
    scaled = _SCALED.match(_number(written))
    if not scaled:
        return str(value)
    decimals = len(scaled.group(2) or "")
    unit = scaled.group(3).upper()
    return f"{value / UNITS[unit]:.{decimals}f}{unit}"


def check(network: Network, analysis: Analysis) -> list[Diagnostic]:
    out = []
    for exp in network.expects:
        value = actual(exp.what, analysis)
        if value is None:
            out.append(Diagnostic(
                f"`expect {exp.what}` needs a concrete input size; the input is {shape_str(network.input_shape)}",
                exp.span, code="expect",
                help="give the spec a concrete `input` (or run with --input), or remove this line"))
        elif not matches(exp.value, value):
            shown = f"{value:,}" if isinstance(value, int) else value
            if isinstance(value, int) and _SCALED.match(_number(exp.value)):
                shown = f"{render_like(exp.value, value)} ({value:,})"
            out.append(Diagnostic(
                f"expected {exp.what} {exp.value}, but the spec gives {shown}", exp.span, code="expect",
                help="if the change is intended, `netspec lint --update` rewrites this line"))
    return out


_INPUT_LINE = re.compile(r"^[ \t]*input\b.*$", re.MULTILINE)


@dataclass(frozen=True)
class Change:
    """One figure `--update` writes: an expect line whose value is off, or a figure not expected yet."""

    what: str  # params, macs, output
    old: str | None  # as written; None for a figure the spec does not expect yet
    new: str  # in the style of the old value
    expect: Expect | None = None  # the line it rewrites

    def __str__(self) -> str:
        return f"{self.what} (added) {self.new}" if self.old is None else f"{self.what} {self.old} -> {self.new}"


def changes(network: Network, analysis: Analysis, add_missing: bool = True) -> list[Change]:
    """What `--update` changes: the expect lines that disagree with the analysis, then missing figures."""
    out = []
    for exp in network.expects:
        value = actual(exp.what, analysis)
        if value is not None and not matches(exp.value, value):
            out.append(Change(exp.what, exp.value, render_like(exp.value, value), exp))
    if add_missing:
        have = {e.what for e in network.expects}
        out += [Change(what, None, str(actual(what, analysis))) for what in ("params", "macs", "output")
                if what not in have and actual(what, analysis) is not None]
    return out


def updated_text(text: str, network: Network, analysis: Analysis, add_missing: bool = True) -> str:
    """`text` with every change of `changes` made; the rest byte for byte the same.

    Figures the spec does not expect yet are added after the `input` line when `add_missing`.
    """
    lines = text.splitlines(keepends=True)
    todo = changes(network, analysis, add_missing)
    for change in todo:
        exp = change.expect
        if exp is None or exp.span is None or not 1 <= exp.span.line <= len(lines):
            continue
        if network.source is not None and exp.span.file != network.source:
            continue  # written in another file: `text` is not where it stands
        pattern = re.compile(rf"(\bexpect[ \t]+{exp.what}[ \t]+)([^\s#]+)")
        lines[exp.span.line - 1] = pattern.sub(lambda m: m.group(1) + change.new, lines[exp.span.line - 1], 1)
    text = "".join(lines)
    new = [f"expect {c.what} {c.new}\n" for c in todo if c.old is None]
    if new:
        m = _INPUT_LINE.search(text)
        at = len(text) if m is None else m.end()
        if at < len(text) and text[at] == "\n":
            at += 1
        elif at == len(text) and text and not text.endswith("\n"):
            new[0] = "\n" + new[0]
        text = text[:at] + "".join(new) + text[at:]
    return text


__all__ = ["Change", "Expect", "actual", "changes", "check", "matches", "render_like", "updated_text"]
