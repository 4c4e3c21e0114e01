"""Per-kernel timing on a GPU: each launch of the generated model alone, against the device's peaks.

The roofline of a kernel is min(peak FLOP/s, peak bytes/s x arithmetic intensity); its achieved
TFLOP/s and GB/s (MACs x 2 and bytes moved from the plan, over the measured time) show how far each
layer is from the limit that binds it.
"""

from __future__ import annotations

# Dense (no sparsity) tensor-core peaks per dtype in TFLOP/s, and memory bandwidth in TB/s, from the
# vendors' data sheets (SXM parts).
PEAKS = {
    "H200": {"bfloat16": 989.0, "float16": 989.0, "float32": 67.0, "tb_s": 4.8},
    "H100": {"bfloat16": 989.0, "float16": 989.0, "float32": 67.0, "tb_s": 3.35},
    "A100": {"bfloat16": 312.0, "float16": 312.0, "float32": 19.5, "tb_s": 2.04},
}


def peaks_for(device_name: str) -> dict | None:
    return next((p for key, p in PEAKS.items() if key in device_name), None)


def slowest_kernels(module, batch: int, count: int) -> list[dict]:
    """The `count` slowest launches of a built TritonModule at this batch, each timed alone."""
    import torch
    from triton.testing import do_bench

    program = module.program
    dtype = str(module.dtype).replace("torch.", "")
    peaks = peaks_for(torch.cuda.get_device_name(program.device)) or {}
    rows = []
    for launch in module.launches:
        method = getattr(program, launch.method)
        tiles = program.tiles[launch.method]
        ms = do_bench(lambda: method(batch, tiles), warmup=10, rep=50)
        flops = 2 * launch.macs * batch
        nbytes = launch.bytes * batch
        tflops = flops / ms / 1e9
        gbps = nbytes / ms / 1e6
        rows.append({"kernel": launch.method, "us": ms * 1e3, "tflops": tflops, "gbps": gbps,
                     "flops_pct": 100 * tflops / peaks[dtype] if dtype in peaks else 0.0,
                     "bw_pct": 100 * gbps / (peaks["tb_s"] * 1e3) if "tb_s" in peaks else 0.0,
                     "macs": launch.macs * batch, "bytes": nbytes})
    rows.sort(key=lambda r: -r["us"])
    return rows[:count]
