"""Speed of `netspec diff` as a whole command, on two ResNet-152 specs.

    python benchmarks/bench_diff.py            # 7 runs of each command
    python benchmarks/bench_diff.py --quick    # 3 runs

Goal (issue 16): a diff of two ResNet-152 specs in under 0.5 s, the whole process. Printed next to
`netspec summary resnet152` (one spec read and analysed, the floor a diff of two builds on) and a
bare interpreter, then where one diff spends its time, stage by stage.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_analysis import ROOT, measure, netspec_cmd  # noqa: E402

GOAL_S = 0.5

CASES = [
    ("diff resnet152 against itself", ["diff", "resnet152", "resnet152"]),
    ("diff resnet152 -> resnet101 (17 blocks removed)", ["diff", "resnet152", "resnet101"]),
    ("diff resnet152 -> width=128 (every layer changed)", ["diff", "resnet152", "resnet152", "--set-new", "width=128"]),
    ("  same, --format markdown", ["diff", "resnet152", "resnet152", "--set-new", "width=128", "--format", "markdown"]),
    ("  same, --format json", ["diff", "resnet152", "resnet152", "--set-new", "width=128", "--format", "json"]),
    ("reference: summary resnet152", ["summary", "resnet152"]),
]


def _children_cpu() -> float:
    """CPU seconds (user + system) used so far by finished child processes: what a run costs, which
    other work on the machine slows less than it does the wall time."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stages() -> list[tuple[str, float]]:
    """Where one diff of resnet152 against its width=128 variant spends its time, in this process."""
    import netspec
    from netspec.analysis import analyze
    from netspec.analysis.diff import diff
    from netspec.analysis.diff_report import text

    netspec.load("resnet18")  # the grammar is loaded once per process; it is in the process figures above
    t0 = time.perf_counter()
    old, new = netspec.load("resnet152"), netspec.load("resnet152", params={"width": 128})
    t1 = time.perf_counter()
    a, b = analyze(old), analyze(new)
    t2 = time.perf_counter()
    d = diff(old, new, a, b)
    t3 = time.perf_counter()
    text(d)
    t4 = time.perf_counter()
    return [("load both specs (parse + elaborate)", t1 - t0), ("analyze both", t2 - t1),
            ("align and compare", t3 - t2), ("render text", t4 - t3)]


def main(repeat: int) -> None:
    cmd = netspec_cmd()
    bare, _, _ = measure([sys.executable, "-c", "pass"], repeat)
    rows = []
    for name, argv in CASES:
        before = _children_cpu()
        median, best, peak = measure(cmd + argv, repeat)
        rows.append((name, median, best, peak, (_children_cpu() - before) / repeat))
    summary = rows[-1][1]
    width = max(len(r[0]) for r in rows)
    import os

    load = os.getloadavg()[0]
    print(f"whole process, {repeat} runs each (python interpreter alone: {bare:.3f} s); load average "
          f"{load:.1f} on {os.cpu_count()} cores: wall times grow with load, the ratios to summary much less\n")
    print(f"{'command':<{width}}  median s  best s  cpu s  peak MB  vs goal {GOAL_S} s  vs summary")
    for name, median, best, peak, cpu in rows:
        print(f"{name:<{width}}  {median:8.3f}  {best:6.3f}  {cpu:5.3f}  {peak:7d}  {median / GOAL_S:13.2f}x"
              f"  {median / summary:9.2f}x")
    worst = max(r[1] for r in rows[:-1])
    worst_cpu = max(r[4] for r in rows[:-1])
    print(f"\nslowest diff: {worst:.3f} s median wall, {worst_cpu:.3f} s cpu (user + system, a whole process); "
          f"goal {GOAL_S} s: {'met' if worst < GOAL_S else 'not met by the wall time'}")
    lines = [f"  {name:<40} {seconds * 1000:8.1f} ms" for name, seconds in stages()]
    print("\nwhere one diff (resnet152 -> width=128) spends its time, in one process:", *lines, sep="\n")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs per command instead of 7")
    main(repeat=3 if parser.parse_args().quick else 7)
