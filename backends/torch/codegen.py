"""Standalone, readable PyTorch source for a network (`netspec compile --backend torch`).

Written the way torchvision's models read, from the same layout `build` makes (module tree,
lowering table, graph), so the generated classes register the same modules under the same
names in the same order, with the same constructor calls:

- one class per `block` definition, its parameters as constructor arguments (plus
  `in_channels`); a number inside the block that varies between calls is written as an
  expression of them that fits every call (`4 * c`, `c * width // 64`), else it becomes one
  more constructor argument; calls that differ only in having a projection shortcut share the
  class (`... if in_channels != 4 * c else None`); calls whose structure differs get numbered
  variants;
- the network's parameters (`num_classes`) are arguments of the top-level class, where
  re-elaborating the spec with another value shows which numbers follow them;
- a `[...]xN` repeat and a dense block's layers are built in a loop; a scope that only calls
  its children in order is an nn.Sequential (a block class then subclasses it);
- forward reads top to bottom from the graph, one op per line, the residual sum written out.

The expressions themselves are found in expressions.py. Nothing from the spec reaches the source unescaped: module and class names are checked
identifiers (or go through `add_module(repr(name))`), strings are written with repr(),
numbers are checked to be numbers.
"""

from __future__ import annotations

import itertools
import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from torch import nn

from netspec import ir

from .builder import Layout, last_bn_of_residuals, layout
from .expressions import same, fit, fit_condition, literal
from .lowering import NO_DEFAULT, ModuleCall, is_leaf, module_call
from .modules import Block
from .program import CALL, LAYER

TEMPLATES = Path(__file__).with_name("templates")
HELPERS = ("ChannelPad", "Merge", "LayerNorm2d", "LayerScale", "DropPath", "ChannelSlice", "Crop", "Scale")  # modules.py classes the generated file defines for itself


# ---------------------------------------------------------------- safe literals and names


def is_identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name) and name.isascii()


def plain_attribute(name: str) -> bool:
    """Can `self.<name>` be written? Not for dotted names, keywords, or `__x` (Python mangles it)."""
    return is_identifier(name) and not name.startswith("__")


def class_name(text: str) -> str:
    """CamelCase identifier from any text: only ASCII letters and digits survive."""
    words = re.findall(r"[A-Za-z0-9]+", text)
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name or name[0].isdigit():
        name = "Block" + name
    return name + "_" if keyword.iskeyword(name) else name


def top_class_name(network: ir.Network) -> str:
    return class_name(network.name) or "Network"


def ref(owner: str, name: str) -> str:
    """How source reaches the module `name` (possibly dotted) under the expression `owner`."""
    parts = name.split(".")
    if all(plain_attribute(p) for p in parts):
        return f"{owner}.{name}"
    return f"{owner}.get_submodule({literal(name)})"


# ---------------------------------------------------------------- what a class instance holds


@dataclass
class Leaf:
    name: str
    call: ModuleCall


@dataclass
class Chain:
    """A scope that only runs its layers in order: an nn.Sequential of named layers."""

    name: str
    items: list[Leaf]


@dataclass
class Holder:
    """A scope that does more than run its layers in order: a plain container, its ops in the owner's forward."""

    name: str
    items: list
    node: ir.NodeBase | None


@dataclass
class Child:
    """An instance of a block class."""

    name: str
    inst: "Instance"


@dataclass
class Loop:
    """`count` copies of `body` (one iteration), named `base` + (offset + i); values linear in i."""

    count: int
    names: list[tuple[str, int]]  # per body item: (base, offset)
    iterations: list[list]  # the items of every iteration


@dataclass
class Instance:
    node: ir.Seq  # the block call (or the network body)
    qualified: str
    items: list
    env: dict[str, Any]  # the values expressions may use: in_channels and the block's arguments
    sequential: bool  # its forward only calls its children in order
    cls: "ClassDef | None" = None


@dataclass
class ClassDef:
    name: str
    block: str | None
    instances: list[Instance] = field(default_factory=list)
    params: list[str] = field(default_factory=list)  # constructor arguments
    exprs: dict[str, str] = field(default_factory=dict)  # hole id -> source
    extra: dict[str, str] = field(default_factory=dict)  # hole id -> the extra constructor argument it became
    optional: dict[str, str] = field(default_factory=dict)  # residual scope -> condition for its shortcut
    shortcut_shapes: dict[str, tuple] = field(default_factory=dict)  # residual scope -> its shortcut's structure
    init_lines: list[str] = field(default_factory=list)
    forward_lines: list[str] = field(default_factory=list)
    needs_ctx: bool = False
    base: str = "nn.Module"
    finished: bool = False

    def call_values(self, inst: Instance) -> list[tuple[str, Any]]:
        """The values `inst` passes for the constructor arguments (its env before the class is finished)."""
        if not self.finished:
            return list(inst.env.items())
        found = dict(holes(inst.items))
        values = []
        for p in self.params:
            if p in inst.env:
                values.append((p, inst.env[p]))
            elif p in self.optional.values():  # a shortcut no expression decides: a flag
                path = next(k for k, v in self.optional.items() if v == p)
                values.append((p, has_shortcut(inst.items, path)))
            else:
                # a number of an optional shortcut this call lacks, or of a loop it runs once: never read
                values.append((p, found.get(next(h for h, e in self.extra.items() if e == p))))
        return values


