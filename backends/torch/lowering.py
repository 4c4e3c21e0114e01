"""The torch lowering table: for each leaf IR node class, the module it becomes, written as data.

One entry per node class says which module class to construct and with which arguments
(`ModuleCall`); `build` instantiates it and `codegen` writes the same call as source, so the
two cannot drift. An entry also says what the executor and the inference passes need to know:

- `fresh`: the module returns a new tensor that autograd does not keep for its backward, so
  an in-place activation may overwrite it;
- `weighted`: the module's state (weights, running statistics) is learned, so the inference
  passes copy or fold it (`optimize.weights_for`).

A node class without an entry is an error naming its kind (`lowering_for`), never a default.
`register` is the hook for a new op: a test registers a toy node class with it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from torch import nn

from netspec import ir

NO_DEFAULT = object()


@dataclass(frozen=True)
class Arg:
    kw: str | None  # None: positional
    value: Any
    default: Any = NO_DEFAULT  # left out of generated source when the value equals it
    hint: str = ""  # a name for a constructor parameter, should the value vary between calls


@dataclass(frozen=True)
class ModuleCall:
    """`cls(*args)`: the module for one node; `pad` is an explicit F.pad (l, r, t, b) before it."""

    cls: str  # "nn.Conv2d", or a helper class of modules.py ("ChannelPad")
    args: tuple[Arg, ...] = ()
    pad: tuple[int, int, int, int] | None = None

    @property
    def can_run_in_place(self) -> bool:
        return any(a.kw == "inplace" for a in self.args)

    def in_place(self) -> "ModuleCall":
        return replace(self, args=tuple(replace(a, value=True) if a.kw == "inplace" else a for a in self.args))

    def instantiate(self) -> nn.Module:
        from . import modules

        owner, _, name = self.cls.rpartition(".")
        factory = getattr(nn if owner == "nn" else modules, name)
        return factory(*[a.value for a in self.args if a.kw is None],
                       **{a.kw: a.value for a in self.args if a.kw is not None})


@dataclass(frozen=True)
class Lowering:
    module: Callable[[Any], ModuleCall]
    fresh: bool = True
    weighted: bool | Callable[[Any], bool] = False

    def has_weights(self, node: ir.NodeBase) -> bool:
        return self.weighted(node) if callable(self.weighted) else self.weighted


TABLE: dict[type, Lowering] = {}


def register(*node_classes: type, fresh: bool = True, weighted: bool | Callable[[Any], bool] = False):
    """Decorator: `fn(node) -> ModuleCall` is the torch lowering of these node classes."""

    def add(fn: Callable[[Any], ModuleCall]) -> Callable[[Any], ModuleCall]:
        for cls in node_classes:
            TABLE[cls] = Lowering(fn, fresh, weighted)
        return fn

    return add


def lowering_for(node: ir.NodeBase) -> Lowering:
    entry = TABLE.get(type(node))
    if entry is None:
        raise TypeError(f"the torch backend has no lowering for IR node kind {node.kind!r} "
                        f"({type(node).__name__}, at {node.path!r}); register one with "
                        "netspec.backends.torch.lowering.register")
    return entry


def is_leaf(node: ir.NodeBase) -> bool:
    """Every node but the composites, which `lower()` turns into joins of their parts' values."""
    return not isinstance(node, ir.Composite)


def has_module(node: ir.NodeBase) -> bool:
    """A leaf that becomes a module: all but `@name` saves, which name a graph value."""
    return is_leaf(node) and not isinstance(node, ir.Save)


def module_call(node: ir.NodeBase) -> ModuleCall:
    return lowering_for(node).module(node)


def square(v):
    """(3, 3) -> 3, as people write kernel sizes."""
    return v[0] if isinstance(v, tuple) and v and all(x == v[0] for x in v) else v


# ---------------------------------------------------------------- the entries


