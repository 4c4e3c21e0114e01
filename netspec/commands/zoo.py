"""`netspec zoo`: the bundled specs with their parameters, MACs and input, read from the specs themselves.

`--update-readme README.md` rewrites the table between the `<!-- zoo:start -->` and
`<!-- zoo:end -->` markers, so the README's zoo table is regenerated, never typed.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

START = "<!-- zoo:start -->"
END = "<!-- zoo:end -->"
FORMATS = ("text", "markdown")


@dataclass(frozen=True)
class Entry:
    name: str  # the file's stem: what `netspec.load("resnet50")` takes
    params: int  # trainable, of the main path: what torchvision publishes (GoogLeNet 6,624,904)
    with_sides: int  # trainable, side outputs included: what the state_dict holds
    macs: int | None  # per sample at the spec's input size
    input: str  # 3x224x224
    output: str
    sides: tuple[str, ...]  # named side outputs (GoogLeNet's aux1, aux2)
    paper: str


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "zoo", help="list the bundled specs: parameters, MACs, input",
        description="List the zoo of bundled specs with their parameters, MACs and input shape, "
                    "computed from the specs by the analysis.")
    p.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    p.add_argument("--update-readme", metavar="FILE",
                   help=f"rewrite the markdown table between {START} and {END} in FILE")
    p.set_defaults(run=run)


def entries(folder: Path | None = None) -> list[Entry]:
    """One entry per spec in the zoo folder, in name order."""
    from ..analysis import analyze
    from ..analysis.notation import shape_str
    from ..frontend import load
    from ..sources import zoo_dir

    out = []
    for path in sorted((folder or zoo_dir()).glob("*.net"), key=natural):
        network = load(path)
        a = analyze(network)
        sides = sum(r.params for r in a.rows if r.kind == "side")
        out.append(Entry(path.stem, a.trainable_params - sides, a.trainable_params, a.macs,
                         shape_str(network.input_shape), shape_str(network.output_shape),
                         network.side_outputs, network.meta.get("paper", "")))
    return out


def natural(path: Path) -> tuple:
    """resnet18 before resnet101: digit runs compare as numbers."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.stem))


def human(n: int | None) -> str:
    """MACs as torchvision and the papers print them: 4089184256 -> '4.09 G', 568740352 -> '569 M'."""
    if n is None:
        return "?"
    if n >= 10**9:
        return f"{n / 1e9:.2f} G"
    for scale, suffix in ((10**6, "M"), (10**3, "K")):
        if n >= scale:
            v = n / scale
            return f"{v:.{1 if v < 100 else 0}f} {suffix}"
    return str(n)


def _row(e: Entry) -> list[str]:
    params = f"{e.params:,}" + (f" ({e.with_sides:,} with {', '.join(e.sides)})" if e.sides else "")
    return [e.name, params, human(e.macs), e.input, e.paper]


HEADER = ["spec", "params", "MACs", "input", "paper"]


def markdown(items: list[Entry]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(["---", "--:", "--:", "---", "---"]) + "|"]
    for e in items:
        cells = _row(e)
        cells[0] = f"[{e.name}](specs/{e.name}.net)"
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def text(items: list[Entry]) -> str:
    rows = [HEADER[:4]] + [_row(e)[:4] for e in items]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    right = (False, True, True, False)
    out = []
    for r in rows:
        out.append("  ".join(c.rjust(w) if rt else c.ljust(w) for c, w, rt in zip(r, widths, right)).rstrip())
    return "\n".join(out)


def splice(document: str, table: str) -> str:
    """The document with the text between the zoo markers replaced by `table`."""
    start, end = document.find(START), document.find(END)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"no `{START}` ... `{END}` markers (in that order)")
    return document[:start + len(START)] + "\n" + table + "\n" + document[end:]


def update_readme(path: Path, table: str) -> bool:
    """Rewrite the table in place (atomically); True when the file changed."""
    from ..files import write_atomic

    old = path.read_text(encoding="utf-8")
    new = splice(old, table)
    if new != old:
        write_atomic(path, new)
    return new != old


def run(args) -> int:
    from ..diagnostics import EXIT_RUNTIME, EXIT_USAGE

    items = entries()
    if args.update_readme:
        path = Path(args.update_readme)
        try:
            changed = update_readme(path, markdown(items))
        except FileNotFoundError:
            print(f"netspec zoo: error: {path}: no such file", file=sys.stderr)
            return EXIT_RUNTIME
        except ValueError as exc:
            print(f"netspec zoo: error: {path}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"{path}: zoo table of {len(items)} specs {'updated' if changed else 'already up to date'}")
        return 0

    print(markdown(items) if args.format == "markdown" else text(items))
    return 0