# ---------------------------------------------------------------- reading the layout


class Reader:
    def __init__(self, network: ir.Network, lay: Layout):
        self.network = network
        self.lay = lay
        self.graph = lay.graph
        self.nodes: dict[str, ir.NodeBase] = {}  # qualified module name -> IR node
        for node in ir.walk(network.body):
            self.nodes[lay.root.path_to_module.get(node.path, node.path)] = node
        self.scope_blocks = {qualified: block for block, _, qualified in lay.blocks}

    def is_class_scope(self, node: ir.NodeBase | None) -> bool:
        return isinstance(node, ir.Seq) and node.block is not None

    def instance(self, node: ir.Seq, qualified: str, block: nn.Module) -> Instance:
        env = {"in_channels": node.in_shape[0]} if node.in_shape else {}
        env.update({k: v for k, v in node.block_args.items() if is_identifier(k) and k not in ("self", "ctx")})
        items = self.items(block, qualified, node)
        return Instance(node, qualified, items, env, self.sequential(block, qualified) and not _has_holders(items))

    def items(self, block: nn.Module, qualified: str, node: ir.NodeBase | None) -> list:
        out = []
        for name, module in block._modules.items():
            q = f"{qualified}.{name}" if qualified else name
            sub = self.nodes.get(q)
            if not isinstance(module, Block):
                call = module_call(sub)
                out.append(Leaf(name, call.in_place() if sub.path in self.lay.in_place else call))
            elif self.is_class_scope(sub):
                out.append(Child(name, self.instance(sub, q, module)))
            elif sub is not None and self.sequential(module, q) and all(not isinstance(m, Block)
                                                                          for m in module._modules.values()):
                out.append(Chain(name, self.items(module, q, sub)))
            else:
                out.append(Holder(name, self.items(module, q, sub), sub))
        return loops(out, node)

    def sequential(self, block: nn.Module, qualified: str) -> bool:
        """Its program calls each direct child once, in order, each on the previous one's output."""
        scope = self.scope_blocks.get(qualified)
        if scope is None:
            return False
        program = scope.programs[True]
        if program != scope.programs[False] or len(program) != len(block._modules):
            return False
        value = scope.entry
        for instr, name in zip(program, block._modules):
            if instr.code not in (LAYER, CALL) or instr.module != (name,) or instr.inputs != (value,) \
                    or (instr.code == LAYER and instr.arg is not None):
                return False
            value = instr.output
        return value == scope.exit


def _has_holders(items: list) -> bool:
    return any(isinstance(i, Holder) or isinstance(i, Loop) and _has_holders(i.iterations[0]) for i in items)


# ---------------------------------------------------------------- loops


def loops(items: list, node: ir.NodeBase | None) -> list:
    """Replace the items of each repeat (and a dense block's layers) by a Loop, where they fit one."""
    if isinstance(node, ir.Dense) and len(items) == len(node.layers) > 1:
        loop = make_loop(items, len(items))
        return [loop] if loop is not None else items
    if not isinstance(node, ir.Seq) or not node.repeats:
        return items
    if any(isinstance(c, ir.Save) for c in node.children) or len(node.children) != len(items):
        return items  # children and modules do not pair up
    out, i = [], 0
    for span in sorted(node.repeats, key=lambda s: s.start):
        if span.start < i or span.count < 1 or span.stop <= span.start:
            continue  # nested inside another span, or empty
        loop = make_loop(items[span.start:span.stop], span.count)
        if loop is None:
            continue
        out.extend(items[i:span.start])
        out.append(loop)
        i = span.stop
    return out + items[i:]


