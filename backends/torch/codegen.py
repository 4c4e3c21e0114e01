"""Standalone, readable PyTorch source for a network (`netspec compile --backend torch`).

The module tree comes from the same lowering `build` uses (built on the meta device), so
the generated classes register the same modules under the same names in the same order;
this file only decides how to write them down:

- every scope becomes a class, except a plain run of layers, which is written inline as
  an `nn.Sequential` of named layers; scopes with the same structure share one class,
  and the numbers that differ between them (channels, strides) become constructor
  parameters; a user block's scope is named after the block (`class Bottleneck`);
- forward reads top to bottom, one op per line, the residual sum written out.

Nothing from the spec reaches the source unescaped: module and class names are checked
identifiers (or go through `add_module(repr(name))`), strings are written with repr(),
numbers are checked to be numbers.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from torch import nn

from netspec import ir

from .builder import build_module, last_bn_of_residuals
from .modules import Block, ChannelPad, Merge

NO_DEFAULT = object()
TEMPLATES = Path(__file__).with_name("templates")


@dataclass
class Arg:
    kw: str | None  # None: positional
    value: Any
    default: Any = NO_DEFAULT
    hint: str = ""  # a name for the constructor parameter, should the value vary


@dataclass
class LeafCall:
    cls: str
    args: list[Arg]


@dataclass
class SeqCall:
    items: list[tuple[str, LeafCall]]


@dataclass
class Instance:
    """One scope module: its children (layers, inline sequentials, sub-instances) and op tree."""

    qualname: str
    key: tuple
    attrs: list[tuple[str, Any]]
    op: tuple
    needs_ctx: bool
    hint: str  # class-name stem
    is_block: bool  # a user block: named after it, never inlined
    cls: "ClassDef | None" = None
    values: list = field(default_factory=list)  # its values for the class's parameters


@dataclass
class ClassDef:
    name: str
    instances: list[Instance]
    params: list[str] = field(default_factory=list)
    columns: list[list] = field(default_factory=list)  # per hole: the values across instances
    hole_ref: list[str] = field(default_factory=list)  # per hole: a literal or a parameter name
    init_lines: list[str] = field(default_factory=list)
    forward_lines: list[str] = field(default_factory=list)
    needs_ctx: bool = False


# ---------------------------------------------------------------- safe literals and names


def literal(value: Any) -> str:
    """Python source for a number, bool, short string or tuple of them: repr(), after a type check."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
        return repr(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    raise TypeError(f"refusing to write a {type(value).__name__} into generated source")


def is_identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name) and name.isascii()


def class_name(text: str) -> str:
    """CamelCase identifier from any text: only ASCII letters and digits survive."""
    words = re.findall(r"[A-Za-z0-9]+", text)
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name or name[0].isdigit():
        name = "Block" + name
    return name + "_" if keyword.iskeyword(name) else name


def attr_ref(name: str) -> str:
    """How forward refers to a child module."""
    if "." not in name and is_identifier(name):
        return f"self.{name}"
    return f"self.get_submodule({literal(name)})"


def sq(v):
    """(3, 3) -> 3, as people write kernel sizes."""
    return v[0] if isinstance(v, tuple) and len(v) > 0 and all(x == v[0] for x in v) else v


# ---------------------------------------------------------------- leaf modules -> calls


