"""`lower()`'s graph as the torch modules run it: per scope, a flat list of instructions over numbered values.

Each `Step` of the graph becomes one `Instr`: the module to call (by its name relative to the
scope's Block, so a replaced submodule is picked up), the values it reads and writes, and the
values that are dead after it (the executor drops them, so memory is freed as early as the
graph allows). A scope's steps are contiguous in the graph (the lowering is recursive), so a
Block's program is its own steps with one `CALL` per child scope; values are numbered for the
whole network, and a Block called by its parent works in its parent's value list, which is how
a skip saved in one scope reaches a merge in another, and a side output gets out.

In-place work is decided here, once, from the graph (`InPlace`): an activation that can run in
place does so, and a sum is accumulated into its first operand, only where that input is
read by this step alone and was made by a step whose output is a new tensor nobody else
holds and autograd does not keep (the lowering table's `fresh`; a view or dropout passes
its input's status on). The graph input and slices are never overwritten.

Programs are data (tuples of names and numbers), so a model deep-copies, pickles, compiles
and exports like any hand-written module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from netspec import ir
from netspec.lower import Bounds, Graph, Step, aliases_input

from .lowering import has_module, is_leaf, lowering_for, module_call

# instruction codes
LAYER, ADD, MUL, CONCAT, SLICE, BUFFER, COPY, CALL = range(8)
CODES = {"add": ADD, "mul": MUL, "concat": CONCAT, "slice": SLICE, "buffer": BUFFER, "copy": COPY}


class Instr(NamedTuple):
    code: int
    inputs: tuple[int, ...]
    output: int
    free: tuple[int, ...]  # values no later instruction reads
    module: tuple[str, ...] = ()  # LAYER, CALL: the module's name relative to the running Block, split at dots
    arg: object = None  # LAYER: F.pad before the call; ADD: in place; MUL: broadcast a vector; SLICE: (start, stop);
    #                     BUFFER: (channels, the value whose batch/spatial size and layout it takes)
    into: tuple[int, int] | None = None  # (buffer value, channel offset) the output is also written to


class InPlace:
    """Which steps of a graph may overwrite their (first) input."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.readers = graph.readers()  # over every step, side outputs included: a side branch reads too
        self.owned: dict[int, bool] = {graph.input: False}
        for i, step in enumerate(graph.steps):
            self.owned[step.output] = self._owns_output(i, step)

    def sole_reader(self, value: int, i: int) -> bool:
        return self.owned.get(value, False) and self.readers.get(value) == [i]

    def activation(self, i: int) -> bool:
        """Step i is a layer whose module may run in place (relu and friends on a value only it reads)."""
        step = self.graph.steps[i]
        return step.op == "layer" and module_call(step.node).can_run_in_place and self.sole_reader(step.inputs[0], i)

    def add(self, i: int) -> bool:
        step = self.graph.steps[i]
        return step.op == "add" and self.sole_reader(step.inputs[0], i)

    def _owns_output(self, i: int, step: Step) -> bool:
        if step.op in ("add", "mul", "concat"):
            return True
        if step.op != "layer":
            return False  # a slice is a view, a buffer is written piecewise, a copy aliases its input
        if aliases_input(step.node):
            return self.sole_reader(step.inputs[0], i)
        return lowering_for(step.node).fresh


@dataclass
class Scope:
    """A Block to be programmed: its IR node's bounds, its module name relative to its parent's Block."""

    path: str
    name: str
    bounds: Bounds
    children: list["Scope"] = field(default_factory=list)


def instructions(graph: Graph, names: dict[str, str], inplace: InPlace, training: bool) -> dict[int, Instr]:
    """step index -> its instruction (side-output steps only when `training`); `names`: IR path -> module."""
    order = [(i, s) for i, s in enumerate(graph.steps) if training or s.side is None]
    last: dict[int, int] = {}
    for i, step in order:
        for v in (*step.inputs, *(() if step.into is None else (step.into[0],))):
            last[v] = i
    for i, step in order:
        last.setdefault(step.output, i)  # never read (a layer that only writes into a buffer): dead at once
    keep = {graph.output, *(graph.sides.values() if training else ())}
    dead: dict[int, list[int]] = {}
    for v, i in last.items():
        if v not in keep:
            dead.setdefault(i, []).append(v)
    copies = {s.into[0]: s.inputs[0] for s in graph.steps if s.op == "copy"}
    out = {}
    for i, step in order:
        module, arg = (), None
        if is_leaf(step.node):  # a layer, or a merge's join, which has its module too
            code, module = LAYER, (step.node.path,)
            arg = module_call(step.node).pad
        else:
            code = CODES[step.op]
        if code == ADD:
            arg = inplace.add(i)
        elif code == MUL:
            arg = len(graph.shape(step.inputs[1])) == 1
        elif code == SLICE:
            arg = step.channels
        elif code == BUFFER:
            arg = (graph.shape(step.output)[0], copies[step.output])
        out[i] = Instr(code, step.inputs, step.output, tuple(dead.get(i, ())), module, arg, step.into)
    return out


def block_program(scope: Scope, instrs: dict[int, Instr], names: dict[str, str], prefix: str) -> tuple[Instr, ...]:
    """The instructions of `scope`'s own steps, a CALL for each child scope (module names relative to it)."""
    children = {c.bounds.start: c for c in scope.children if c.bounds.stop > c.bounds.start}
    program = []
    i = scope.bounds.start
    while i < scope.bounds.stop:
        child = children.get(i)
        if child is not None:
            if any(j in instrs for j in range(child.bounds.start, child.bounds.stop)):  # not all side steps
                program.append(Instr(CALL, (child.bounds.input,), child.bounds.output, (),
                                     tuple(child.name.split("."))))
            i = child.bounds.stop
            continue
        instr = instrs.get(i)
        if instr is not None:
            if instr.code == LAYER:
                qualified = names[instr.module[0]]
                instr = instr._replace(module=tuple(qualified[len(prefix) + 1 if prefix else 0:].split(".")))
            program.append(instr)
        i += 1
    return tuple(program)


def check_supported(network: ir.Network) -> None:
    """Every leaf has a torch lowering (raises the table's error naming the first that has none)."""
    for node in ir.walk(network.body):
        if has_module(node):
            lowering_for(node)