def make_loop(items: list, count: int) -> Loop | None:
    if len(items) % count:
        return None
    length = len(items) // count
    iterations = [items[j * length:(j + 1) * length] for j in range(count)]
    if any(isinstance(i, (Holder, Loop)) for i in items):
        return None  # containers are written out, not built in a loop
    names = []
    for k, item in enumerate(iterations[0]):
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*?)(\d+)", item.name)
        if m is None:
            return None
        base, offset = m.group(1), int(m.group(2))
        if any(it[k].name != f"{base}{offset + j}" for j, it in enumerate(iterations)):
            return None
        names.append((base, offset))
    first = structure(iterations[0], named=False)
    if any(structure(it, named=False) != first for it in iterations[1:]):
        return None
    columns = [[v for _, v in holes(it)] for it in iterations]
    for column in zip(*columns):
        if not _linear(column):
            return None
    return Loop(count, names, iterations)


def _linear(column) -> bool:
    if all(same(v, column[0]) for v in column):
        return True
    if not all(type(v) is int for v in column) or len(column) < 3:  # two points are always "linear"
        return False
    step = column[1] - column[0]
    return all(v == column[0] + j * step for j, v in enumerate(column))


# ---------------------------------------------------------------- structure and holes


def structure(items: list, named: bool = True, masked: frozenset = frozenset(), prefix: str = "") -> tuple:
    """Everything about `items` but the numbers: what decides whether two calls share a class.

    `masked`: residual scopes whose projection shortcut may be present or not.
    """
    out = []
    for item in items:
        name = item.name if named and not isinstance(item, Loop) else ""
        if isinstance(item, Leaf):
            out.append(("leaf", name, item.call.cls, tuple(a.kw for a in item.call.args), item.call.pad))
        elif isinstance(item, Chain):
            out.append(("chain", name, structure(item.items, named)))
        elif isinstance(item, Child):
            inner = item.inst.cls.name if item.inst.cls else (item.inst.node.block, structure(item.inst.items, False))
            out.append(("child", name, inner))
        elif isinstance(item, Loop):
            out.append(("loop", tuple(item.names) if named else (), structure(item.iterations[0], False)))
        else:
            path = f"{prefix}{item.name}"
            inner = [i for i in item.items if not (path in masked and i.name == "shortcut")]
            out.append(("holder", name, path in masked, structure(inner, named, masked, path + ".")))
    return tuple(out)


def holes(items: list, prefix: str = "") -> list[tuple[str, Any]]:
    """(id, value) of every number in the constructor calls, ids naming the place (`residual1.body.conv1:0`)."""
    out = []
    for item in items:
        where = f"{prefix}{item.name}" if not isinstance(item, Loop) else f"{prefix}{item.names[0][0]}*"
        if isinstance(item, Leaf):
            out.extend((f"{where}:{k}", a.value) for k, a in enumerate(item.call.args))
        elif isinstance(item, Chain):
            out.extend(holes(item.items, where + "."))
        elif isinstance(item, Child):
            values = item.inst.cls.call_values(item.inst) if item.inst.cls else item.inst.env.items()
            out.extend((f"{where}:{p}", v) for p, v in values)
        elif isinstance(item, Loop):
            out.append((f"{where}#count", item.count))
            first = holes(item.iterations[0], where + ".")
            second = holes(item.iterations[1], where + ".") if item.count > 1 else None
            for k, (hid, v) in enumerate(first):
                out.append((hid, v))
                if second is not None and type(v) is int:
                    out.append((hid + "#step", second[k][1] - v))
        else:
            out.extend(holes(item.items, where + "."))
    return out


# ---------------------------------------------------------------- optional shortcuts


def residual_holders(items: list, prefix: str = "") -> dict[str, Holder]:
    """Residual scopes (outside child classes) whose shortcut, when there is one, is a plain Sequential."""
    out = {}
    for item in items:
        if isinstance(item, Holder):
            path = f"{prefix}{item.name}"
            if isinstance(item.node, ir.Residual) and item.node.shortcut_kind != "explicit" and \
                    all(isinstance(i, Chain) for i in item.items if i.name == "shortcut"):
                out[path] = item
            out.update(residual_holders(item.items, path + "."))
    return out


def has_shortcut(items: list, path: str) -> bool:
    holder = residual_holders(items)[path]
    return any(i.name == "shortcut" for i in holder.items)


def with_shortcuts(cls: ClassDef) -> list:
    """The first instance's items, with each optional shortcut taken from an instance that has it."""

    def fill(items: list, prefix: str) -> list:
        out = []
        for item in items:
            if isinstance(item, Holder):
                path = f"{prefix}{item.name}"
                inner = fill(item.items, path + ".")
                if path in cls.optional and not any(i.name == "shortcut" for i in inner):
                    donor = next(i for i in cls.instances if has_shortcut(i.items, path))
                    inner.append(next(x for x in residual_holders(donor.items)[path].items if x.name == "shortcut"))
                item = Holder(item.name, inner, item.node)
            out.append(item)
        return out

    return fill(cls.instances[0].items, "")


