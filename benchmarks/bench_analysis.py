"""Speed and memory of the static analysis, measured side by side in one run.

    python benchmarks/bench_analysis.py            # everything, torchinfo included when installed
    python benchmarks/bench_analysis.py --quick    # fewer repeats, no torchinfo

Goals (issue 4): `netspec summary resnet50` under 0.25 s wall and 80 MB peak for the whole
process; `netspec lint specs/` under 1 s; a generated 10,000-layer spec analysed in under 2 s,
with cost growing linearly. torchinfo (pip install torchinfo; not a netspec dependency) builds
the torch model and runs it to get the same table: its figures are printed next to ours.
Where the time goes (imports, grammar, elaboration, analysis) is printed last.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Measured as a user runs netspec: from compiled bytecode (pip compiles an installed package, and an
# editable one compiles on first import). With PYTHONDONTWRITEBYTECODE set, every run would compile
# netspec's ~80 modules from source again (~80 ms), which is not what anyone's `netspec lint` pays.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

# `python -m netspec` needs every subcommand module; while some are missing, run the two
# analysis commands through the same argparse wiring so the benchmark still measures them.
_FALLBACK = textwrap.dedent("""
    import argparse, sys
    from netspec.commands import lint, summary
    from netspec.diagnostics import SpecError
    p = argparse.ArgumentParser(prog="netspec"); sub = p.add_subparsers(dest="command", required=True)
    summary.add_parser(sub); lint.add_parser(sub)
    a = p.parse_args(sys.argv[1:])
    try:
        sys.exit(a.run(a))
    except SpecError as e:
        print(e.render(), file=sys.stderr); sys.exit(1)