def leaf_call(m: nn.Module) -> LeafCall:  # noqa: C901 - one case per module type
    if isinstance(m, nn.Conv2d):
        return LeafCall("nn.Conv2d", [
            Arg(None, m.in_channels, hint="in_channels"), Arg(None, m.out_channels, hint="out_channels"),
            Arg("kernel_size", sq(m.kernel_size), hint="kernel_size"), Arg("stride", sq(m.stride), 1, "stride"),
            Arg("padding", sq(m.padding), 0, "padding"), Arg("dilation", sq(m.dilation), 1, "dilation"),
            Arg("groups", m.groups, 1, "groups"), Arg("bias", m.bias is not None, True, "bias")])
    if isinstance(m, nn.Linear):
        return LeafCall("nn.Linear", [Arg(None, m.in_features, hint="in_features"),
                                      Arg(None, m.out_features, hint="out_features"),
                                      Arg("bias", m.bias is not None, True, "bias")])
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return LeafCall(f"nn.{type(m).__name__}", [Arg(None, m.num_features, hint="num_features"),
                                                  Arg("eps", m.eps, 1e-5, "eps"),
                                                  Arg("momentum", m.momentum, 0.1, "momentum")])
    if isinstance(m, nn.MaxPool2d):
        return LeafCall("nn.MaxPool2d", [Arg(None, sq(m.kernel_size), hint="kernel_size"),
                                         Arg(None, sq(m.stride), hint="stride"),
                                         Arg("padding", sq(m.padding), 0, "padding"),
                                         Arg("ceil_mode", m.ceil_mode, False, "ceil_mode")])
    if isinstance(m, nn.AvgPool2d):
        return LeafCall("nn.AvgPool2d", [Arg(None, sq(m.kernel_size), hint="kernel_size"),
                                         Arg(None, sq(m.stride), hint="stride"),
                                         Arg("padding", sq(m.padding), 0, "padding"),
                                         Arg("ceil_mode", m.ceil_mode, False, "ceil_mode"),
                                         Arg("count_include_pad", m.count_include_pad, True, "count_include_pad")])
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return LeafCall(f"nn.{type(m).__name__}", [Arg(None, sq(tuple(m.output_size)), hint="output_size")])
    if isinstance(m, nn.LocalResponseNorm):
        return LeafCall("nn.LocalResponseNorm", [Arg(None, m.size, hint="size"), Arg("alpha", m.alpha, 1e-4),
                                                 Arg("beta", m.beta, 0.75), Arg("k", m.k, 1.0)])
    if isinstance(m, (nn.ReLU, nn.ReLU6)):
        return LeafCall(f"nn.{type(m).__name__}", [Arg("inplace", m.inplace, False)])
    if isinstance(m, nn.LeakyReLU):
        return LeafCall("nn.LeakyReLU", [Arg(None, m.negative_slope, hint="negative_slope"),
                                         Arg("inplace", m.inplace, False)])
    if isinstance(m, nn.PReLU):
        return LeafCall("nn.PReLU", [Arg(None, m.num_parameters, hint="num_parameters"),
                                     Arg("init", m.init, 0.25, "init")])
    if isinstance(m, nn.ELU):
        return LeafCall("nn.ELU", [Arg("alpha", m.alpha, 1.0, "alpha")])
    if isinstance(m, nn.Softmax):
        return LeafCall("nn.Softmax", [Arg("dim", m.dim)])
    if isinstance(m, nn.Dropout):
        return LeafCall("nn.Dropout", [Arg(None, m.p, hint="p")])
    if isinstance(m, nn.Flatten):
        return LeafCall("nn.Flatten", [])
    if isinstance(m, nn.Upsample):
        return LeafCall("nn.Upsample", [Arg("scale_factor", m.scale_factor, hint="scale_factor"),
                                        Arg("mode", m.mode, "nearest")])
    if isinstance(m, ChannelPad):
        return LeafCall("ChannelPad", [Arg(None, m.before, hint="before"), Arg(None, m.after, hint="after")])
    if isinstance(m, Merge):
        return LeafCall("Merge", [Arg(None, m.mode)])
    simple = (nn.SELU, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.GELU, nn.Identity)
    if isinstance(m, simple):
        return LeafCall(f"nn.{type(m).__name__}", [])
    raise TypeError(f"no source form for {type(m).__name__}")


def leaf_key(call: LeafCall) -> tuple:
    return (call.cls, tuple(a.kw for a in call.args))


# ---------------------------------------------------------------- scopes -> instances


def op_uses_ctx(op: tuple, block: Block) -> bool:
    kind = op[0]
    if kind in ("side", "save", "merge"):
        return True
    if kind == "block":
        return op_uses_ctx(block.get_submodule(op[1]).op, block.get_submodule(op[1]))
    return any(op_uses_ctx(o, block) for o in _sub_ops(op))


def _sub_ops(op: tuple) -> list[tuple]:
    kind = op[0]
    if kind == "seq":
        return list(op[1])
    if kind == "residual":
        return [o for o in (op[1], op[2]) if o is not None]
    if kind in ("concat",):
        return list(op[1])
    if kind == "dense":
        return list(op[1])
    if kind in ("gate",):
        return [op[1]]
    if kind == "side":
        return [op[2]]
    return []


def is_inline_sequential(block: Block) -> bool:
    """A scope that only calls its children in order, none needing ctx: an nn.Sequential says it all."""
    op = block.op
    if op[0] != "seq" or not op[1] or list(block._modules) != [o[1] for o in op[1]]:
        return False
    for o in op[1]:
        child = block._modules[o[1]]
        if o[0] == "call" and not isinstance(child, Block):
            continue
        if o[0] == "block" and not op_uses_ctx(child.op, child):
            continue
        return False
    return True


