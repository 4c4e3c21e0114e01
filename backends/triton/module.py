"""The generated program behind an nn.Module: weights from the torch backend, kernels from a folder.

`TritonModule.create` plans and generates the network's source (the same files `netspec compile
--backend triton` writes), stores them under the cache directory keyed by their content, imports
the generated model.py and hands it the prepared weights. forward() takes NCHW tensors.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from netspec import ir
from netspec.files import write_tree

from .cache import cache_dir
from .loader import load_module, use_interpreter


def resolve_device(device: Any) -> torch.device:
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cpu":
        use_interpreter()  # before triton is first imported: the generated model imports it
    return device


class TritonModule(nn.Module):
    """Inference only: `module(x)` runs every kernel of the plan; `module.program` is the generated Model."""

    def __init__(self, network: ir.Network, program, launches, dtype: str, folder, autotune: bool):
        super().__init__()
        self.network = network
        self.program = program
        self.launches = launches
        self.dtype = getattr(torch, dtype)
        self.folder = folder
        self.autotune = autotune
        self.tuned: set[int] = set()
        self.eval()

    @classmethod
    def create(cls, network: ir.Network, *, weights=None, dtype="float32", device=None, seed=0, tf32=False,
               autotune=None, cuda_graphs=True) -> "TritonModule":
        from netspec.backends.torch import build as torch_build

        from . import optimize
        from .codegen import digest, generate, launches
        from .plan import make_plan
        from .weights import kernel_weights

        device = resolve_device(device)
        source_model = torch_build(network, seed=seed, weights=weights).eval()
        plan = make_plan(optimize(network))
        items = launches(plan, dtype, tf32, interpret=device.type == "cpu")
        files = generate(plan, dtype, tf32, cuda_graph_batch=8 if cuda_graphs else 0, items=items)
        key = digest(files)
        folder = cache_dir() / "triton" / f"{network.name}-{key}"
        if not (folder / "model.py").exists():
            write_tree(folder, files)
        generated = load_module(folder / "model.py", f"netspec_triton_{key}")
        program = generated.Model(kernel_weights(source_model, items), device)
        if autotune is None:
            autotune = device.type == "cuda"
        return cls(network, program, items, dtype, folder, autotune and device.type == "cuda")

    @property
    def poison(self) -> bool:
        return self.program.poison

    @poison.setter
    def poison(self, on: bool) -> None:
        self.program.poison = on

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.program.device, self.dtype)
        n = x.shape[0]
        if self.autotune and n not in self.tuned:
            from .autotune import tune

            tune(self.program, self.launches, n, str(self.dtype).replace("torch.", ""))
            self.tuned.add(n)
        return self.program(x)

    def extra_repr(self) -> str:
        return f"{self.network.name}: {len(self.launches)} kernels, generated in {self.folder}"
