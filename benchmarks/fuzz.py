"""Long fuzzing runs of the front end: every input must give a network or a located SpecError, within
a time and memory limit per case; never another exception, a hang or running out of memory.

    python benchmarks/fuzz.py --cases 200000 --jobs 2          # about half an hour on two cores
    python benchmarks/fuzz.py --cases 2000 --out fuzz-found    # a quick look; reproducers kept

The inputs come from tests/fuzz_inputs.py (grammar sentences and mutated zoo specs), each case
made from its own seed so that `--replay grammar:SEED` remakes it (hypothesis is left to the
test suite here: its bookkeeping costs more than a case). Each worker
process runs under an address-space limit; each case under a timer. A case that breaks the
property is written to --out as a .net file with what happened, and the summary counts outcomes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import signal
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # fuzz_inputs lives beside the tests that use it

BATCH = 500  # cases per task handed to a worker


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


def run_batch(job: tuple[int, str, float]) -> tuple[Counter, list[dict], float]:
    """One batch of cases of one kind: outcome counts, failures, and the slowest case's seconds.
    Case i of batch b is generated from random.Random(b * BATCH + i): `--replay SEED` remakes it."""
    batch, kind, seconds = job
    import fuzz_inputs

    counts: Counter = Counter()
    failures: list[dict] = []
    slowest = 0.0
    for i in range(BATCH):
        case_seed = batch * BATCH + i
        filename, text = make_case(fuzz_inputs, kind, case_seed)
        signal.setitimer(signal.ITIMER_PROF, seconds)  # CPU time: a busy machine does not make a case slow
        start = time.perf_counter()
        what = None
        try:
            outcome = fuzz_inputs.check(text, filename)
        except CaseTimeout:
            outcome = what = "timeout"
        except MemoryError:
            outcome = what = "memory"
        except BaseException as exc:  # noqa: BLE001 - every other exception is what we are looking for
            outcome = f"exception {type(exc).__name__}"
            what = traceback.format_exc(limit=-6)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        slowest = max(slowest, time.perf_counter() - start)
        if what is not None:
            failures.append({"seed": case_seed, "kind": kind, "filename": filename, "text": text, "what": what})
        counts[outcome] += 1
    return counts, failures, slowest


def make_case(fuzz_inputs, kind: str, case_seed: int) -> tuple[str, str]:
    rnd = random.Random(case_seed)
    return ("<fuzz>", fuzz_inputs.grammar_spec(rnd)) if kind == "grammar" else fuzz_inputs.mutated_spec(rnd)


def _worker_init(memory_mb: int) -> None:
    import fuzz_inputs

    for path in fuzz_inputs.ZOO:  # imports, the grammar, the parsed libraries: outside any case's timer
        fuzz_inputs.check(path.read_text(encoding="utf-8"), str(path))
    signal.signal(signal.SIGPROF, _alarm)
    limit = _vm_bytes() + memory_mb * 1024 * 1024  # what the worker has mapped, plus the per-case budget
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20000, help="how many inputs in all (default 20000)")
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) - 1), help="worker processes")
    parser.add_argument("--seconds", type=float, default=2.0, help="CPU time limit of one case (default 2)")
    parser.add_argument("--memory-mb", type=int, default=400, help="memory a worker may add (default 400 MB)")
    parser.add_argument("--seed", type=int, default=0, help="first batch's number (batches differ by seed)")
    parser.add_argument("--replay", metavar="KIND:SEED", help="print one case (e.g. grammar:1234) and check it")
    parser.add_argument("--out", default="fuzz-found", help="folder for the inputs that broke the property")
    args = parser.parse_args()
    if args.replay:
        import fuzz_inputs

        kind, _, seed = args.replay.partition(":")
        filename, text = make_case(fuzz_inputs, kind, int(seed))
        print(text)
        print(fuzz_inputs.check(text, filename))
        return 0

    batches = max(1, args.cases // BATCH)
    # two grammar batches to one of mutated zoo specs: those cost ten times as much each
    jobs = [(args.seed + i, "mutated" if i % 3 == 2 else "grammar", args.seconds) for i in range(batches)]
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
    print(f"slowest    {slowest:.2f} s wall (limit {args.seconds} s of CPU per case, {args.memory_mb} MB per worker)")
    print(f"found      {len(found)}" + (f" (written to {out}/)" if found else ""))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
