"""A plan as source: one file per kernel template instance, and a `model.py` that launches them.

Each plan kernel becomes a `Launch`: the kernel file it calls (named after its template and its
compile-time switches, so kernels with the same code share one file), its arguments as source
expressions over the arena, its grid, its tile sizes, and its cost (MACs, bytes). `model.py` has one
method per launch, in plan order, with the spec lines it computes in its docstring.

Only numbers, validated identifiers and repr()'d strings reach the generated source.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from netspec import __version__, ir

from .plan import Kernel, Plan, channels
from .render import render

DTYPES = {"float32": 4, "bfloat16": 2, "float16": 2}


def lit(value) -> str:
    """Source for a number, bool or None (the only literals a launch holds)."""
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        return repr(float(value))
    raise TypeError(f"refusing to write a {type(value).__name__} into generated source")


def pow2(x: int, lo: int = 16, hi: int = 128) -> int:
    return max(lo, min(hi, 1 << max(0, math.ceil(math.log2(max(x, 1))))))


@dataclass
class Launch:
    kernel: Kernel
    name: str  # kernel function (and file) name
    source: str  # the rendered kernel file
    method: str  # model.py method name
    args: list[tuple[str, str]]  # keyword, source expression
    grid: list[str]  # source expressions over `n` and the tile dict `t`
    tiles: dict[str, int]  # defaults, from the heuristics
    macs: int  # per sample
    bytes: int  # per sample: activations read and written, plus weights
    weights: dict[str, tuple]  # name -> shape, for standalone random initialisation
    summary: str = ""  # one line: template and epilogue
    covers: list[ir.NodeBase] = field(default_factory=list)


def kernel_name(template: str, switches: dict) -> str:
    parts = [template]
    for key, value in switches.items():
        if value is True:
            parts.append(key)
            continue
        if value is None or value is False or value in ("", "identity", "none") or key == "outputs" and value == 1:
            continue
        if key == "outputs":
            if value > 1:
                parts.append(f"split{value}")
            continue
        parts.append(f"{key}_{value}".replace(".", "p").replace("-", "m"))
    return "__".join(parts) if len(parts) > 1 else template


class _Writer:
    def __init__(self, plan: Plan, dtype: str, tf32: bool, interpret: bool):
        self.plan = plan
        self.dtype = dtype
        self.size = DTYPES[dtype]
        # bfloat16 tiles are widened before tl.dot under the interpreter (see the conv template)
        self.widen = interpret and dtype == "bfloat16"
        self.precision = ("tf32" if tf32 else "ieee") if dtype == "float32" or self.widen else ""

    # -------------------------------------------------------- locations as source

    def ptr(self, value: int) -> str:
        loc = self.plan.location(value)
        slot = self.plan.slots[loc.slot]
        return f"self.at(n, {slot.offset}, {loc.offset})"

    def rs(self, value: int) -> str:
        return lit(self.plan.location(value).row_stride)

    def sample_stride(self, value: int) -> int:
        """Elements between samples of `value`'s slot (a linear layer's rows are samples)."""
        loc = self.plan.location(value)
        root = self.plan.graph.shape(loc.slot)
        pixels = root[1] * root[2] if len(root) == 3 else 1
        return loc.row_stride * pixels

    def outputs(self, k: Kernel) -> list[tuple[str, str]]:
        args = []
        for i, (v, lo, hi) in enumerate(k.outputs):
            args += [(f"y{i}_ptr", self.ptr(v)), (f"y{i}_rs", self.rs(v)), (f"LO{i}", lit(lo)), (f"HI{i}", lit(hi))]
        return args

    def epilogue_switches(self, k: Kernel) -> dict:
        e = k.epilogue
        return {"bias": e.bias, "act": e.act, "alpha": e.alpha, "residual": e.residual is not None,
                "post_act": e.post_act, "post_alpha": e.post_alpha, "outputs": len(k.outputs),
                "round_bf16": self.widen}

    def epilogue_args(self, k: Kernel, w: str) -> list[tuple[str, str]]:
        args = []
        if k.epilogue.bias:
            args.append(("b_ptr", f'self.w["{w}.b"]'))
        if k.epilogue.residual is not None:
            args += [("r_ptr", self.ptr(k.epilogue.residual)), ("r_rs", self.rs(k.epilogue.residual))]
        return args + self.outputs(k)

    # -------------------------------------------------------- one launch per kernel

    def launch(self, k: Kernel) -> Launch:
        w = f"k{k.index:03d}"
        node = k.node
        x = k.inputs[0]
        in_shape = self.plan.graph.shape(x)
        out_shape = self.plan.graph.shape(k.output)
        out_px = out_shape[1] * out_shape[2] if len(out_shape) == 3 else 1
        in_px = in_shape[1] * in_shape[2] if len(in_shape) == 3 else 1
        act_bytes = (math.prod(in_shape) + math.prod(out_shape)) * self.size
        weights: dict[str, tuple] = {}
        macs = 0
        t = k.template
        if t in ("conv", "depthwise", "gemm"):
            switches = self.epilogue_switches(k)
            cout = channels(node.out_shape)
            if k.epilogue.bias:
                weights[f"{w}.b"] = (cout,)
            args = [("x_ptr", self.ptr(x))]
            if t == "gemm":
                if isinstance(node, ir.Linear):
                    kdim, rows, x_rs = node.in_features, "n", lit(self.sample_stride(x))
                else:
                    kdim, rows, x_rs = node.in_channels, f"n * {out_px}", self.rs(x)
                args += [("x_rs", x_rs), ("w_ptr", f'self.w["{w}.w"]')]
                weights[f"{w}.w"] = (kdim, cout)
                switches.update(prologue=None, prologue_alpha=None)
                if k.prologue:
                    acts = [s.node for s in k.prologue[1:]]
                    switches.update(prologue=acts[0].fn if acts else "identity",
                                    prologue_alpha=acts[0].alpha if acts else None)
                    args += [("scale_ptr", f'self.w["{w}.scale"]'), ("shift_ptr", f'self.w["{w}.shift"]')]
                    weights[f"{w}.scale"] = weights[f"{w}.shift"] = (kdim,)
                args += self.epilogue_args(k, w) + [("M", rows), ("K", lit(kdim)), ("N", lit(cout))]
                grid = [f'cdiv({rows}, t["BLOCK_M"])', f'cdiv({cout}, t["BLOCK_N"])']
                macs = kdim * cout * (out_px if not isinstance(node, ir.Linear) else 1)
                tiles = {"BLOCK_M": pow2(out_px, hi=128), "BLOCK_N": pow2(cout), "BLOCK_K": pow2(kdim, hi=64)}
            else:
                kh, kw = node.kernel
                geometry = [("KH", kh), ("KW", kw), ("SH", node.stride[0]), ("SW", node.stride[1]),
                            ("PT", node.padding[0]), ("PL", node.padding[2]),
                            ("DH", node.dilation[0]), ("DW", node.dilation[1])]
                sizes = [("M", f"n * {out_px}"), ("H", lit(in_shape[1])), ("W", lit(in_shape[2])),
                         ("OH", lit(out_shape[1])), ("OW", lit(out_shape[2]))]
                args += [("x_rs", self.rs(x)), ("w_ptr", f'self.w["{w}.w"]')] + self.epilogue_args(k, w) + sizes
                if t == "depthwise":
                    args += [("C", lit(cout))] + [(a, lit(v)) for a, v in geometry]
                    weights[f"{w}.w"] = (kh * kw, cout)
                    grid = [f'cdiv(n * {out_px}, t["BLOCK_M"])', f'cdiv({cout}, t["BLOCK_N"])']
                    macs = kh * kw * cout * out_px
                    tiles = {"BLOCK_M": pow2(out_px, hi=128), "BLOCK_N": pow2(cout, hi=64)}
                else:
                    cin_g, cout_g = node.in_channels // node.groups, cout // node.groups
                    args += [("CIN_G", lit(cin_g)), ("COUT_G", lit(cout_g)), ("C_OUT", lit(cout))]
                    args += [(a, lit(v)) for a, v in geometry]
                    weights[f"{w}.w"] = (kh * kw * cin_g, cout)
                    grid = [f'cdiv(n * {out_px}, t["BLOCK_M"])', f'cdiv({cout_g}, t["BLOCK_N"])', lit(node.groups)]
                    macs = kh * kw * cin_g * cout * out_px
                    tiles = {"BLOCK_M": pow2(out_px, hi=128), "BLOCK_N": pow2(cout_g), "BLOCK_K": pow2(cin_g, hi=64)}
            if t != "depthwise":
                switches.update(precision=self.precision, widen=self.widen)
            weight_bytes = sum(math.prod(s) for s in weights.values()) * self.size
            extra = math.prod(self.plan.graph.shape(k.epilogue.residual)) * self.size \
                if k.epilogue.residual is not None else 0
            return self.finish(k, t, switches, args, grid, tiles, macs, act_bytes + weight_bytes + extra, weights)
        c = channels(in_shape) if t != "channel_pad" else channels(out_shape)
        block_c = pow2(c, hi=128)
        base = [("x_ptr", self.ptr(x)), ("x_rs", self.rs(x))]
        y = [("y_ptr", self.ptr(k.output)), ("y_rs", self.rs(k.output))]
        spatial = [("M", f"n * {out_px}"), ("H", lit(in_shape[1]) if len(in_shape) == 3 else "1"),
                   ("W", lit(in_shape[2]) if len(in_shape) == 3 else "1"),
                   ("OH", lit(out_shape[1]) if len(out_shape) == 3 else "1"),
                   ("OW", lit(out_shape[2]) if len(out_shape) == 3 else "1")]
        tiles = {"BLOCK_M": pow2(out_px, hi=128), "BLOCK_C": block_c}
        grid = [f'cdiv(n * {out_px}, t["BLOCK_M"])', f'cdiv({c}, t["BLOCK_C"])']
        if t == "pool":
            switches = {"mode": node.mode}
            args = base + y + spatial + [("C", lit(c)), ("KH", lit(node.kernel[0])), ("KW", lit(node.kernel[1])),
                                         ("SH", lit(node.stride[0])), ("SW", lit(node.stride[1])),
                                         ("PH", lit(node.padding[0])), ("PW", lit(node.padding[1])),
                                         ("COUNT_INCLUDE_PAD", lit(bool(node.count_include_pad)))]
        elif t == "adaptive_pool":
            switches = {"mode": node.mode}
            (h, wd), (oh, ow) = in_shape[1:], out_shape[1:]
            kh = max(-(-((i + 1) * h) // oh) - (i * h) // oh for i in range(oh))
            kw = max(-(-((j + 1) * wd) // ow) - (j * wd) // ow for j in range(ow))
            args = base + y + spatial + [("C", lit(c)), ("KH", lit(kh)), ("KW", lit(kw))]
        elif t == "lrn":
            switches = {}
            args = base + y + [("M", f"n * {out_px}"), ("C", lit(c)), ("SIZE", lit(node.size)),
                               ("ALPHA", lit(float(node.alpha))), ("BETA", lit(float(node.beta))),
                               ("K", lit(float(node.k)))]
        elif t == "softmax":
            switches = {}
            tiles = {"BLOCK_M": 16, "BLOCK_C": pow2(c, hi=1 << 20)}
            grid = [f'cdiv(n * {out_px}, t["BLOCK_M"])']
            args = base + y + [("M", f"n * {out_px}"), ("C", lit(c))]
        elif t == "channel_pad":
            switches = {}
            args = base + y + [("M", f"n * {out_px}"), ("C_IN", lit(channels(in_shape))), ("C", lit(c)),
                               ("BEFORE", lit(node.before))]
        elif t == "upsample":
            switches = {"mode": node.mode}
            args = base + y + spatial + [("C", lit(c)), ("SCALE", lit(node.scale))]
        else:  # pointwise
            switches, args, weights = self.pointwise(k, w, base, y, in_px, c)
        return self.finish(k, t, switches, args, grid, tiles, 0,
                           act_bytes + sum(math.prod(s) for s in weights.values()) * 4, weights)

    def pointwise(self, k: Kernel, w: str, base, y, pixels: int, c: int):
        step, node = k.step, k.node
        e = k.epilogue
        switches = {"affine": False, "other": "none", "act": "identity", "alpha": None, "per_channel": False,
                    "residual": e.residual is not None, "post_act": e.post_act, "post_alpha": e.post_alpha}
        args = list(base)
        weights: dict[str, tuple] = {}
        if step.op == "layer" and isinstance(node, ir.BatchNorm):
            switches["affine"] = True
            args += [("scale_ptr", f'self.w["{w}.scale"]'), ("shift_ptr", f'self.w["{w}.shift"]')]
            weights[f"{w}.scale"] = weights[f"{w}.shift"] = (c,)
        if step.op in ("add", "mul"):
            other = step.inputs[1]
            other_shape = self.plan.graph.shape(other)
            kind = step.op
            if step.op == "mul" and math.prod(other_shape) == c and pixels > 1:
                kind = "mul_vec"
            switches["other"] = kind
            o_rs = lit(self.sample_stride(other)) if kind == "mul_vec" else self.rs(other)
            args += [("o_ptr", self.ptr(other)), ("o_rs", o_rs)]
        if step.op == "layer" and isinstance(node, ir.Activation):
            switches.update(act=node.fn, alpha=node.alpha)
            if node.fn == "prelu":
                switches["per_channel"] = node.num_parameters > 1
                args.append(("slope_ptr", f'self.w["{w}.slope"]'))
                weights[f"{w}.slope"] = (node.num_parameters,)
        elif e.act != "identity":
            switches.update(act=e.act, alpha=e.alpha)
        if e.residual is not None:
            args += [("r_ptr", self.ptr(e.residual)), ("r_rs", self.rs(e.residual))]
        args += y + [("M", f"n * {pixels}"), ("HW", lit(pixels)), ("C", lit(c))]
        return switches, args, weights

    def finish(self, k, template, switches, args, grid, tiles, macs, nbytes, weights) -> Launch:
        if "round_bf16" not in switches:
            switches["round_bf16"] = self.widen
        name = kernel_name(template, switches)
        source = render(f"{template}.py.j2", name=name, **{("e" if key == "epilogue" else key): v
                                                            for key, v in self.switch_context(switches).items()})
        covers = [s.node for s in k.steps]
        label = covers[0].path.replace(".", "_") if covers[0].path else template
        method = f"k{k.index:03d}_{''.join(ch if ch.isalnum() else '_' for ch in label)}"[:60]
        return Launch(k, name, source, method, args, grid, tiles, macs, nbytes, weights,
                      summary=f"{template}: {k.epilogue.describe()}" if template in ("conv", "gemm", "depthwise")
                      else template, covers=covers)

    @staticmethod
    def switch_context(switches: dict) -> dict:
        """Template variables: the epilogue switches go in as one record `e`."""
        keys = ("bias", "act", "alpha", "residual", "post_act", "post_alpha", "outputs", "round_bf16")
        if all(key in switches for key in keys):
            rest = {key: v for key, v in switches.items() if key not in keys}
            return {"epilogue": {key: switches[key] for key in keys}, **rest}
        return switches


def launches(plan: Plan, dtype: str = "float32", tf32: bool = False, interpret: bool = False) -> list[Launch]:
    """One launch per plan kernel; `interpret`: the code is for Triton's interpreter (the CPU)."""
    writer = _Writer(plan, dtype, tf32, interpret)
    return [writer.launch(k) for k in plan.kernels]


