"""`netspec compile --backend triton --report`: which spec lines became which kernel, and at what cost."""

from __future__ import annotations

from .codegen import Launch, where
from .plan import Plan


def _count(x: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if x >= size:
            return f"{x / size:.2f}{unit}"
    return f"{x:.0f}"


def render_report(plan: Plan, launches: list[Launch], batch: int = 1) -> str:
    lines = [f"{plan.network.name}: {len(launches)} kernels, {len({l.name for l in launches})} kernel files; "
             f"arena {_count(plan.arena * batch)} elements at batch {batch} "
             f"({len(plan.slots)} slots, reused after their last reader)", ""]
    total_macs = total_bytes = 0
    for l in launches:
        k = l.kernel
        macs, nbytes = l.macs * batch, l.bytes * batch
        total_macs += macs
        total_bytes += nbytes
        tiles = " ".join(f"{key.removeprefix('BLOCK_')}={v}" for key, v in l.tiles.items())
        lines.append(f"[{k.index:3d}] {l.method}  ({l.name})")
        lines.append(f"      covers    {'; '.join(where(n) for n in l.covers)}")
        if l.kernel.template in ("conv", "gemm", "depthwise"):
            epilogue = k.epilogue.describe()
            if k.prologue:
                epilogue = f"prologue {' + '.join(s.node.kind for s in k.prologue)}; epilogue {epilogue}"
            if len(k.outputs) > 1:
                epilogue += f"; split into {len(k.outputs)} slices"
            lines.append(f"      fused     {epilogue}")
        elif k.epilogue.steps:
            lines.append(f"      fused     {', '.join(s.node.kind if s.op == 'layer' else s.op for s in k.epilogue.steps)}")
        for value, lo, hi in k.outputs:
            loc = plan.location(value)
            if loc.row_stride != hi - lo or loc.offset:
                what = f"channels {lo}..{hi - 1} " if len(k.outputs) > 1 else ""
                lines.append(f"      writes    {what}into channels {loc.offset}..{loc.offset + hi - lo - 1} of a "
                             f"{loc.row_stride}-channel buffer (a concat or dense-block slice)")
        lines.append(f"      tiles     {tiles}")
        lines.append(f"      cost      {_count(macs)} MACs, {_count(nbytes)}B moved")
        for stop in k.stops:
            lines.append(f"      stopped   {stop}")
    lines += ["", f"total: {_count(total_macs)} MACs, {_count(total_bytes)}B moved at batch {batch}"]
    lines += [f"note: {n}" for n in plan.notes]
    return "\n".join(lines) + "\n"
