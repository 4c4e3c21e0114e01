"""`netspec bench`: latency and throughput of one spec on several backends, side by side.

Every variant runs the same weights (the torch backend's, from --seed): `torch` is the eager module
(channels_last, the chosen dtype: cuDNN on a GPU), `torch-compile` the same module through
torch.compile (mode max-autotune on a GPU; the default mode on the CPU, where max-autotune only adds
compile time), `triton` the Triton backend. Timing: warm-up runs, then --iters runs, each timed with
CUDA events on a GPU and perf_counter on the CPU; the table shows the median. The Triton column needs
a GPU: on the CPU its kernels only run in Triton's interpreter, which checks correctness, not speed.
"""

from __future__ import annotations

import json
import statistics
import sys

from .common import add_spec_options

VARIANTS = ("torch", "torch-compile", "triton")
DTYPES = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16",
          "fp16": "float16", "float16": "float16"}


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="time a spec on the torch, torch-compile and triton backends side by side",
                       description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("spec", metavar="SPEC", help="a .net file or the name of a zoo spec")
    p.add_argument("--backend", choices=(*VARIANTS, "all"), default="all", help="what to time (default: all)")
    p.add_argument("--batch", type=int, default=1, metavar="N", help="batch size (default: 1)")
    p.add_argument("--dtype", choices=tuple(DTYPES), default="fp32", help="storage precision (default: fp32)")
    p.add_argument("--device", help="cuda or cpu (default: cuda when available)")
    p.add_argument("--iters", type=int, default=20, metavar="N", help="timed runs; the median is shown (default: 20)")
    p.add_argument("--warmup", type=int, default=5, metavar="N", help="untimed runs first (default: 5)")
    p.add_argument("--kernels", type=int, default=0, metavar="K",
                   help="triton on a GPU: also time every kernel alone and list the K slowest with their "
                        "TFLOP/s and GB/s against the device's peaks")
    p.add_argument("--compile-mode", default=None, metavar="MODE",
                   help="torch-compile's mode (default: max-autotune on a GPU, torch's default on the CPU)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--seed", type=int, default=0, help="weights of every variant (default: 0)")
    add_spec_options(p)
    p.set_defaults(run=run)


def _timer(device):
    import time

    import torch

    if device.type == "cuda":
        def timed(fn):
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            torch.cuda.synchronize()
            return start.elapsed_time(stop)
        return timed

    def timed(fn):
        t = time.perf_counter()
        fn()
        return (time.perf_counter() - t) * 1e3
    return timed


def measure(fn, device, warmup: int, iters: int) -> float:
    """Median milliseconds of `fn()` over `iters` runs after `warmup`."""
    import torch

    with torch.no_grad():
        for _ in range(warmup):
            fn()
        timed = _timer(device)
        return statistics.median(timed(fn) for _ in range(iters))


def run(args) -> int:
    import torch

    import netspec
    from ..diagnostics import EXIT_RUNTIME, EXIT_USAGE

    if args.batch < 1 or args.iters < 1 or args.warmup < 0:
        print("error: --batch and --iters must be at least 1, --warmup at least 0", file=sys.stderr)
        return EXIT_USAGE
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda, but torch sees no GPU", file=sys.stderr)
        return EXIT_RUNTIME
    dtype = DTYPES[args.dtype]
    network = netspec.load(args.spec, params=dict(args.params), input=args.input)
    wanted = VARIANTS if args.backend == "all" else (args.backend,)
    base = netspec.build(network, seed=args.seed).eval()
    x = torch.randn(args.batch, *network.input_shape, device=device, dtype=getattr(torch, dtype))
    rows, kernels = [], []
    for variant in wanted:
        row = {"backend": variant, "median_ms": None, "images_per_s": None, "note": ""}
        if variant == "triton" and device.type != "cuda":
            row["note"] = "needs a GPU (on the CPU Triton's interpreter checks correctness, not speed)"
            rows.append(row)
            continue
        if variant == "triton":
            model = netspec.build(network, backend="triton", weights=base.state_dict(), dtype=dtype, device=device)
            inp = x
        else:
            model = _torch_variant(base, variant, device, dtype, args.compile_mode)
            inp = x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x
        ms = measure(lambda: model(inp), device, args.warmup, args.iters)
        row.update(median_ms=ms, images_per_s=args.batch / ms * 1e3)
        if variant == "torch-compile":
            row["note"] = f"mode={compile_mode(device, args.compile_mode) or 'default'}"
        if variant == "triton" and args.kernels:
            from ..backends.triton.profile import slowest_kernels

            kernels = slowest_kernels(model, args.batch, args.kernels)
        rows.append(row)
    eager = next((r["median_ms"] for r in rows if r["backend"] == "torch" and r["median_ms"]), None)
    for r in rows:
        r["vs_torch"] = eager / r["median_ms"] if eager and r["median_ms"] else None
    result = {"spec": network.name, "batch": args.batch, "dtype": dtype, "device": _device_name(device),
              "torch": torch.__version__, "results": rows, "kernels": kernels}
    if args.format == "json":
        print(json.dumps(result, indent=2))
    else:
        print(render_table(result))
    return 0


def compile_mode(device, asked: str | None) -> str | None:
    return asked if asked is not None else ("max-autotune" if device.type == "cuda" else None)


def _torch_variant(base, variant: str, device, dtype: str, mode: str | None):
    import copy

    import torch

    model = copy.deepcopy(base).to(device=device, dtype=getattr(torch, dtype))
    model = model.to(memory_format=torch.channels_last)
    if variant == "torch-compile":
        model = torch.compile(model, mode=compile_mode(device, mode))
    return model


def _device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"


def render_table(result: dict) -> str:
    lines = [f"{result['spec']}  batch {result['batch']}  {result['dtype']}  on {result['device']}", ""]
    lines.append(f"{'backend':<15}{'median ms':>12}{'images/s':>12}{'vs torch':>10}  note")
    for r in result["results"]:
        ms = f"{r['median_ms']:.3f}" if r["median_ms"] else "-"
        ips = f"{r['images_per_s']:.1f}" if r["images_per_s"] else "-"
        ratio = f"{r['vs_torch']:.2f}x" if r["vs_torch"] else "-"
        lines.append(f"{r['backend']:<15}{ms:>12}{ips:>12}{ratio:>10}  {r['note']}")
    if result["kernels"]:
        lines += ["", f"{'kernel':<48}{'us':>9}{'TFLOP/s':>9}{'%peak':>7}{'GB/s':>8}{'%peak':>7}"]
        for k in result["kernels"]:
            lines.append(f"{k['kernel'][:47]:<48}{k['us']:>9.1f}{k['tflops']:>9.1f}{k['flops_pct']:>6.0f}%"
                         f"{k['gbps']:>8.0f}{k['bw_pct']:>6.0f}%")
    return "\n".join(lines)