class Describer:
    def __init__(self, network: ir.Network, root: Block):
        self.network = network
        self.root = root
        self.nodes: dict[str, ir.NodeBase] = {}
        for n in ir.walk(network.body):
            self.nodes[root.path_to_module.get(n.path, n.path)] = n

    def describe(self, block: Block, qualname: str) -> Instance:
        node = self.nodes.get(qualname)
        block_name = getattr(node, "block", None) if isinstance(node, ir.Seq) else None
        attrs: list[tuple[str, Any]] = []
        for name, child in block._modules.items():
            cq = f"{qualname}.{name}" if qualname else name
            if isinstance(child, Block):
                cnode = self.nodes.get(cq)
                cblock = getattr(cnode, "block", None) if isinstance(cnode, ir.Seq) else None
                # a dense block's layers differ only in their input width: one class, not n Sequentials
                if cblock is None and not isinstance(node, ir.Dense) and is_inline_sequential(child):
                    attrs.append((name, SeqCall([(n, self.describe(m, f"{cq}.{n}") if isinstance(m, Block)
                                                  else leaf_call(m)) for n, m in child._modules.items()])))
                else:
                    attrs.append((name, self.describe(child, cq)))
            else:
                attrs.append((name, leaf_call(child)))
        if _has_pass_nodes(block.op):
            raise ValueError("source generation takes the network before inference passes")
        key_attrs = []
        for name, a in attrs:
            if isinstance(a, LeafCall):
                key_attrs.append((name, "leaf", leaf_key(a)))
            elif isinstance(a, SeqCall):
                key_attrs.append((name, "seq", tuple((n, leaf_key(c) if isinstance(c, LeafCall) else c.key)
                                                     for n, c in a.items)))
            else:
                key_attrs.append((name, "inst", a.key))
        needs_ctx = op_uses_ctx(block.op, block)
        if block_name:
            hint = class_name(block_name)
        elif node is not None:
            hint = class_name(re.sub(r"\d+$", "", node.name) or node.kind)
        else:
            hint = "Scope"
        key = (block_name, hint if not block_name else "", block.op, tuple(key_attrs), needs_ctx)
        return Instance(qualname, key, attrs, block.op, needs_ctx, hint, block_name is not None)


def _has_pass_nodes(op: tuple) -> bool:
    return op[0] == "fused_concat" or (op[0] == "dense" and op[2]) or any(_has_pass_nodes(o) for o in _sub_ops(op))


# ---------------------------------------------------------------- instances -> classes


def holes(inst: Instance) -> list[tuple[Any, str, str]]:
    """(value, parameter-name hint, where) for every number in the instance's constructor calls."""
    out = []

    def add(call, where):
        if isinstance(call, LeafCall):
            out.extend((arg.value, arg.hint or arg.kw or "value", where) for arg in call.args)
        else:
            out.extend((v, p, where) for v, p in zip(call.values, call.cls.params))

    for name, a in inst.attrs:
        if isinstance(a, SeqCall):
            for item, call in a.items:
                add(call, f"{name}_{item}")
        else:
            add(a, name)
    return out


SHORT = {"out_channels": "out", "out_features": "out", "num_features": "features", "in_channels": "in"}


def assign_params(cls: ClassDef) -> None:
    per_instance = [holes(i) for i in cls.instances]
    first = per_instance[0]
    cls.columns = [[h[k][0] for h in per_instance] for k in range(len(first))]
    by_values: dict[str, str] = {}
    taken: set[str] = set()
    for k, column in enumerate(cls.columns):
        if all(_same(v, column[0]) for v in column):
            cls.hole_ref.append("")  # a literal
            continue
        sig = repr(column)
        if sig not in by_values:
            _, hint, where = first[k]
            name = hint if is_identifier(hint) else "value"
            if name in taken:  # `branch2_conv1_out`: the out-channels of branch2's conv1
                name = f"{where}_{SHORT.get(hint, hint)}"
                name = name if is_identifier(name) else "value"
            base, n = name, 2
            while name in taken or name in ("self", "generator", "zero_init_residual"):
                name, n = f"{base}{n}", n + 1
            taken.add(name)
            by_values[sig] = name
            cls.params.append(name)
        cls.hole_ref.append(by_values[sig])
    index = {p: next(k for k, r in enumerate(cls.hole_ref) if r == p) for p in cls.params}
    for i, inst in enumerate(cls.instances):
        inst.values = [cls.columns[index[p]][i] for p in cls.params]


def _same(a, b) -> bool:
    return type(a) is type(b) and a == b


