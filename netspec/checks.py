"""Everything `netspec lint` reports about one spec's text, and what it computed on the way.

One function, `check_text`, shared by `netspec lint` (which reads the file) and the language
server (which checks the editor's unsaved text): parse, elaborate (every error of the file at
once), analyse, check the `expect` lines, run the design lints. Both report the same
diagnostics with the same spans, codes and words, and the server keeps the syntax tree, the IR
and the analysis for hover, inlay hints and go to definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

from .diagnostics import Diagnostic, SpecError


@dataclass
class Checked:
    """The outcome of checking one spec; the later stages are None where an earlier one failed."""

    filename: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # file -> text, for caret pictures
    tree: object | None = None  # netspec.syntax.SpecFile, when the text parsed
    network: object | None = None  # netspec.ir.Network, when it elaborated
    analysis: object | None = None  # netspec.analysis.Analysis, with the network
    library: bool = False  # a file of blocks for others to import: no network to check


def check_text(text: str, filename: str, disable: Iterable[str] = ()) -> Checked:
    """Parse, elaborate and analyse `text` (the contents of `filename`) and collect every diagnostic.

    Raises nothing for a bad spec: its errors are in `diagnostics`. A file of blocks only
    (specs/lib/) is checked as a library. Lint findings on layers written in an imported file
    say which network they were found in.
    """
    from .analysis import analyze
    from .analysis.expect import check
    from .analysis.lints import run_lints
    from .elaborate import check_library, elaborate, is_library
    from .parser import parse_tree

    out = Checked(filename, sources={filename: text})
    try:
        out.tree = parse_tree(text, filename)
        if is_library(out.tree):
            out.library = True
            check_library(out.tree, filename=filename, source=text)
            return out
        out.network = elaborate(out.tree, filename=filename, source=text, params={}, input=None)
    except SpecError as err:
        out.diagnostics += err.diagnostics
        out.sources.update(err.sources)
        return out
    out.analysis = analyze(out.network)
    out.diagnostics += check(out.network, out.analysis)
    for d in run_lints(out.network, out.analysis, disable):
        if d.span is not None and d.span.file != filename:  # a layer written in an imported block
            d = replace(d, notes=d.notes + (f"in network `{out.network.name}` ({filename})",))
        out.diagnostics.append(d)
    return out


__all__ = ["Checked", "check_text"]
