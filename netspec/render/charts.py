"""Small charts as inline SVG for the HTML report: horizontal bars and line charts.

Written by hand rather than through matplotlib so that `netspec report` needs only what
`netspec lint` needs, and so that the charts scale with the page (a viewBox, width 100%)
and keep their text selectable. Every text goes through markupsafe's escape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from markupsafe import Markup, escape

PALETTE = ("#1f5fa8", "#c2571a", "#2f7d32", "#7b3fa0")


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as printed beside the bar
    href: str = ""  # where clicking the bar leads (a row of the table)


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]
    titles: Sequence[str] = ()  # a tooltip per point (the layer), optional


def bar_chart(bars: Sequence[Bar], title: str, width: int = 400, row: int = 18) -> Markup:
    """One horizontal bar per item, scaled to the largest; labels on the left, values on the right."""
    bars = [b for b in bars if b.value > 0]
    if not bars:
        return Markup("")
    # about 6.5 units per character of 11-unit text, so labels fit left of the bars
    label_w = min(170, 10 + 6.5 * max(len(_clip(b.label, 25)) for b in bars))
    value_w = 10 + 6.5 * max(len(b.text) for b in bars)
    plot_w = max(width - label_w - value_w, 60)
    top = max(b.value for b in bars)
    height = row * len(bars) + 6
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for i, b in enumerate(bars):
        y = 3 + i * row
        w = max(plot_w * b.value / top, 1.0)
        bar = (f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 5}" fill="{PALETTE[0]}">'
               f'<title>{escape(b.label)}: {escape(b.text)}</title></rect>')
        if b.href:
            bar = f'<a href="{escape(b.href)}">{bar}</a>'
        parts.append(f'<text x="{label_w - 6}" y="{y + row - 5}" text-anchor="end">{escape(_clip(b.label, 25))}</text>'
                     + bar + f'<text x="{label_w + w + 5:.1f}" y="{y + row - 5}">{escape(b.text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(series: Sequence[Series], title: str, xlabel: str, ylabel: str,
               hline: tuple[float, str] | None = None, width: int = 640, height: int = 260,
               ymin: float | None = None, ymax: float | None = None) -> Markup:
    """Lines over a shared x axis, with an optional horizontal reference line (`hline`: value, label)."""
    points = [p for s in series for p in s.points]
    if not points:
        return Markup("")
    left, right, top, bottom = 56, 16, 26, 40
    xs, ys = [p[0] for p in points], [p[1] for p in points] + ([hline[0]] if hline else [])
    x0, x1 = min(xs), max(xs)
    y0 = min(ys) if ymin is None else ymin
    y1 = max(ys) if ymax is None else ymax
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    pw, ph = width - left - right, height - top - bottom

    def sx(x):
        return left + pw * (x - x0) / (x1 - x0)

    def sy(y):
        return top + ph * (1 - (y - y0) / (y1 - y0))

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#bbbbbb"/>']
    for y in _ticks(y0, y1):
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="#eeeeee"/>'
                     f'<text x="{left - 5}" y="{sy(y) + 4:.1f}" text-anchor="end">{_num(y)}</text>')
    for x in _ticks(x0, x1):
        parts.append(f'<text x="{sx(x):.1f}" y="{top + ph + 15}" text-anchor="middle">{_num(x)}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle">{escape(xlabel)}</text>'
                 f'<text x="12" y="{top + ph / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 12 {top + ph / 2})">{escape(ylabel)}</text>')
    if hline is not None:
        y = sy(hline[0])
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#a83232" '
                     f'stroke-dasharray="5 4"/><text x="{left + 4}" y="{y - 4:.1f}" fill="#a83232">'
                     f'{escape(hline[1])}</text>')
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in s.points)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
        for j, (x, y) in enumerate(s.points):
            tip = s.titles[j] if j < len(s.titles) else f"{s.name}: {_num(y)}"
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}">'
                         f'<title>{escape(tip)}</title></circle>')
        # the legend sits above the plot, where no line can run through it
        parts.append(f'<rect x="{left + 120 * i}" y="8" width="12" height="4" fill="{color}"/>'
                     f'<text x="{left + 120 * i + 16}" y="15" fill="{color}">{escape(s.name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering [lo, hi]."""
    from math import ceil, floor, log10

    raw = (hi - lo) / count
    power = 10 ** floor(log10(raw)) if raw > 0 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [k * step for k in range(ceil(lo / step), floor(hi / step) + 1)]


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:.3g}"


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
