"""The Triton backend against PyTorch eager and torch.compile on a GPU, in one run (issue 11).

    python benchmarks/bench_triton.py                     # the full table (needs a CUDA GPU)
    python benchmarks/bench_triton.py --quick             # fewer timed runs, for a first look
    python benchmarks/bench_triton.py --markdown >> BENCHMARKS.md
    python benchmarks/bench_triton.py --networks resnet50 --batches 1     # a subset

Time: max-autotune compiles each (network, batch) for a few minutes; the six of the full run can
take longer than a short GPU lease, so a first session may run one network per call.

For ResNet-50, DenseNet-121 and GoogLeNet at batch 1 and 64 in bfloat16, it runs
`netspec bench SPEC --backend all --format json` (eager: cuDNN, channels_last, bf16; torch.compile with
mode="max-autotune"; the Triton backend, same weights) and prints every ratio next to its goal:

- batch 1, latency: Triton <= 0.8x eager and <= 1.0x max-autotune (GoogLeNet, DenseNet: <= 0.9x);
- batch 64, throughput: Triton >= 1.2x eager and >= 1.0x max-autotune;

then the 10 slowest kernels of ResNet-50 (batch 64) with their TFLOP/s and GB/s against the
device's peaks (H100/H200: ~989 dense bf16 TFLOP/s; 3.35 / 4.8 TB/s), so that a missed goal can be
explained from the roofline of the kernels that cost the most.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys

NETWORKS = ("resnet50", "densenet121", "googlenet")
BATCHES = (1, 64)
# batch 1: latency ratio triton/other must be at most this; batch 64: throughput ratio at least this
GOALS = {
    1: {"torch": 0.8, "torch-compile": {"resnet50": 1.0, "densenet121": 0.9, "googlenet": 0.9}},
    64: {"torch": 1.2, "torch-compile": 1.0},
}


def bench(spec: str, batch: int, iters: int, kernels: int = 0) -> dict:
    cmd = [sys.executable, "-m", "netspec", "bench", spec, "--backend", "all", "--batch", str(batch),
           "--dtype", "bf16", "--device", "cuda", "--format", "json", "--iters", str(iters)]
    if kernels:
        cmd += ["--kernels", str(kernels)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"netspec bench {spec} --batch {batch} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def check(result: dict) -> list[tuple[str, str, float, str, bool]]:
    """(network, against, ratio, goal, met) for one bench result."""
    ms = {r["backend"]: r["median_ms"] for r in result["results"]}
    batch, name = result["batch"], result["spec"]
    rows = []
    for other in ("torch", "torch-compile"):
        goal = GOALS[batch][other]
        goal = goal[name] if isinstance(goal, dict) else goal
        if batch == 1:  # latency: lower is better
            ratio = ms["triton"] / ms[other]
            rows.append((name, other, ratio, f"<= {goal:.1f}x latency", ratio <= goal))
        else:  # throughput: higher is better
            ratio = ms[other] / ms["triton"]
            rows.append((name, other, ratio, f">= {goal:.1f}x throughput", ratio >= goal))
    return rows


def driver() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        return out.stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 timed runs instead of 50")
    parser.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=NETWORKS)
    parser.add_argument("--batches", nargs="+", type=int, default=list(BATCHES), choices=BATCHES)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("bench_triton.py needs torch")
    if not torch.cuda.is_available():
        sys.exit("bench_triton.py needs a CUDA GPU: on the CPU the Triton backend runs only in the interpreter "
                 "(netspec bench SPEC --backend torch still times the torch variants)")
    iters = 5 if args.quick else 50
    import triton

    print(f"# {torch.cuda.get_device_name()}, driver {driver()}, CUDA {torch.version.cuda}, "
          f"torch {torch.__version__}, triton {triton.__version__}, {datetime.date.today()}")
    sep = " | " if args.markdown else "  "
    header = ["network", "batch", "eager ms", "max-autotune ms", "triton ms", "vs eager", "vs max-autotune", "goals"]
    print(sep.join(header))
    if args.markdown:
        print(sep.join(["---"] * len(header)))
    checks, kernels = [], []
    for name in args.networks:
        for batch in args.batches:
            result = bench(name, batch, iters, kernels=10 if (name, batch) == ("resnet50", 64) else 0)
            ms = {r["backend"]: r["median_ms"] for r in result["results"]}
            rows = check(result)
            checks += rows
            print(sep.join([name, str(batch), f"{ms['torch']:.3f}", f"{ms['torch-compile']:.3f}",
                            f"{ms['triton']:.3f}", f"{rows[0][2]:.2f}x", f"{rows[1][2]:.2f}x",
                            ", ".join(("met " if r[4] else "MISSED ") + r[3] for r in rows)]))
            if result["kernels"]:
                kernels = result["kernels"]
    if kernels:
        print()
        print("ResNet-50, batch 64: the 10 slowest Triton kernels")
        print(sep.join(["kernel", "us", "TFLOP/s", "% peak", "GB/s", "% peak"]))
    for k in kernels:
        print(sep.join([k["kernel"], f"{k['us']:.1f}", f"{k['tflops']:.1f}", f"{k['flops_pct']:.0f}",
                        f"{k['gbps']:.0f}", f"{k['bw_pct']:.0f}"]))
    missed = [c for c in checks if not c[4]]
    print(f"\n{len(checks) - len(missed)} of {len(checks)} goals met")


if __name__ == "__main__":
    main()