class Writer:
    def __init__(self, network: ir.Network, root: Block, top_name: str):
        self.network = network
        self.root_block = root
        self.top_name = top_name
        self.classes: dict[tuple, ClassDef] = {}
        self.order: list[ClassDef] = []
        self.names: set[str] = {top_name, "ChannelPad", "Merge", "OrderedDict", "namedtuple"}
        self.helpers: set[str] = set()

    def collect(self, inst: Instance, parent: str | None) -> None:
        cls = self.classes.get(inst.key)
        name = cls.name if cls is not None else self.name_for(inst, parent)
        for _, a in inst.attrs:
            if isinstance(a, Instance):
                self.collect(a, name)
            if isinstance(a, SeqCall):
                for _, c in a.items:
                    if isinstance(c, Instance):
                        self.collect(c, name)
            calls = [a] if isinstance(a, LeafCall) else [c for _, c in a.items] if isinstance(a, SeqCall) else []
            self.helpers.update(c.cls for c in calls if isinstance(c, LeafCall) and c.cls in ("ChannelPad", "Merge"))
        if cls is None:
            cls = ClassDef(name, [])
            self.classes[inst.key] = cls
            self.order.append(cls)  # children first: a class is defined before it is used
        cls.instances.append(inst)
        inst.cls = cls

    def name_for(self, inst: Instance, parent: str | None) -> str:
        if parent is None:
            return self.top_name
        base = inst.hint if inst.is_block else f"{parent}{inst.hint}"
        name, n = base, 2
        while name in self.names:
            name, n = f"{base}{n}", n + 1
        self.names.add(name)
        return name

    # -- constructor source

    def call_source(self, call: LeafCall, refs: list[str], values: list) -> str:
        parts = []
        for arg, ref, value in zip(call.args, refs, values):
            if not ref and arg.default is not NO_DEFAULT and _same(value, arg.default):
                continue
            text = ref or literal(value)
            parts.append(text if arg.kw is None else f"{arg.kw}={text}")
        return f"{call.cls}({', '.join(parts)})"

    def write_init(self, cls: ClassDef) -> None:
        k = 0

        def source(call) -> str:
            nonlocal k
            if isinstance(call, LeafCall):
                n = len(call.args)
                text = self.call_source(call, cls.hole_ref[k:k + n], [c[0] for c in cls.columns[k:k + n]])
            else:
                n = len(call.cls.params)
                args = [cls.hole_ref[k + j] or literal(cls.columns[k + j][0]) for j in range(n)]
                text = f"{call.cls.name}({', '.join(args)})"
            k += n
            return text

        lines = []
        for name, a in cls.instances[0].attrs:
            if isinstance(a, SeqCall):
                items = [f"    ({literal(item)}, {source(call)})," for item, call in a.items]
                expr = "nn.Sequential(OrderedDict([\n" + "\n".join(items) + "\n]))"
            else:
                expr = source(a)
            if is_identifier(name) and not name.startswith("_"):
                lines.append(f"self.{name} = {expr}")
            else:
                lines.append(f"self.add_module({literal(name)}, {expr})")
        cls.init_lines = lines

    # -- forward source

    def write_forward(self, cls: ClassDef, top: bool) -> None:
        inst = cls.instances[0]
        self.fresh: dict[str, int] = {}
        lines: list[str] = []
        self.block = self.find_block(inst.qualname)
        self.emit(inst.op, "x", "x", lines, 0)
        cls.forward_lines = lines
        cls.needs_ctx = inst.needs_ctx

    def find_block(self, qualname: str) -> Block:
        return self.root_block if not qualname else self.root_block.get_submodule(qualname)

    def var(self, base: str) -> str:
        n = self.fresh.get(base, 0) + 1
        self.fresh[base] = n
        return base if n == 1 else f"{base}{n}"

    def emit(self, op: tuple, src: str, dst: str, lines: list[str], depth: int) -> None:  # noqa: C901
        pad = "    " * depth
        kind = op[0]
        if kind == "seq":
            if not op[1]:
                if src != dst:
                    lines.append(f"{pad}{dst} = {src}")
                return
            for i, child in enumerate(op[1]):
                self.emit(child, src if i == 0 else dst, dst, lines, depth)
        elif kind == "call":
            lines.append(f"{pad}{dst} = {attr_ref(op[1])}({src})")
        elif kind == "block":
            child = self.block.get_submodule(op[1])
            ctx = ", ctx" if op_uses_ctx(child.op, child) else ""
            lines.append(f"{pad}{dst} = {attr_ref(op[1])}({src}{ctx})")
        elif kind == "pad":
            lines.append(f"{pad}{dst} = F.pad({src}, {literal(tuple(op[1]))})  # 'same' padding, even kernel")
        elif kind == "residual":
            _, body, shortcut, inplace = op
            if shortcut is None:
                identity = src
                if src == dst:
                    identity = self.var("identity")
                    lines.append(f"{pad}{identity} = {src}")
            else:
                identity = self.var("identity")
                self.emit(shortcut, src, identity, lines, depth)
            self.emit(body, src, dst, lines, depth)
            lines.append(f"{pad}{dst} += {identity}" if inplace else f"{pad}{dst} = {dst} + {identity}")
        elif kind == "concat":
            names = []
            for branch in op[1]:
                b = self.var("branch")
                self.emit(branch, src, b, lines, depth)
                names.append(b)
            lines.append(f"{pad}{dst} = torch.cat([{', '.join(names)}], 1)")
        elif kind == "dense" and all(o[0] in ("block", "call") and "." not in o[1] for o in op[1]) \
                and not any(op_uses_ctx(o, self.block) for o in op[1]):
            features = self.var("features")
            layers = ", ".join(attr_ref(o[1]) for o in op[1])
            lines.append(f"{pad}{features} = [{src}]")
            lines.append(f"{pad}for layer in ({layers}{',' if len(op[1]) == 1 else ''}):")
            lines.append(f"{pad}    {features}.append(layer(torch.cat({features}, 1)))")
            lines.append(f"{pad}{dst} = torch.cat({features}, 1)")
        elif kind == "dense":
            features = self.var("features")
            lines.append(f"{pad}{features} = [{src}]")
            for layer in op[1]:
                h = self.var("new")
                lines.append(f"{pad}{h} = torch.cat({features}, 1)")
                self.emit(layer, h, h, lines, depth)
                lines.append(f"{pad}{features}.append({h})")
            lines.append(f"{pad}{dst} = torch.cat({features}, 1)")
        elif kind == "gate":
            _, body, vector = op
            s = self.var("scale")
            self.emit(body, src, s, lines, depth)
            lines.append(f"{pad}{dst} = {src} * {s}[:, :, None, None]" if vector else f"{pad}{dst} = {src} * {s}")
        elif kind == "side":
            _, output, body = op
            aux = self.var("side")
            lines.append(f"{pad}if self.training:  # side output {literal(output)}")
            self.emit(body, src, aux, lines, depth + 1)
            lines.append(f"{pad}    ctx[{literal(output)}] = {aux}")
            if src != dst:
                lines.append(f"{pad}{dst} = {src}")
        elif kind == "save":
            lines.append(f"{pad}ctx[{literal('@' + op[1])}] = {src}")
            if src != dst:
                lines.append(f"{pad}{dst} = {src}")
        elif kind == "merge":
            refs = ", ".join(f"ctx[{literal('@' + r)}]" for r in op[2])
            lines.append(f"{pad}{dst} = {attr_ref(op[1])}({src}, {refs})")
        else:
            raise ValueError(f"no source form for op {kind!r}")