@register(ir.Conv, ir.FoldedConv, ir.FusedConv, weighted=True)
def conv(node: ir.Conv) -> ModuleCall:
    t, b, l, r = node.padding
    symmetric = (t, l) == (b, r)  # 'same' with an even kernel is not: pad the extra row/column explicitly
    return ModuleCall("nn.Conv2d", (
        Arg(None, node.in_channels, hint="in_channels"), Arg(None, node.out_channels, hint="out_channels"),
        Arg("kernel_size", square(node.kernel), hint="kernel_size"),
        Arg("stride", square(node.stride), 1, "stride"),
        Arg("padding", square((t, l)) if symmetric else 0, 0, "padding"),
        Arg("dilation", square(node.dilation), 1, "dilation"), Arg("groups", node.groups, 1, "groups"),
        Arg("bias", node.bias, True, "bias")), pad=None if symmetric else (l, r, t, b))


@register(ir.Linear, ir.FoldedLinear, weighted=True)
def linear(node: ir.Linear) -> ModuleCall:
    return ModuleCall("nn.Linear", (Arg(None, node.in_features, hint="in_features"),
                                    Arg(None, node.out_features, hint="out_features"),
                                    Arg("bias", node.bias, True, "bias")))


@register(ir.BatchNorm, weighted=True)
def batchnorm(node: ir.BatchNorm) -> ModuleCall:
    return ModuleCall("nn.BatchNorm1d" if len(node.in_shape) == 1 else "nn.BatchNorm2d", (
        Arg(None, node.num_features, hint="num_features"), Arg("eps", node.eps, 1e-5, "eps"),
        Arg("momentum", node.momentum, 0.1, "momentum")))


@register(ir.Pool)
def pool(node: ir.Pool) -> ModuleCall:
    args = (Arg(None, square(node.kernel), hint="kernel_size"), Arg(None, square(node.stride), hint="stride"),
            Arg("padding", square(node.padding), 0, "padding"), Arg("ceil_mode", node.ceil_mode, False, "ceil_mode"))
    if node.mode == "max":
        return ModuleCall("nn.MaxPool2d", args)
    return ModuleCall("nn.AvgPool2d", args + (Arg("count_include_pad", node.count_include_pad, True,
                                                  "count_include_pad"),))


@register(ir.AdaptivePool)
def adaptive_pool(node: ir.AdaptivePool) -> ModuleCall:
    cls = "nn.AdaptiveMaxPool2d" if node.mode == "max" else "nn.AdaptiveAvgPool2d"
    return ModuleCall(cls, (Arg(None, square(node.output_size), hint="output_size"),))


@register(ir.LRN)
def lrn(node: ir.LRN) -> ModuleCall:
    return ModuleCall("nn.LocalResponseNorm", (Arg(None, node.size, hint="size"), Arg("alpha", node.alpha, 1e-4),
                                               Arg("beta", node.beta, 0.75), Arg("k", node.k, 1.0)))


_PLAIN_ACTIVATIONS = {"selu": "nn.SELU", "sigmoid": "nn.Sigmoid", "tanh": "nn.Tanh", "hardswish": "nn.Hardswish",
                      "hardsigmoid": "nn.Hardsigmoid", "silu": "nn.SiLU", "gelu": "nn.GELU",
                      "identity": "nn.Identity"}


# An activation's output is what its backward reads (relu, sigmoid): never overwrite it in place.
@register(ir.Activation, fresh=False, weighted=lambda node: node.fn == "prelu")
def activation(node: ir.Activation) -> ModuleCall:
    fn, alpha = node.fn, node.alpha
    inplace = Arg("inplace", False, False)
    if fn == "relu":
        return ModuleCall("nn.ReLU", (inplace,))
    if fn == "relu6":
        return ModuleCall("nn.ReLU6", (inplace,))
    if fn == "leaky_relu":
        return ModuleCall("nn.LeakyReLU", (Arg(None, 0.01 if alpha is None else alpha, hint="negative_slope"),
                                           inplace))
    if fn == "prelu":
        return ModuleCall("nn.PReLU", (Arg(None, node.num_parameters, hint="num_parameters"),
                                       Arg("init", 0.25 if alpha is None else alpha, 0.25, "init")))
    if fn == "elu":
        return ModuleCall("nn.ELU", (Arg("alpha", 1.0 if alpha is None else alpha, 1.0, "alpha"),))
    if fn == "softmax":
        return ModuleCall("nn.Softmax", (Arg("dim", 1),))
    return ModuleCall(_PLAIN_ACTIVATIONS[fn])


