"""How fast, and in how little memory, netspec refuses the hostile specs of issue 13.

    python benchmarks/bench_hostile.py

Goal: every refusal under 1 s and 100 MB for the whole process (Python and the imports
included). Each reproducer (tests/test_hostile.py's BOMBS) runs in a fresh process; the table
shows wall and CPU seconds of the parse alone, the process's peak RSS, and each as a share
of its goal.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_hostile import BOMBS, bomb_text  # noqa: E402

_MEASURE = """
import resource, sys, time
import netspec
text = sys.stdin.read()
wall, cpu = time.perf_counter(), time.process_time()
try:
    netspec.parse(text, "bomb.net")
    code = "accepted"
except netspec.SpecError as err:
    code = err.diagnostics[0].message.rsplit("(", 1)[-1].rstrip(")")
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]  # this process's own peak
peak = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(time.perf_counter() - wall, time.process_time() - cpu, peak, code)
"""


def main() -> int:
    print(f"{'reproducer':<24} {'wall s':>7} {'cpu s':>7} {'of 1 s':>7} {'peak MB':>8} {'of 100 MB':>9}  refused by")
    worst = 0.0
    for name in BOMBS:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _MEASURE], input=bomb_text(name), capture_output=True,
                              text=True, timeout=600)
        if done.returncode:
            print(f"{name:<24} failed: {done.stderr.strip().splitlines()[-1]}")
            continue
        wall, cpu, mb, code = done.stdout.split(maxsplit=3)
        worst = max(worst, float(cpu), float(mb) / 100)
        print(f"{name:<24} {float(wall):7.3f} {float(cpu):7.3f} {float(cpu):6.0%} {float(mb):8.0f} "
              f"{float(mb) / 100:8.0%}   {code.strip()}  (process {time.perf_counter() - start:.1f} s)")
    print(f"worst share of a goal: {worst:.0%}")
    return 0 if worst < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
