"""Export a built model: ONNX (for onnxruntime and friends) or torch.export's ExportedProgram (.pt2).

Both are written to a temporary file beside the target and moved into place, so a
failed export never leaves half a file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from netspec.files import atomic_path

FORMATS = ("onnx", "pt2")


def example_input(model: nn.Module, batch: int = 2) -> torch.Tensor:
    shape = tuple(getattr(model, "network").input_shape)
    if not all(isinstance(d, int) for d in shape):
        raise ValueError(f"the input {'x'.join(map(str, shape))} is symbolic: give a concrete one (--input 3x224x224)")
    return torch.randn(batch, *shape)


def export(model: nn.Module, path: str | os.PathLike, fmt: str, batch: int = 2) -> Path:
    """Write `model` (eval mode, logits only) to `path`; the batch dimension stays dynamic."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; formats are {', '.join(FORMATS)}")
    model = model.eval()
    x = example_input(model, batch)
    with atomic_path(path, suffix=f".{fmt}") as tmp:
        if fmt == "onnx":
            _onnx(model, x, str(tmp))
        else:
            batch_dim = torch.export.Dim("batch", min=1, max=4096)
            program = torch.export.export(model, (x,), dynamic_shapes=({0: batch_dim},))
            torch.export.save(program, str(tmp))
    return Path(path)


def _onnx(model: nn.Module, x: torch.Tensor, path: str) -> None:
    # The TorchScript-based exporter needs nothing beyond torch and onnx; the dynamo-based
    # one needs onnxscript, which is used when it is installed.
    import importlib.util

    dynamo = importlib.util.find_spec("onnxscript") is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs = dict(input_names=["input"], output_names=["logits"], opset_version=18 if dynamo else 17)
        if dynamo:
            torch.onnx.export(model, (x,), path, dynamo=True, external_data=False,
                              dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},), **kwargs)
        else:
            torch.onnx.export(model, (x,), path, dynamo=False,
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **kwargs)
