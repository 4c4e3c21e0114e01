"""How fast `netspec lsp` answers an edit: an editing session on specs/resnet50.net replayed over stdio.

    python benchmarks/bench_lsp.py              # 5 rounds of the session
    python benchmarks/bench_lsp.py --rounds 1

Goal (issue 17): ResNet-50 re-analysed in under 50 ms per edit, median. The session is typed a
keystroke at a time, as an editor sends it (one incremental change per keystroke): a stage's depth
changed from 6 to 23 and back (through a syntax error and a failed `expect` line), a typo made and
mended, the input size retyped (through an empty-output shape error and a syntax error), a dropout
line typed and deleted. Each edit is timed from the change sent to its diagnostics received: the
whole check (parse, elaborate, analyse, expect lines, lints) plus the JSON-RPC round trip.

Side by side: the same check as `netspec lint specs/resnet50.net` in a fresh process, what an editor
without a server would run on each save, and the check alone in this process (netspec.checks).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "resnet50.net"


def session(text: str) -> list[tuple[str, str]]:
    """(what the keystroke did, the text after it), one per keystroke."""
    steps: list[tuple[str, str]] = []
    cur = text

    def at(anchor: str) -> int:
        return cur.index(anchor) + len(anchor)

    def typed(where: int, chars: str, label: str) -> None:
        nonlocal cur
        for i, ch in enumerate(chars):
            cur = cur[:where + i] + ch + cur[where + i:]
            steps.append((label, cur))

    def deleted(where: int, n: int, label: str) -> None:  # backspace n times, ending at `where`
        nonlocal cur
        for i in range(n):
            cur = cur[:where - i - 1] + cur[where - i:]
            steps.append((label, cur))

    depth = at("bottleneck_stage(256, ")
    deleted(depth + 1, 1, "depth: 6 deleted (syntax error)")
    typed(depth, "23", "depth: 23 typed (expect params fails)")
    deleted(depth + 2, 2, "depth: 23 deleted")
    typed(depth, "6", "depth: 6 again (clean)")

    gap = at("\ngap")
    typed(gap, "p", "typo: gapp (unknown layer)")
    deleted(gap + 1, 1, "typo mended")

    height = at("input 3x")
    deleted(height + 3, 3, "input height deleted (shape errors, then syntax)")
    typed(height, "224", "input height typed")

    head = cur.index("fc: fc-")
    typed(head, "dropout(0.5)\n", "a dropout line typed")
    deleted(head + len("dropout(0.5)\n"), len("dropout(0.5)\n"), "the dropout line deleted")
    assert cur == text, "the session ends where it began"
    return steps


def change(old: str, new: str) -> types.TextDocumentContentChangePartial:
    """The edit from old to new as one range replacement (what an editor sends for a keystroke)."""
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    end_old, end_new = len(old), len(new)
    while end_old > start and end_new > start and old[end_old - 1] == new[end_new - 1]:
        end_old, end_new = end_old - 1, end_new - 1

    def position(offset: int) -> types.Position:
        before = old[:offset]
        return types.Position(before.count("\n"), offset - (before.rfind("\n") + 1))

    return types.TextDocumentContentChangePartial(range=types.Range(start=position(start), end=position(end_old)),
                                                  text=new[start:end_new])


async def replay(rounds: int) -> tuple[float, list[float], list[int]]:
    """(seconds to the first diagnostics after opening, seconds per edit, diagnostics per edit)."""
    client = LanguageClient("bench", "0")
    arrived: dict[int, asyncio.Future] = {}

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def published(params: types.PublishDiagnosticsParams) -> None:
        future = arrived.get(params.version)
        if future is not None and not future.done():
            future.set_result(len(params.diagnostics))

    await client.start_io(sys.executable, "-m", "netspec", "lsp", cwd=str(ROOT))
    await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
    client.initialized(types.InitializedParams())
    uri, text = from_fs_path(str(SPEC)), SPEC.read_text()
    loop = asyncio.get_running_loop()

    async def sent(version: int, notify, params) -> tuple[float, int]:
        arrived[version] = loop.create_future()
        start = time.perf_counter()
        notify(params)
        count = await asyncio.wait_for(arrived[version], 60)
        return time.perf_counter() - start, count

    first, _ = await sent(1, client.text_document_did_open, types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="netspec", version=1, text=text)))
    times, counts, version, cur = [], [], 1, text
    for _ in range(rounds):
        for _, new in session(text):
            version += 1
            seconds, count = await sent(version, client.text_document_did_change, types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[change(cur, new)]))
            times.append(seconds)
            counts.append(count)
            cur = new
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return first, times, counts


def lint_process(repeat: int = 5) -> float:
    walls = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "netspec", "lint", str(SPEC)], cwd=ROOT, capture_output=True, check=False)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def check_alone(repeat: int = 20) -> float:
    from netspec.checks import check_text

    text = SPEC.read_text()
    check_text(text, str(SPEC))  # grammar and library caches warm, as in the server
    walls = []
    for _ in range(repeat):
        start = time.perf_counter()
        check_text(text, str(SPEC))
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="times the session is replayed (default 5)")
    args = parser.parse_args()

    steps = session(SPEC.read_text())
    first, times, counts = asyncio.run(replay(args.rounds))
    ms = sorted(t * 1000 for t in times)
    median, p90 = statistics.median(ms), ms[min(len(ms) - 1, int(0.9 * len(ms)))]
    lint, alone = lint_process() * 1000, check_alone() * 1000
    errors = sum(1 for c in counts[:len(steps)] if c)
    print(f"session: {len(steps)} keystrokes on {SPEC.relative_to(ROOT)}, {errors} of them leave diagnostics; "
          f"{args.rounds} rounds, {len(times)} edits")
    print(f"{'':44} {'median':>9} {'p90':>9}")
    print(f"{'netspec lsp, edit -> diagnostics received':44} {median:8.1f}ms {p90:8.1f}ms   goal: median < 50 ms")
    print(f"{'  first open (cold caches)':44} {first * 1000:8.1f}ms")
    print(f"{'check_text alone, same spec, in process':44} {alone:8.1f}ms")
    print(f"{'netspec lint, fresh process':44} {lint:8.1f}ms   ({lint / median:.0f}x the server's median edit)")
    print(f"{'worst edit':44} {ms[-1]:8.1f}ms")
    print("\nby kind of keystroke (median over rounds):")
    by_label: dict[str, list[float]] = {}
    for i, t in enumerate(times):
        by_label.setdefault(steps[i % len(steps)][0], []).append(t * 1000)
    for label, values in by_label.items():
        print(f"  {label:52} {statistics.median(values):7.1f}ms")


if __name__ == "__main__":
    main()