""")


def measure(cmd: list[str], repeat: int) -> tuple[float, float, int]:
    """(median wall seconds, best wall seconds, peak RSS in MB) of a whole process."""
    walls, peak = [], 0
    subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True)  # warm: bytecode and the grammar's cache
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
        peak = max(peak, usage.ru_maxrss // 1024)  # Linux reports KiB
    return statistics.median(walls), min(walls), peak


def netspec_cmd() -> list[str]:
    probe = subprocess.run([sys.executable, "-m", "netspec", "--help"], cwd=ROOT, env=ENV, capture_output=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "netspec"]
    print("note: `python -m netspec` does not start yet (a subcommand module is missing); "
          "measuring summary/lint through the same argparse wiring instead\n")
    return [sys.executable, "-c", _FALLBACK]


def generated_spec(layers: int) -> str:
    """A plain chain of `layers` layers (conv + relu pairs), then a classifier."""
    pairs = "\n".join("conv3-16 relu" for _ in range(layers // 2))
    return f"network chain{layers}\ninput 3x32x32\n{pairs}\ngap fc-10\n"


def scaling(sizes: list[int]) -> list[tuple[int, float, float]]:
    """(layers, parse+elaborate seconds, analyse+lint seconds) measured in this process."""
    import netspec
    from netspec.analysis import analyze, lint

    netspec.parse(generated_spec(10))  # warm the grammar once, as a long-lived process would be
    out = []
    for n in sizes:
        text = generated_spec(n)
        t0 = time.perf_counter()
        network = netspec.parse(text)
        t1 = time.perf_counter()
        lint(network, analyze(network))
        t2 = time.perf_counter()
        out.append((n, t1 - t0, t2 - t1))
    return out


def breakdown() -> list[tuple[str, float]]:
    """Where one `netspec summary resnet50` spends its time, stage by stage, in a fresh process."""
    code = textwrap.dedent("""
        import time; t0 = time.perf_counter()
        from pydantic import BaseModel; t1 = time.perf_counter()
        import netspec; t2 = time.perf_counter()
        import lark, netspec.parser, netspec.elaborate; t3 = time.perf_counter()
        from netspec.parser import _lark; _lark(); t4 = time.perf_counter()
        n = netspec.load("resnet50"); t5 = time.perf_counter()
        from netspec.analysis import analyze; from netspec.analysis.report import table
        a = analyze(n); t6 = time.perf_counter()
        table(a); t7 = time.perf_counter()
        print(t1-t0, t2-t1, t3-t2, t4-t3, t5-t4, t6-t5, t7-t6)
    """)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True, check=True)
    total = time.perf_counter() - start
    parts = [float(x) for x in out.stdout.split()]
    bare = min(_wall([sys.executable, "-c", "pass"]) for _ in range(3))
    names = ["python interpreter start", "import pydantic (BaseModel)", "import netspec (IR model classes, diagnostics)",
             "import lark + parser + elaborator", "grammar load (Lark, cached tables)",
             "parse + elaborate resnet50.net", "analyze", "render the table"]
    return list(zip(names, [bare, *parts])) + [("whole process", total)]


def _wall(cmd) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True)
    return time.perf_counter() - start


def torchinfo_figures() -> tuple[float, int] | None:
    code = textwrap.dedent("""
        import torch, torchinfo, netspec
        model = netspec.build("resnet50")
        torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0)
    """)
    probe = subprocess.run([sys.executable, "-c", "import torchinfo, torch"], capture_output=True)
    if probe.returncode != 0:
        return None
    try:
        _, best, peak = measure([sys.executable, "-c", code], 1)
    except RuntimeError as err:
        print(f"torchinfo run failed: {err}")
        return None
    return best, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 repeats and no torchinfo")
    args = ap.parse_args()
    repeat = 3 if args.quick else 7
    cmd = netspec_cmd()
    specs = sorted((ROOT / "specs").rglob("*.net"))

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; median of {repeat} runs\n")
    med, best, peak = measure(cmd + ["summary", "resnet50"], repeat)
    print(f"{'netspec summary resnet50':<36} wall {med:6.3f} s (best {best:.3f}; goal < 0.25)   "
          f"peak RSS {peak:4d} MB (goal < 80)")
    ti = None if args.quick else torchinfo_figures()
    if ti is not None:
        print(f"{'torchinfo.summary, same network':<36} wall {ti[0]:6.3f} s                           "
              f"peak RSS {ti[1]:4d} MB")
        print(f"{'':<36} netspec is {ti[0] / med:.0f}x faster and uses {ti[1] / peak:.0f}x less memory")
    else:
        print(f"{'torchinfo.summary, same network':<36} (not measured: --quick, or torchinfo/torch not installed)")

    med, best, peak = measure(cmd + ["lint", "specs/"], repeat)
    print(f"{f'netspec lint specs/ ({len(specs)} files)':<36} wall {med:6.3f} s (best {best:.3f}; goal < 1)      "
          f"peak RSS {peak:4d} MB (parent)")
    one, best, peak = measure(cmd + ["lint", "--jobs", "1", "specs/"], repeat)
    print(f"{'  the same in one process (-j1)':<36} wall {one:6.3f} s (best {best:.3f}; {one / med:.2f}x the time)  "
          f"peak RSS {peak:4d} MB")

    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "chain10000.net"
        big.write_text(generated_spec(10_000))
        med, best, peak = measure(cmd + ["lint", str(big)], max(1, repeat // 2))
        print(f"{'netspec lint, 10,000-layer spec':<36} wall {med:6.3f} s (best {best:.3f}; goal < 2)      "
              f"peak RSS {peak:4d} MB")

    print("\nscaling, in one process (seconds; per-layer cost should stay flat):")
    print(f"  {'layers':>7} {'parse+elaborate':>16} {'analyze+lint':>13} {'total':>7} {'us/layer':>9}")
    for n, front, analysis in scaling([1_000, 2_500, 5_000, 10_000]):
        print(f"  {n:>7,} {front:>16.3f} {analysis:>13.3f} {front + analysis:>7.3f} "
              f"{1e6 * (front + analysis) / n:>9.1f}")

    print("\nwhere `netspec summary resnet50` spends its time (one fresh process):")
    for name, seconds in breakdown():
        print(f"  {name:<46} {1000 * seconds:7.1f} ms")


if __name__ == "__main__":
    main()