# ---------------------------------------------------------------- classes


class Writer:
    def __init__(self, reader: Reader, top: str):
        self.reader = reader
        self.top = top
        self.classes: list[ClassDef] = []  # definition order: a class before its users
        self.by_key: dict[tuple, ClassDef] = {}
        self.taken: set[str] = {top, *HELPERS, "OrderedDict", "namedtuple", "torch", "nn", "F"}
        self.helpers: set[str] = set()
        self.uses_pad = False

    # -- which instances share a class

    def assign(self, inst: Instance, top: bool = False) -> None:
        for child in children_of(inst.items):
            self.assign(child)
        masked = frozenset(residual_holders(inst.items))
        shortcuts = tuple(sorted((p, structure([i for i in h.items if i.name == "shortcut"]))
                                 for p, h in residual_holders(inst.items).items()
                                 if any(i.name == "shortcut" for i in h.items)))
        key = ("top",) if top else (inst.node.block, structure(inst.items, masked=masked), inst.sequential)
        for variant in itertools.count():
            cls = self.by_key.get(key + (variant,))
            if cls is None:
                name = self.top if top else self.fresh_name(class_name(inst.node.block))
                cls = ClassDef(name, None if top else inst.node.block)
                cls.shortcut_shapes = dict(shortcuts)
                self.by_key[key + (variant,)] = cls
                self.classes.append(cls)
                break
            if all(cls.shortcut_shapes.get(p, s) == s for p, s in shortcuts):
                cls.shortcut_shapes.update(dict(shortcuts))
                break
        cls.instances.append(inst)
        inst.cls = cls

    def fresh_name(self, base: str) -> str:
        name, n = base, 2
        while name in self.taken:
            name, n = f"{base}{n}", n + 1
        self.taken.add(name)
        return name

    # -- constructor arguments and expressions

    def finish(self, cls: ClassDef, others: list[dict[str, Instance]], top: bool) -> None:
        per_instance = [dict(holes(i.items)) for i in cls.instances]
        moved = [(o.env, dict(holes(o.items))) for i in cls.instances for other in others
                 if (o := other.get(i.qualified)) is not None and o.node.block == i.node.block]
        ids = list(dict.fromkeys(h for found in per_instance for h in found))
        masked = residual_holders(cls.instances[0].items)
        for path in masked:
            flags = [has_shortcut(i.items, path) for i in cls.instances]
            if len(set(flags)) > 1:
                cls.optional[path] = ""
        taken = set(cls.instances[0].env) | {"self", "ctx", "i", "x"}
        hints = dict(hole_hints(with_shortcuts(cls)))
        for hid in ids:
            samples = [(inst.env, found[hid]) for inst, found in zip(cls.instances, per_instance) if hid in found]
            extra = [(env, found[hid]) for env, found in moved if hid in found]
            name = hid.rpartition(":")[2] if ":" in hid else None
            if top and not extra:  # one call: a number follows a parameter only if it moved with it
                expr = literal(samples[0][1])
            else:
                expr = fit(samples + extra, name) or (None if top else fit(samples, name))
            if expr is None and top:
                expr = literal(samples[0][1])
            elif expr is None:
                expr = unique(identifier_from(hints.get(hid, "value")), taken)
                cls.extra[hid] = expr
            cls.exprs[hid] = expr
        for path in cls.optional:
            samples = [(inst.env, has_shortcut(inst.items, path)) for inst in cls.instances]
            columns = {e: [found.get(h) for found in per_instance] for h, e in cls.exprs.items()
                       if not _is_literal(e) and all(h in found for found in per_instance)}
            cls.optional[path] = fit_condition(samples, columns) or unique(
                identifier_from(path.replace(".", "_") + "_shortcut"), taken)
        if top:
            cls.params = [p for p in cls.instances[0].env]
        else:
            used = " ".join([*cls.exprs.values(), *cls.optional.values()])
            env = [p for p in cls.instances[0].env if p != "in_channels" or re.search(r"\bin_channels\b", used)]
            flags = [c for c in cls.optional.values() if is_identifier(c) and c not in env]
            cls.params = env + list(dict.fromkeys(cls.extra.values())) + flags
        cls.finished = True

    # -- source

    def init_lines(self, cls: ClassDef) -> list[str]:
        lines: list[str] = []
        self.items_source(cls, with_shortcuts(cls), "self", "", lines, "")
        return lines

    def items_source(self, cls, items, owner, prefix, lines, indent) -> None:
        for item in items:
            if isinstance(item, Loop):
                self.loop_source(cls, item, owner, prefix, lines, indent)
                continue
            where = f"{prefix}{item.name}"
            if isinstance(item, Holder):
                lines.append(indent + assign(owner, item.name, "nn.Module()"))
                self.items_source(cls, item.items, ref(owner, item.name), where + ".", lines, indent)
                continue
            expr = self.expr_source(cls, item, where, None)
            path = where.rsplit(".", 1)[0] if item.name == "shortcut" and "." in where else None
            if path in cls.optional:
                expr = f"{expr} if {cls.optional[path]} else None"
            lines.append(indent + assign(owner, item.name, expr))

    def loop_source(self, cls, loop: Loop, owner, prefix, lines, indent) -> None:
        where = f"{prefix}{loop.names[0][0]}*"
        lines.append(f"{indent}for i in range({cls.exprs[where + '#count']}):")
        for (base, offset), item in zip(loop.names, loop.iterations[0]):
            name_expr = f'f"{base}{{i + {offset}}}"' if offset else f'f"{base}{{i}}"'
            expr = self.expr_source(cls, item, f"{where}.{item.name}", where).replace("\n", "\n    ")
            lines.append(f"{indent}    {owner}.add_module({name_expr}, {expr})")

    def value(self, cls: ClassDef, hid: str, loop: str | None) -> str:
        expr = cls.exprs[hid]
        step = cls.exprs.get(hid + "#step") if loop else None
        if step is None or step == "0":
            return expr
        step = step if is_identifier(step) or step.isdigit() else f"({step})"
        return f"{expr} + i" if step == "1" else f"{expr} + i * {step}"

    def expr_source(self, cls: ClassDef, item, where: str, loop: str | None) -> str:
        if isinstance(item, Leaf):
            return self.call_source(cls, item.call, where, loop)
        if isinstance(item, Chain):
            entries = [f"    ({literal(leaf.name)}, {self.call_source(cls, leaf.call, f'{where}.{leaf.name}', loop)}),"
                       for leaf in item.items]
            return "nn.Sequential(OrderedDict([\n" + "\n".join(entries) + "\n]))"
        child = item.inst.cls
        args = [self.value(cls, f"{where}:{p}", loop) for p in child.params]
        one_line = f"{child.name}({', '.join(args)})"
        if len(one_line) <= 80:
            return one_line
        # a long call (a stage table passed as tuples): one keyword argument a line, as a person writes it
        return f"{child.name}(\n" + "".join(f"    {p}={a},\n" for p, a in zip(child.params, args)) + ")"

    def call_source(self, cls: ClassDef, call: ModuleCall, where: str, loop: str | None) -> str:
        if call.cls.split(".")[-1] in HELPERS:
            self.helpers.add(call.cls)
        self.uses_pad = self.uses_pad or call.pad is not None
        parts = []
        for k, arg in enumerate(call.args):
            text = self.value(cls, f"{where}:{k}", loop)
            if arg.default is not NO_DEFAULT and text == literal(arg.default):
                continue
            parts.append(text if arg.kw is None else f"{arg.kw}={text}")
        return f"{call.cls}({', '.join(parts)})"


