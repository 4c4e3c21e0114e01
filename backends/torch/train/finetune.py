"""Fine-tuning: start from saved weights, freeze the lower layers, train a new head.

The seeds' recipe (Chollet's cats-vs-dogs, the VGG16 conv base): load a trained network,
put a new classifier on top (`--num-classes N` rebuilds the spec with that parameter, so
the head has a new shape and keeps its fresh initialisation), freeze the loaded layers
so the untrained head's large gradients do not wreck them, train, then unfreeze and
train everything together (`--unfreeze-after EPOCHS`).

`--freeze` names layers as the spec does. A label or scope path (`C3`, `stage2`,
`features.conv4`) freezes every layer from the input up to and including it; a glob
(`C*`, `stage[12].*`) freezes the layers whose paths match. Items combine with commas.
Frozen batch norms also stop updating their running statistics (eval mode), so a
frozen layer computes exactly what it did before training.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .data import TrainError

GLOB_CHARS = set("*?[")


def load_init(model: nn.Module, source: str | Path) -> str:
    """Copy weights from `source` into `model`, leaving a head of another shape untouched.

    Takes a netspec training checkpoint, netspec's .safetensors, or a foreign state_dict
    file (matched by structure through the backend's weight import). Returns a report.
    """
    path = Path(source)
    if not path.is_file():
        raise TrainError(f"--init: no such weights file: {path}")
    state: Any = path
    if path.suffix == ".pt":
        # A training checkpoint carries more than weights; hand the backend just the model's state.
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # unpickling raises many types; say which file and why
            raise TrainError(f"--init {path}: not a readable torch file ({type(exc).__name__})") from None
        if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
            state = obj["model"]
    try:
        from netspec.backends.torch import WeightsError, load_weights
    except ImportError:  # a hand-written model outside netspec: plain name matching
        return _load_by_name(model, state)
    if not hasattr(model, "network"):
        return _load_by_name(model, state)
    try:
        report = load_weights(model, state, strict=False)
    except WeightsError as exc:
        raise TrainError(f"--init {path}: {exc}") from None
    if not report.matched:
        raise TrainError(f"--init {path}: none of its tensors fit this network", help=str(report))
    return str(report)


def _load_by_name(model: nn.Module, state: Any) -> str:
    if isinstance(state, Path):
        state = torch.load(state, map_location="cpu", weights_only=True)
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not fitting:
        raise TrainError("--init: none of its tensors fit this network")
    model.load_state_dict(fitting, strict=False)
    skipped = sorted(set(own) - set(fitting))
    return f"loaded {len(fitting)} tensors" + (f"; kept fresh: {', '.join(skipped)}" if skipped else "")


def layer_paths(model: nn.Module) -> list[str]:
    """Paths of the modules that own parameters, in definition order (the IR's order)."""
    network = getattr(model, "network", None)
    own = {name for name, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))}
    if network is not None:
        from netspec import ir

        ordered = [n.path for n in ir.layers(network.body)]
        return [p for p in ordered if p in own] + sorted(own - set(ordered))
    return [name for name, m in model.named_modules() if name in own]


def frozen_paths(model: nn.Module, freeze: str) -> list[str]:
    """The parameter-owning module paths that `--freeze` selects (see the module docstring)."""
    paths = layer_paths(model)
    labels = _labels(model)
    chosen: set[str] = set()
    for item in (s.strip() for s in freeze.split(",")):
        if not item:
            continue
        if GLOB_CHARS & set(item):
            hit = [p for p in paths if fnmatch.fnmatchcase(p, item) or fnmatch.fnmatchcase(p, item + ".*")]
            if not hit:
                raise TrainError(f"--freeze {item!r} matches no layer with weights",
                                 help=f"layers: {', '.join(paths[:12])}{' ...' if len(paths) > 12 else ''}")
            chosen.update(hit)
            continue
        scope = labels.get(item, item)
        inside = [i for i, p in enumerate(paths) if p == scope or p.startswith(scope + ".")]
        if not inside:
            from netspec.diagnostics import did_you_mean

            raise TrainError(f"--freeze {item!r}: no layer with weights has that label or path",
                             help=did_you_mean(item, list(labels) + paths)
                             or f"layers: {', '.join(paths[:12])}{' ...' if len(paths) > 12 else ''}")
        chosen.update(paths[: max(inside) + 1])
    return [p for p in paths if p in chosen]


def _labels(model: nn.Module) -> dict[str, str]:
    """label -> scope path for every labelled node of the spec (labels are unique within a scope)."""
    network = getattr(model, "network", None)
    if network is None:
        return {}
    from netspec import ir

    out: dict[str, str] = {}
    for n in ir.walk(network.body):
        if n.label and n.label not in out:
            out[n.label] = n.path
    return out


def set_frozen(model: nn.Module, paths: list[str], frozen: bool) -> int:
    """Switch requires_grad for the parameters of `paths`; returns how many values that covers."""
    modules = dict(model.named_modules())
    count = 0
    for p in paths:
        for param in modules[p].parameters(recurse=False):
            param.requires_grad_(not frozen)
            count += param.numel()
    return count


def frozen_norms(model: nn.Module, paths: list[str]) -> list[nn.Module]:
    """The batch norms among `paths`: training keeps them in eval mode while they are frozen."""
    modules = dict(model.named_modules())
    return [modules[p] for p in paths if isinstance(modules[p], nn.modules.batchnorm._BatchNorm)]