@register(ir.Dropout, fresh=False)  # the identity at inference
def dropout(node: ir.Dropout) -> ModuleCall:
    return ModuleCall("nn.Dropout", (Arg(None, node.p, hint="p"),))


@register(ir.Flatten, fresh=False)  # a view
def flatten(node: ir.Flatten) -> ModuleCall:
    return ModuleCall("nn.Flatten")


@register(ir.Upsample)
def upsample(node: ir.Upsample) -> ModuleCall:
    return ModuleCall("nn.Upsample", (Arg("scale_factor", node.scale, hint="scale_factor"),
                                      Arg("mode", node.mode, "nearest")))


@register(ir.Deconv, weighted=True)
def deconv(node: ir.Deconv) -> ModuleCall:
    return ModuleCall("nn.ConvTranspose2d", (
        Arg(None, node.in_channels, hint="in_channels"), Arg(None, node.out_channels, hint="out_channels"),
        Arg("kernel_size", square(node.kernel), hint="kernel_size"),
        Arg("stride", square(node.stride), 1, "stride"), Arg("padding", square(node.padding), 0, "padding"),
        Arg("output_padding", square(node.output_padding), 0, "output_padding"),
        Arg("groups", node.groups, 1, "groups"), Arg("bias", node.bias, True, "bias"),
        Arg("dilation", square(node.dilation), 1, "dilation")))


@register(ir.LayerNorm, weighted=True)
def layernorm(node: ir.LayerNorm) -> ModuleCall:
    cls = "nn.LayerNorm" if len(node.in_shape) == 1 else "LayerNorm2d"
    return ModuleCall(cls, (Arg(None, node.num_features, hint="normalized_shape"), Arg("eps", node.eps, 1e-5, "eps")))


@register(ir.LayerScale, weighted=True)
def layer_scale(node: ir.LayerScale) -> ModuleCall:
    return ModuleCall("LayerScale", (Arg(None, node.channels, hint="channels"), Arg(None, node.init, hint="init"),
                                     Arg("vector", len(node.in_shape) == 1, False, "vector")))


@register(ir.Scale)
def scale(node: ir.Scale) -> ModuleCall:
    return ModuleCall("Scale", (Arg(None, node.factor, hint="factor"),))


@register(ir.DropPath, fresh=False)  # the identity at inference
def drop_path(node: ir.DropPath) -> ModuleCall:
    return ModuleCall("DropPath", (Arg(None, node.p, hint="p"),))


@register(ir.ChannelSlice, fresh=False)  # a view of its input: never overwritten in place
def channel_slice(node: ir.ChannelSlice) -> ModuleCall:
    return ModuleCall("ChannelSlice", (Arg(None, node.start, hint="start"), Arg(None, node.stop, hint="stop")))


@register(ir.Crop, fresh=False)  # a view of its input
def crop(node: ir.Crop) -> ModuleCall:
    return ModuleCall("Crop", (Arg(None, node.top, hint="top"), Arg(None, node.left, hint="left")))


@register(ir.ZeroPad)
def zeropad(node: ir.ZeroPad) -> ModuleCall:
    return ModuleCall("nn.ZeroPad2d", (Arg(None, square((node.left, node.right, node.top, node.bottom)), hint="padding"),))


@register(ir.ChannelShuffle)
def shuffle(node: ir.ChannelShuffle) -> ModuleCall:
    return ModuleCall("nn.ChannelShuffle", (Arg(None, node.groups, hint="groups"),))


@register(ir.ChannelPad)
def channel_pad(node: ir.ChannelPad) -> ModuleCall:
    return ModuleCall("ChannelPad", (Arg(None, node.before, hint="before"), Arg(None, node.after, hint="after")))


@register(ir.Merge)
def merge(node: ir.Merge) -> ModuleCall:
    return ModuleCall("Merge", (Arg(None, node.mode),))


__all__ = ["Arg", "Lowering", "ModuleCall", "TABLE", "has_module", "is_leaf", "lowering_for", "module_call", "register"]
