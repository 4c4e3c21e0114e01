"""The analysis rows by source span. Every IR node carries the span it was elaborated from (the
elaborator's `span`), so the rows of `analyze()` are found from the text: the layer under the cursor,
each instance of a line of a block body (one per call or repeat), and the shape each line outputs.
Built once per check, linear in the number of rows."""

from __future__ import annotations

from ..analysis import Analysis, Row
from ..analysis.notation import shape_str


def _key(file: str, loc) -> tuple:
    return file, loc.line, loc.column, loc.end_line, loc.end_column


class SpanIndex:
    def __init__(self, analysis: Analysis | None):
        self.rows: tuple[Row, ...] = analysis.rows if analysis is not None else ()
        self._by_span: dict[tuple, list[int]] = {}
        self._ends: dict[tuple[str, int], list[int]] = {}  # (file, line) -> rows whose span ends there
        for i, row in enumerate(self.rows):
            span = row.node.span
            if span is None:
                continue
            self._by_span.setdefault(_key(span.file, span), []).append(i)
            self._ends.setdefault((span.file, span.end_line), []).append(i)
        self._position = {id(row): i for i, row in enumerate(self.rows)}

    def at(self, file: str, loc) -> list[Row]:
        """The rows elaborated from exactly this span, in the order they run (one per instance)."""
        return [self.rows[i] for i in self._by_span.get(_key(file, loc), ())]

    def children(self, row: Row) -> list[Row]:
        """The rows one level below a block's row."""
        start = self._position[id(row)] + 1
        out = []
        for r in self.rows[start:]:
            if r.depth <= row.depth:
                break
            if r.depth == row.depth + 1:
                out.append(r)
        return out

    def line_outputs(self, file: str) -> dict[int, tuple[int, list[Row]]]:
        """For each line of `file` where layers end: (the column after the last element, the rows that
        are its outputs, one per instance). Of elements ending at the same place the outermost (a block
        call rather than its last layer) stands for the line."""
        out = {}
        for (f, line), ids in self._ends.items():
            if f != file:
                continue
            span_of = lambda i: self.rows[i].node.span
            last = max(ids, key=lambda i: (span_of(i).end_column, -self.rows[i].depth))
            same = self._by_span[_key(file, span_of(last))]
            # rows of one span that follow each other directly are one element run several times or
            # written as several nodes (a flatten before an fc, `after=[bn relu]`, `[conv3-64]x2`):
            # the run's last row is what the line outputs
            ends = [i for n, i in enumerate(same) if n + 1 == len(same) or same[n + 1] != i + 1]
            out[line] = (span_of(last).end_column, [self.rows[i] for i in ends])
        return out


def shapes_text(rows: list[Row], limit: int = 3) -> str:
    """The output shapes of the instances of one element: `64x56x56`, or `64x56x56 | 128x28x28`."""
    shapes = list(dict.fromkeys(shape_str(r.out_shape) for r in rows))
    more = f" | +{len(shapes) - limit} more" if len(shapes) > limit else ""
    return " | ".join(shapes[:limit]) + more


__all__ = ["SpanIndex", "shapes_text"]
