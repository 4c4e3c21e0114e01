"""The torch modules an IR becomes: scope containers, the root that runs the graph, helper layers.

The leaf modules come from the lowering table (lowering.py). A `Block` holds the modules of
one scope (a node whose path adds a component), so module names are scope paths. The root
`Network` runs `forward` from `lower()`'s graph, compiled to a flat program (program.py):
one module call per layer step, and the joins (sums, gates, concats, slices, dense-block
buffers) as tensor operations.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netspec import ir

from .program import ADD, BUFFER, CALL, CONCAT, COPY, LAYER, MUL, SLICE, Instr


class ChannelPad(nn.Module):
    """Adds zero channels before and after the input's (ResNet's option-A shortcut)."""

    def __init__(self, before: int, after: int):
        super().__init__()
        self.before, self.after = before, after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, 0, 0, 0, self.before, self.after))

    def extra_repr(self) -> str:
        return f"before={self.before}, after={self.after}"


class Merge(nn.Module):
    """Joins the current tensor with saved ones (U-Net skips): channel concat or sum."""

    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor, *saved: torch.Tensor) -> torch.Tensor:
        if self.mode == "concat":
            return torch.cat((x, *saved), 1)
        for s in saved:
            x = x + s
        return x

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class ChannelSlice(nn.Module):
    """The channels [start, stop) of the input: a view, as `split` gives each branch its share."""

    def __init__(self, start: int, stop: int):
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.start:self.stop]

    def extra_repr(self) -> str:
        return f"start={self.start}, stop={self.stop}"


class Crop(nn.Module):
    """The centre of a feature map: `top` rows off the top and the bottom, `left` columns off each side. A view."""

    def __init__(self, top: int, left: int):
        super().__init__()
        self.top, self.left = top, left

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, self.top:x.shape[2] - self.top, self.left:x.shape[3] - self.left]

    def extra_repr(self) -> str:
        return f"top={self.top}, left={self.left}"


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of each pixel (ConvNeXt's): channels moved last and back."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    """A learned per-channel multiplier; the parameter's name and (C, 1, 1) shape are torchvision's
    ConvNeXt block's, so its weights import by signature."""

    def __init__(self, channels: int, init: float, vector: bool = False):
        super().__init__()
        self.init = init
        self.layer_scale = nn.Parameter(torch.full((channels,) if vector else (channels, 1, 1), float(init)))

    @property
    def weight(self) -> nn.Parameter:  # as PReLU's: initialised to `init` with it
        return self.layer_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.layer_scale


class Scale(nn.Module):
    """Multiplies its input by a fixed factor (Inception-ResNet's scaled residual branches)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


class DropPath(nn.Module):
    """Stochastic depth in torchvision's "row" mode: each sample kept with probability 1-p and divided
    by 1-p in training; the identity at inference (and for p = 0)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        noise = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        if keep > 0.0:
            noise.div_(keep)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Block(nn.Module):
    """The modules of one scope, and the program (program.py) that runs its part of the graph."""

    def __init__(self) -> None:
        super().__init__()
        self.entry = self.exit = 0  # its input and output value
        self.values = 0  # values in the whole network's graph (for a call on its own)
        self.programs: dict[bool, tuple[Instr, ...]] = {False: (), True: ()}  # by training mode

    def forward(self, x: torch.Tensor, env: list | None = None) -> torch.Tensor:
        if env is None:  # called on its own, not by its parent's program
            env = [None] * self.values
            env[self.entry] = x
        run(self, self.programs[self.training], env)
        return env[self.exit]



def _memory_format(x: torch.Tensor) -> torch.memory_format:
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def run(root: nn.Module, program: tuple[Instr, ...], env: list) -> None:  # noqa: C901 - one branch per op
    """Execute `program` over `env` (value id -> tensor; the input already in place)."""
    modules = root._modules
    for code, inputs, output, free, module, arg, into in program:
        if code == LAYER or code == CALL:
            m = modules[module[0]]
            for name in module[1:]:
                m = m._modules[name]
            if code == CALL:  # a child scope: it works in this value list
                out = m(env[inputs[0]], env)
            elif len(inputs) == 1:
                x = env[inputs[0]]
                if arg is not None:  # 'same' padding of an even kernel: the extra row/column explicitly
                    x = F.pad(x, arg)
                out = m(x)
            else:  # a merge: the current tensor and the saved ones
                out = m(*[env[v] for v in inputs])
        elif code == ADD:
            out = env[inputs[0]]
            if arg:
                for v in inputs[1:]:
                    out += env[v]
            else:
                for v in inputs[1:]:
                    out = out + env[v]
        elif code == CONCAT:
            out = torch.cat([env[v] for v in inputs], 1)
        elif code == MUL:
            x, s = env[inputs[0]], env[inputs[1]]
            out = x * (s[:, :, None, None] if arg else s)
        elif code == SLICE:
            out = env[inputs[0]][:, arg[0]:arg[1]]
        elif code == BUFFER:  # a dense block's output, preallocated: each layer writes its channels once
            like = env[arg[1]]
            out = torch.empty((like.shape[0], arg[0]) + tuple(like.shape[2:]), dtype=like.dtype,
                              device=like.device, memory_format=_memory_format(like))
        elif code == COPY:
            out = env[inputs[0]]
        else:
            raise ValueError(f"unknown instruction {code!r}")
        if into is not None:
            env[into[0]][:, into[1]:into[1] + out.shape[1]] = out
        env[output] = out
        for v in free:
            env[v] = None


class Network(Block):
    """The root module: `.network` is the IR; in training mode side outputs come back in a named tuple."""

    def __init__(self, network: ir.Network, outputs: type | None):
        super().__init__()
        self.network = network
        self._outputs = outputs  # namedtuple type (main, side...) or None
        self.path_to_module: dict[str, str] = {}  # IR path -> qualified module name, where they differ
        self.channels_last = False  # set by build(channels_last=True): inputs are converted to NHWC
        self.sides: tuple[int, ...] = ()  # the side outputs' values, in the named tuple's order

    def forward(self, x: torch.Tensor) -> Any:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        env: list = [None] * self.values
        env[self.entry] = x
        run(self, self.programs[self.training], env)
        out = env[self.exit]
        if self.training and self._outputs is not None:
            return self._outputs(out, *[env[v] for v in self.sides])
        return out

    def reset_parameters(self, generator: torch.Generator | None = None, zero_init_residual: bool = False) -> None:
        """Initialise again as `build` does (the generated source's top class has the same method)."""
        from .builder import init_weights

        init_weights(self, generator, zero_init_residual=zero_init_residual)

    def module_at(self, path: str) -> nn.Module:
        """The module built for the IR node at `path` (its scope path, mapped where needed)."""
        return self.get_submodule(self.path_to_module.get(path, path))