def top_class_name(network: ir.Network) -> str:
    return class_name(network.name) or "Network"


def generate(network: ir.Network, class_name_override: str | None = None) -> str:
    if any(isinstance(n, (ir.FusedConcat, ir.BufferedDense)) for n in ir.walk(network.body)):
        raise ValueError("source generation takes the network before inference passes")
    root = build_module(network)
    top = class_name_override or top_class_name(network)
    if not is_identifier(top):
        raise ValueError(f"{top!r} is not a Python identifier")
    inst = Describer(network, root).describe(root, "")
    writer = Writer(network, root, top)
    writer.collect(inst, None)
    for cls in writer.order:
        assign_params(cls)
        writer.write_init(cls)
        writer.write_forward(cls, cls.name == top)
    sides = list(network.side_outputs)
    outputs_fields = ["main", *sides]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["literal"] = literal
    text = env.get_template("module.py.j2").render(
        network_name=literal(network.name),
        top=top,
        classes=[c for c in writer.order if c.name != top],
        top_class=writer.order[-1],
        helpers=sorted(writer.helpers),
        meta=literal_dict(network.meta),
        spec_hash=literal(network.spec_hash),
        input_shape=literal(tuple(network.input_shape)),
        sides=[literal(s) for s in sides],
        outputs_fields=literal(tuple(outputs_fields)),
        outputs_name=f"{top}Outputs",
        residual_bns=literal(tuple(root.path_to_module.get(p, p) for p in last_bn_of_residuals(network))),
    )
    compile(text, "<generated>", "exec")  # a generator bug must never write a broken file
    return text


def literal_dict(d: dict) -> str:
    return "{" + ", ".join(f"{literal(str(k))}: {literal(str(v))}" for k, v in d.items()) + "}"
