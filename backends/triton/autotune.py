"""Tile sizes per launch, picked on the GPU by timing a few candidates, remembered on disk.

Key: (kernel file, launch arguments' sizes, batch, dtype, device name), so the second build of the
same network on the same GPU reads its choices back instead of timing again. The candidates are a
small set in the spirit of Triton's matmul tutorial and Inductor's mm configs: block sizes that keep
a tile in shared memory at 3-4 pipeline stages, and the heuristic choice is always among them.
Under the interpreter nothing is tuned: the heuristics in codegen.py decide.
"""

from __future__ import annotations

import json
from pathlib import Path

from .cache import cache_dir
from .codegen import Launch

GEMM_CANDIDATES = [
    {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "num_warps": 8, "num_stages": 3},
    {"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 64, "num_warps": 4, "num_stages": 4},
    {"BLOCK_M": 64, "BLOCK_N": 128, "BLOCK_K": 64, "num_warps": 4, "num_stages": 4},
    {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 64, "num_warps": 4, "num_stages": 3},
    {"BLOCK_M": 64, "BLOCK_N": 32, "BLOCK_K": 32, "num_warps": 2, "num_stages": 4},
    {"BLOCK_M": 32, "BLOCK_N": 64, "BLOCK_K": 64, "num_warps": 4, "num_stages": 3},
    {"BLOCK_M": 16, "BLOCK_N": 128, "BLOCK_K": 128, "num_warps": 4, "num_stages": 3},
]
ELEMENTWISE_CANDIDATES = [
    {"BLOCK_M": 64, "BLOCK_C": 64, "num_warps": 4},
    {"BLOCK_M": 32, "BLOCK_C": 128, "num_warps": 4},
    {"BLOCK_M": 128, "BLOCK_C": 32, "num_warps": 4},
    {"BLOCK_M": 16, "BLOCK_C": 64, "num_warps": 2},
]


def cache_file() -> Path:
    return cache_dir() / "triton-autotune.json"


def candidates(launch: Launch) -> list[dict]:
    if launch.kernel.template == "softmax":
        return [launch.tiles]
    if launch.kernel.template in ("conv", "gemm"):
        return GEMM_CANDIDATES + [launch.tiles]
    if launch.kernel.template == "depthwise":
        return [{"BLOCK_M": c["BLOCK_M"], "BLOCK_N": c["BLOCK_C"], "num_warps": c["num_warps"]}
                for c in ELEMENTWISE_CANDIDATES] + [launch.tiles]
    return ELEMENTWISE_CANDIDATES + [launch.tiles]


def tune(program, launches: list[Launch], batch: int, dtype: str) -> None:
    """Set program.tiles for this batch from the cache, timing the launches it does not know."""
    import torch
    from triton.testing import do_bench

    path = cache_file()
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    device = torch.cuda.get_device_name(program.device)
    if program.arena is None or program.arena.numel() < batch:
        program(torch.zeros(batch, *program_input_shape(program), device=program.device))  # allocates the arena
    changed = False
    for launch in launches:
        key = "|".join([launch.name, repr(launch.args), str(batch), dtype, device])
        if key not in cache:
            method = getattr(program, launch.method)
            timings = []
            for tiles in candidates(launch):
                try:
                    timings.append((do_bench(lambda: method(batch, tiles), warmup=5, rep=20), tiles))
                except Exception:  # a candidate that does not fit (shared memory, registers) is skipped
                    continue
            cache[key] = min(timings, key=lambda t: t[0])[1]
            changed = True
        program.tiles[launch.method] = cache[key]
    if changed:
        from netspec.files import write_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(cache, indent=1, sort_keys=True))
    program.graphs.clear()  # captured graphs used the old tiles


def program_input_shape(program) -> tuple:
    module = __import__(type(program).__module__, fromlist=["INPUT"])
    return tuple(module.INPUT[1])


__all__ = ["cache_file", "candidates", "tune"]