def assign(owner: str, name: str, expr: str) -> str:
    if plain_attribute(name):
        return f"{owner}.{name} = {expr}"
    return f"{owner}.add_module({literal(name)}, {expr})"


def children_of(items: list):
    """The block-class instances directly in `items` (not inside another instance)."""
    return (item.inst for _, item in flat_items(items) if isinstance(item, Child))


def hole_hints(items: list, prefix: str = "") -> list[tuple[str, str]]:
    """hole id -> a name for the constructor argument it may become (`conv1_out_channels`)."""
    out = []
    for item in items:
        if isinstance(item, Loop):
            where = f"{prefix}{item.names[0][0]}*"
            out.append((f"{where}#count", f"{item.names[0][0]}_count"))
            inner = hole_hints(item.iterations[0], where + ".")
            out.extend(inner)
            out.extend((h + "#step", n + "_step") for h, n in inner)
            continue
        where = f"{prefix}{item.name}"
        if isinstance(item, Leaf):
            out.extend((f"{where}:{k}", f"{item.name}_{a.hint or a.kw or 'value'}")
                       for k, a in enumerate(item.call.args))
        elif isinstance(item, Child):
            out.extend((f"{where}:{p}", p) for p in item.inst.cls.params)  # the child's own name for it
        else:
            out.extend(hole_hints(item.items, where + "."))
    return out


def identifier_from(text: str) -> str:
    name = re.sub(r"\W", "_", text.encode("ascii", "ignore").decode()).strip("_") or "value"
    return "v_" + name if not is_identifier(name) or name[0].isdigit() else name


