"""Long fuzzing runs of the front end: every input must give a network or a located SpecError, within
a time and memory limit per case; never another exception, a hang or running out of memory.

    python benchmarks/fuzz.py --cases 200000 --jobs 2          # about half an hour on two cores
    python benchmarks/fuzz.py --cases 2000 --out fuzz-found    # a quick look; reproducers kept

The inputs come from tests/fuzz_inputs.py (grammar sentences and mutated zoo specs, both
hypothesis strategies), run in batches with a seed each, so a batch can be replayed. Each worker
process runs under an address-space limit; each case under a timer. A case that breaks the
property is written to --out as a .net file with what happened, and the summary counts outcomes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import signal
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # fuzz_inputs lives beside the tests that use it

BATCH = 1000  # cases per hypothesis run (one seed)


class CaseTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise CaseTimeout()


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def run_batch(job: tuple[int, str, float, int, str]) -> tuple[Counter, list[dict], float]:
    """One seed's worth of cases of one kind: outcome counts, failures, and the slowest case's seconds."""
    seed, kind, seconds, memory_mb, out = job
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    import fuzz_inputs

    counts: Counter = Counter()
    failures: list[dict] = []
    slowest = [0.0]

    def one(filename: str, text: str) -> None:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        start = time.perf_counter()
        try:
            outcome = fuzz_inputs.check(text, filename)
        except CaseTimeout:
            outcome = "timeout"
        except MemoryError:
            outcome = "memory"
        except BaseException as exc:  # noqa: BLE001 - every other exception is what we are looking for
            outcome = f"exception {type(exc).__name__}"
            failures.append({"seed": seed, "kind": kind, "filename": filename, "text": text,
                             "what": traceback.format_exc(limit=-6)})
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        slowest[0] = max(slowest[0], time.perf_counter() - start)
        if outcome in ("timeout", "memory"):
            failures.append({"seed": seed, "kind": kind, "filename": filename, "text": text, "what": outcome})
        counts[outcome] += 1

    strategy = (fuzz_inputs.grammar_specs().map(lambda t: ("<fuzz>", t)) if kind == "grammar"
                else fuzz_inputs.mutated_specs())

    @hseed(seed)
    @settings(max_examples=BATCH, database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def batch(case):
        one(*case)

    batch()
    return counts, failures, slowest[0]


def _worker_init(memory_mb: int) -> None:
    import fuzz_inputs

    for path in fuzz_inputs.ZOO:  # imports, the grammar, the parsed libraries: outside any case's timer
        fuzz_inputs.check(path.read_text(encoding="utf-8"), str(path))
    signal.signal(signal.SIGALRM, _alarm)
    limit = _vm_bytes() + memory_mb * 1024 * 1024  # what the worker has mapped, plus the per-case budget
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20000, help="how many inputs in all (default 20000)")
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) - 1), help="worker processes")
    parser.add_argument("--seconds", type=float, default=2.0, help="time limit of one case (default 2)")
    parser.add_argument("--memory-mb", type=int, default=400, help="memory a worker may add (default 400 MB)")
    parser.add_argument("--seed", type=int, default=0, help="first batch's seed")
    parser.add_argument("--out", default="fuzz-found", help="folder for the inputs that broke the property")
    args = parser.parse_args()

    batches = max(1, args.cases // BATCH)
    # two grammar batches to one of mutated zoo specs: those cost ten times as much each
    jobs = [(args.seed + i, "mutated" if i % 3 == 2 else "grammar", args.seconds, args.memory_mb, args.out)
            for i in range(batches)]
    out = Path(args.out)
    totals: Counter = Counter()
    found: list[dict] = []
    slowest = 0.0
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.jobs, _worker_init, (args.memory_mb,),
                                                  maxtasksperchild=50) as pool:
        for done, (counts, failures, worst) in enumerate(pool.imap_unordered(run_batch, jobs), 1):
            totals.update(counts)
            slowest = max(slowest, worst)
            for f in failures:
                out.mkdir(parents=True, exist_ok=True)
                name = out / f"case{len(found):04d}-{f['kind']}-seed{f['seed']}.net"
                name.write_text(f["text"], encoding="utf-8")
                name.with_suffix(".txt").write_text(f"{f['filename']}\n{f['what']}\n", encoding="utf-8")
                found.append(f)
            n = sum(totals.values())
            print(f"\r{n:,} cases, {n / (time.perf_counter() - start):.0f}/s, {len(found)} found", end="",
                  file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start
    n = sum(totals.values())
    print(file=sys.stderr)
    print(f"cases      {n:,} in {elapsed:.0f} s ({n / elapsed:.0f}/s, {args.jobs} processes)")
    for outcome, count in totals.most_common():
        print(f"  {outcome:<28} {count:>9,}  {100 * count / n:5.1f}%")
    print(f"slowest    {slowest:.2f} s (limit {args.seconds} s per case, {args.memory_mb} MB per worker)")
    print(f"found      {len(found)}" + (f" (written to {out}/)" if found else ""))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