def output_spec(plan: Plan) -> dict:
    loc = plan.location(plan.output)
    return {"offset": plan.slots[loc.slot].offset, "channel": loc.offset, "row_stride": loc.row_stride,
            "shape": tuple(plan.graph.shape(plan.output)), "root": tuple(plan.graph.shape(loc.slot)),
            "flat_from": _flat_source(plan)}


def _flat_source(plan: Plan):
    """The (C, H, W) map a flattened output is a view of (it leaves in NHWC order otherwise)."""
    loc = plan.location(plan.output)
    root = plan.graph.shape(loc.slot)
    out = plan.graph.shape(plan.output)
    return tuple(root) if len(out) == 1 and len(root) == 3 and root[1:] != (1, 1) else None


def generate(plan: Plan, dtype: str = "float32", tf32: bool = False, cuda_graph_batch: int = 8,
             items: list[Launch] | None = None, interpret: bool = False) -> dict[str, str]:
    """{relative path: text}: kernels/<name>.py per kernel template instance, and model.py."""
    items = launches(plan, dtype, tf32, interpret) if items is None else items
    files = {f"kernels/{l.name}.py": l.source for l in items}
    inp = plan.location(plan.input)
    model = render("model.py.j2", network=plan.network.name, source=plan.network.source or "",
                   version=__version__, launches=items, kernel_names=sorted({l.name for l in items}),
                   arena=plan.arena, dtype=dtype, lit=lit, repr=repr,
                   input_offset=plan.slots[inp.slot].offset, input_shape=tuple(plan.graph.shape(plan.input)),
                   output=output_spec(plan), cuda_graph_batch=cuda_graph_batch, where=where)
    files["model.py"] = model
    return files


def where(node: ir.NodeBase) -> str:
    """`path (file:line)` for a comment or the report."""
    span = node.span
    at = f" ({span.file.rsplit('/', 1)[-1]}:{span.line})" if span is not None else ""
    return f"{node.path or '<root>'}{at}"


def digest(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return h.hexdigest()[:16]