def unique(name: str, taken: set[str]) -> str:
    base, n = name, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    taken.add(name)
    return name


def _is_literal(expr: str) -> bool:
    return not re.search(r"[A-Za-z_]", expr) or expr in ("True", "False", "None") or expr[:1] in "'\"("


# ---------------------------------------------------------------- forward, from the graph


REUSE_NOT = ("branch", "identity", "scale", "aux_")  # values that get a name of their own


class Forward:
    """One class's forward, read off the graph of its first instance: one op per line."""

    def __init__(self, writer: Writer, cls: ClassDef, inst: Instance, top: bool):
        self.w = writer
        self.r = writer.reader
        self.cls = cls
        self.inst = inst
        self.top = top
        graph = self.r.graph
        self.bounds = self.r.lay.bounds
        own = self.bounds[inst.node.path]
        self.stop = own.stop
        self.range = range(own.start, own.stop)
        self.readers = graph.readers()
        self.last = {v: idx[-1] for v, idx in self.readers.items()}
        self.var: dict[int, str] = {own.input: "x"}
        self.counts: dict[str, int] = {"x": 1}
        self.lines: list[str] = []
        items = list(flat_items(inst.items))
        self.kinds = {w: type(i).__name__.lower() for w, i in items}  # name -> "leaf" / "chain" / "child" / "holder"
        self.kinds_child = {w: i.inst.cls for w, i in items if isinstance(i, Child)}
        self.step_of = {s.node.path: i for i, s in enumerate(graph.steps) if is_leaf(s.node)}
        self.sides: dict[str, str] = {}  # side output -> variable (top class)
        self.keys = ctx_keys(writer.reader)

    def render(self) -> list[str]:
        self.seq_children(self.inst.node, "")
        out = self.bounds[self.inst.node.path].output
        if self.top and self.r.network.side_outputs:
            sides = [self.sides.get(name) or self.read_side(name) for name in self.r.network.side_outputs]
            self.lines.append("if self.training:")
            self.lines.append(f"    return {self.w.top}Outputs({self.read(out)}, {', '.join(sides)})")
        self.lines.append(f"return {self.read(out)}")
        return self.lines

    def read_side(self, name: str) -> str:
        self.cls.needs_ctx = True
        return f"ctx[{literal(name)}]"

    # -- names of values

    def fresh(self, hint: str) -> str:
        n = self.counts.get(hint, 0) + 1
        self.counts[hint] = n
        return hint if n == 1 else f"{hint}{n}"

    def out(self, value: int, src: int | None, stop: int, hint: str) -> str:
        """The variable for `value`: its input's when that is read no more after `stop`."""
        if src is not None and src in self.var and self.last.get(src, -1) < stop and not hint.startswith(REUSE_NOT):
            name = self.var[src]
        else:
            name = self.fresh(hint)
        self.var[value] = name
        return name

    def read(self, value: int) -> str:
        if value in self.var:
            return self.var[value]
        self.cls.needs_ctx = True  # made in another class: a saved skip
        return f"ctx[{literal(self.keys[value])}]"

    def export(self, value: int, indent: str) -> None:
        """A value made here and read in another class (a saved skip, a side output) goes into ctx."""
        key = self.keys.get(value)
        if key is not None and key.startswith("@") and any(i not in self.range for i in self.readers.get(value, ())):
            self.cls.needs_ctx = True
            self.lines.append(f"{indent}ctx[{literal(key)}] = {self.var[value]}")

    def module(self, path: str) -> str:
        qualified = self.r.lay.root.path_to_module.get(path, path)
        rel = qualified[len(self.inst.qualified) + 1:] if self.inst.qualified else qualified
        return ref("self", rel)

    def rel(self, path: str) -> str:
        qualified = self.r.lay.root.path_to_module.get(path, path)
        return qualified[len(self.inst.qualified) + 1:] if self.inst.qualified else qualified

    # -- nodes

    def node(self, node: ir.NodeBase, indent: str, hint: str = "y") -> None:
        b = self.bounds.get(node.path)
        kind = self.kinds.get(self.rel(node.path)) if node.path != self.inst.node.path else None
        if kind in ("chain", "child"):
            args = self.read(b.input)
            if kind == "child":
                if self.kinds_child[self.rel(node.path)].needs_ctx:
                    args += ", ctx"
            name = self.out(b.output, b.input, b.stop, hint)
            self.lines.append(f"{indent}{name} = {self.module(node.path)}({args})")
            return
        if isinstance(node, ir.Save):
            if b.input in self.var:
                self.export(b.input, indent)
            return
        if is_leaf(node):
            return self.leaf(node, indent, hint)
        if isinstance(node, ir.Seq):
            return self.seq_children(node, indent, hint)
        if isinstance(node, ir.Residual):
            return self.residual(node, indent)
        if isinstance(node, ir.Dense):
            return self.dense(node, indent)
        if isinstance(node, ir.Concat):
            outs = []
            for k, branch in enumerate(node.branches, 1):
                self.node(branch, indent, f"branch{k}")
                outs.append(self.read(self.bounds[branch.path].output))
            name = self.out(b.output, b.input, b.stop, hint)
            self.lines.append(f"{indent}{name} = torch.cat([{', '.join(outs)}], 1)")
            return
        if isinstance(node, ir.Gate):
            self.node(node.body, indent, "scale")
            s = self.read(self.bounds[node.body.path].output)
            x = self.read(b.input)
            vector = len(node.body.out_shape) == 1
            name = self.out(b.output, b.input, b.stop, hint)
            self.lines.append(f"{indent}{name} = {x} * {s}[:, :, None, None]" if vector else f"{indent}{name} = {x} * {s}")
            return
        if isinstance(node, ir.Side):
            self.lines.append(f"{indent}if self.training:  # side output {literal(node.output)}")
            self.node(node.body, indent + "    ", "aux_" + identifier_from(node.output))
            value = self.bounds[node.body.path].output
            if self.top:
                self.sides[node.output] = self.read(value)
            else:
                self.cls.needs_ctx = True
                self.lines.append(f"{indent}    ctx[{literal(node.output)}] = {self.read(value)}")
            return
        raise ValueError(f"no source form for IR node kind {node.kind!r} at {node.path!r}")

    def seq_children(self, node: ir.NodeBase, indent: str, hint: str = "y") -> None:
        for child in node.sub_nodes():
            self.node(child, indent, hint)

    def leaf(self, node: ir.NodeBase, indent: str, hint: str) -> None:
        i = self.step_of[node.path]
        step = self.r.graph.steps[i]
        args = [self.read(v) for v in step.inputs]
        call = module_call(node)
        if call.pad is not None:
            args[0] = f"F.pad({args[0]}, {literal(call.pad)})"  # 'same' padding of an even kernel
            self.w.uses_pad = True
        name = self.out(step.output, step.inputs[0], i + 1, hint)
        self.lines.append(f"{indent}{name} = {self.module(node.path)}({', '.join(args)})")
        self.export(step.output, indent)

    def residual(self, node: ir.Residual, indent: str) -> None:
        b = self.bounds[node.path]
        x = self.read(b.input)
        self.node(node.body, indent, "out")
        rel = self.rel(node.path)
        if rel in self.cls.optional:
            shortcut = self.module(node.path + ".shortcut") if node.shortcut is not None else \
                ref("self", rel + ".shortcut")
            identity = self.fresh("identity")
            self.lines.append(f"{indent}{identity} = {x} if {shortcut} is None else {shortcut}({x})")
        elif node.shortcut is None:
            identity = x
        else:
            self.node(node.shortcut, indent, "identity")
            identity = self.read(self.bounds[node.shortcut.path].output)
        i = next(k for k in range(b.start, b.stop) if self.r.graph.steps[k].node is node)
        body = self.read(self.bounds[node.body.path].output)
        if self.r.lay.inplace.add(i):
            self.lines.append(f"{indent}{body} += {identity}")
            self.var[b.output] = body
        else:
            name = self.out(b.output, None, b.stop, "out")
            self.lines.append(f"{indent}{name} = {body} + {identity}")
        self.export(b.output, indent)

    def dense(self, node: ir.Dense, indent: str) -> None:
        b = self.bounds[node.path]
        x = self.read(b.input)
        features = self.fresh("features")
        self.lines.append(f"{indent}{features} = [{x}]")
        rel = self.rel(node.path)
        if self.kinds.get(rel) == "holder" and all(self.kinds.get(self.rel(l.path)) == "chain" for l in node.layers):
            self.lines.append(f"{indent}for layer in {ref('self', rel)}.children():")
            self.lines.append(f"{indent}    {features}.append(layer(torch.cat({features}, 1)))")
        else:
            for layer in node.layers:
                lb = self.bounds[layer.path]
                src = self.fresh("h")
                self.lines.append(f"{indent}{src} = torch.cat({features}, 1)")
                self.var[lb.input] = src
                self.node(layer, indent, "h")
                self.lines.append(f"{indent}{features}.append({self.read(lb.output)})")
        name = self.out(b.output, b.input, b.stop, "out")
        self.lines.append(f"{indent}{name} = torch.cat({features}, 1)")


def flat_items(items: list, prefix: str = ""):
    """(relative module name, item) for every item, through containers, Sequentials and loops."""
    for item in items:
        if isinstance(item, Loop):
            for it in item.iterations:
                yield from flat_items(it, prefix)
            continue
        where = f"{prefix}{item.name}"
        yield where, item
        if isinstance(item, (Holder, Chain)):
            yield from flat_items(item.items, where + ".")


def ctx_keys(reader: Reader) -> dict[int, str]:
    """value -> its name in ctx: a saved tensor's `@ref`, a side output's name."""
    keys = {v: name for name, v in reader.graph.sides.items()}
    for node in ir.walk(reader.network.body):
        if isinstance(node, ir.Save):
            keys[reader.lay.bounds[node.path].input] = "@" + node.ref
    return keys


# ---------------------------------------------------------------- the file

PASS_KINDS = frozenset({"folded_conv", "folded_linear", "fused_conv", "fused_concat", "buffered_dense"})
RESERVED = frozenset({"self", "generator", "zero_init_residual", "ctx", "x", "i"})


def generate(network: ir.Network, class_name_override: str | None = None) -> str:
    if any(n.kind in PASS_KINDS for n in ir.walk(network.body)):
        raise ValueError("source generation takes the network before inference passes")
    top = class_name_override or top_class_name(network)
    if not is_identifier(top):
        raise ValueError(f"{top!r} is not a Python identifier")
    lay = layout(network)
    reader = Reader(network, lay)
    root = reader.instance(network.body, "", lay.root)
    root.env = network_params(network)
    writer = Writer(reader, top)
    writer.assign(root, top=True)
    others = perturbed(network, root.env)
    for cls in writer.classes:
        is_top = cls.name == top
        writer.finish(cls, others, is_top)
        cls.init_lines = writer.init_lines(cls)
        if cls.instances[0].sequential and not is_top and all(
                not hasattr(nn.Sequential, item.name) for item in cls.instances[0].items if not isinstance(item, Loop)):
            cls.base = "nn.Sequential"
        else:
            cls.forward_lines = Forward(writer, cls, cls.instances[0], is_top).render()
    top_class = writer.classes[-1]
    sides = list(network.side_outputs)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["literal"] = literal
    source = "\n".join(line for cls in writer.classes for line in cls.init_lines + cls.forward_lines)
    text = env.get_template("module.py.j2").render(
        network_name=literal(network.name),
        top=top,
        classes=writer.classes[:-1],
        top_class=top_class,
        top_params=[(p, literal(v)) for p, v in root.env.items()],
        helpers=sorted(h.split(".")[-1] for h in writer.helpers),
        uses_ordered_dict="OrderedDict(" in source,
        uses_functional="F." in source or "ChannelPad" in {h.split(".")[-1] for h in writer.helpers},
        meta=[(literal(str(k)), literal(str(v))) for k, v in network.meta.items()],
        spec_hash=literal(network.spec_hash),
        input_shape=literal(tuple(network.input_shape)),
        sides=sides,
        outputs_fields=literal(tuple(["main", *sides])),
        outputs_name=f"{top}Outputs",
        residual_bns=[literal(lay.root.path_to_module.get(p, p)) for p in last_bn_of_residuals(network)],
    )
    compile(text, "<generated>", "exec")  # a generator bug must never write a broken file
    return text


def network_params(network: ir.Network) -> dict[str, Any]:
    return {k: v for k, v in network.params.items() if is_identifier(k) and k not in RESERVED
            and isinstance(v, (bool, int, float, str))}


def perturbed(network: ir.Network, env: dict[str, Any]) -> list[dict[str, Instance]]:
    """The network elaborated again with one integer parameter moved, once per parameter: its instances by path.

    A number that stays the same across every call of a block may still follow a parameter
    (`k`, `num_classes`): comparing with these elaborations shows which, and keeps the top
    class (one instance) from matching a number to a parameter by coincidence.
    """
    import netspec

    if not network.source or not Path(network.source).is_file():
        return []
    shape = "x".join(str(d) for d in network.input_shape)
    out = []
    for name, value in env.items():
        if type(value) is not int:
            continue
        for new in (value + 1, value * 2, value + 2):
            try:
                other = netspec.load(network.source, params={**network.params, name: new}, input=shape)
                lay = layout(other)
            except (netspec.SpecError, ValueError, TypeError):
                continue
            root = Reader(other, lay).instance(other.body, "", lay.root)
            root.env = {**env, name: new}
            found = {"": root}
            stack = [root]
            while stack:
                inst = stack.pop()
                for child in children_of(inst.items):
                    found[child.qualified] = child
                    stack.append(child)
            out.append(found)
            break
    return out
