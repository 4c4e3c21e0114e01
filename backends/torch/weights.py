"""Weights in and out: foreign state_dicts matched by structure, netspec's own files by spec hash.

A foreign state_dict (torchvision, timm, a hand-written module) names its tensors its
own way, so names are not compared. Tensors are grouped by the module that owns them
(`features.0.weight` and `features.0.bias` belong to `features.0`), and the groups are
matched in definition order by their signature: the tensor names inside the module and
their shapes. (When every name and shape already agrees, as with netspec's own files,
tensors are simply loaded by name: safetensors files keep their keys sorted, not in
definition order.) When both sides list the same modules in the same order this is a zip;
otherwise the longest common subsequence is matched first, and what is left over is
matched in order by signature (torchvision's GoogLeNet defines its auxiliary heads after
the last inception block, where the spec places them beside the blocks they read).
Anything still unmatched is reported by name and shape.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from netspec.diagnostics import ResourceError
from netspec.files import atomic_path

OPTIONAL = ("num_batches_tracked",)  # BN step counters: absent from many checkpoints, never shape-checked
HASH_KEY = "netspec.spec_hash"
NAME_KEY = "netspec.network"


class WeightsError(ResourceError):
    """Weights that cannot go into this model, or a file that holds none; the message says why in plain
    words (exit status 3 from every command)."""


@dataclass
class Group:
    module: str
    tensors: dict[str, torch.Tensor]

    @property
    def signature(self) -> tuple:
        return tuple(sorted((k, plain_shape(v)) for k, v in self.tensors.items() if k not in OPTIONAL))

    def describe(self) -> str:
        shown = [f"{k} {list(v.shape)}" for k, v in self.tensors.items() if k not in OPTIONAL]
        return f"{self.module or '<root>'} (" + ", ".join(shown) + ")"


@dataclass
class LoadReport:
    matched: list[tuple[str, str]] = field(default_factory=list)  # (our module, their module)
    moved: list[tuple[str, str]] = field(default_factory=list)  # matched, but out of definition order
    missing: list[str] = field(default_factory=list)  # our modules that got no weights
    unexpected: list[str] = field(default_factory=list)  # their modules left unused
    tensors: int = 0
    source: str = "state_dict"

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unexpected

    def __str__(self) -> str:
        lines = [f"loaded {self.tensors} tensors into {len(self.matched)} modules from {self.source}"]
        if self.moved:
            lines.append(f"{len(self.moved)} modules matched out of definition order, e.g. "
                         + ", ".join(f"{a} <- {b}" for a, b in self.moved[:3]))
        if self.missing:
            lines.append(f"{len(self.missing)} of this model's modules found nothing of the same shape:")
            lines += [f"  ours:   {m}" for m in self.missing[:10]]
        if self.unexpected:
            lines.append(f"{len(self.unexpected)} modules in the weights were left unused:")
            lines += [f"  theirs: {m}" for m in self.unexpected[:10]]
        return "\n".join(lines)


def plain_shape(tensor: torch.Tensor) -> tuple[int, ...]:
    """A weight's shape without the 1x1 kernel of a pointwise conv: a 1x1 conv's (out, in, 1, 1) is the
    same tensor as a linear layer's (out, in) (ConvNeXt writes its 1x1 convs as nn.Linear on channels-last
    maps), so each imports into the other."""
    shape = tuple(tensor.shape)
    return shape[:2] if len(shape) == 4 and shape[2:] == (1, 1) else shape


def groups(state: Mapping[str, torch.Tensor]) -> list[Group]:
    out: dict[str, Group] = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        module, _, name = key.rpartition(".")
        out.setdefault(module, Group(module, {})).tensors[name] = value
    return list(out.values())


def tokens(name: str) -> frozenset[str]:
    return frozenset(t for t in re.split(r"[._]", name.lower()) if t)


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the name tokens: breaks ties between modules of the same signature."""
    ta, tb = tokens(a), tokens(b)
    return len(ta & tb) / len(ta | tb) if ta or tb else 0.0


def lcs_pairs(a: list[Group], b: list[Group]) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence of two group lists, by signature.

    Among equally long subsequences the one whose paired names are most alike wins (each
    pair scores 1 + half its name similarity), so that of two identical classifier heads
    the one called `fc` goes to `fc`.
    """
    n, m = len(a), len(b)
    sa, sb = [g.signature for g in a], [g.signature for g in b]
    table = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, below = table[i], table[i + 1]
        for j in range(m - 1, -1, -1):
            best = below[j] if below[j] >= row[j + 1] else row[j + 1]
            if sa[i] == sb[j]:
                take = below[j + 1] + 1 + 0.5 * similarity(a[i].module, b[j].module)
                best = take if take > best else best
            row[j] = best
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if sa[i] == sb[j] and table[i][j] == table[i + 1][j + 1] + 1 + 0.5 * similarity(a[i].module, b[j].module):
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def match(ours: list[Group], theirs: list[Group]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(in-order pairs, out-of-order pairs) of group indices."""
    a = [g.signature for g in ours]
    b = [g.signature for g in theirs]
    if a == b:
        return [(i, i) for i in range(len(a))], []
    pairs = lcs_pairs(ours, theirs)
    used_a = {i for i, _ in pairs}
    used_b = {j for _, j in pairs}
    rest_b = [j for j in range(len(b)) if j not in used_b]
    moved = []
    for i in range(len(a)):
        if i in used_a:
            continue
        candidates = [j for j in rest_b if b[j] == a[i]]
        if candidates:  # the most alike name; the earliest among equals
            j = max(candidates, key=lambda j: (similarity(ours[i].module, theirs[j].module), -j))
            moved.append((i, j))
            rest_b.remove(j)
    return pairs, moved


def read_state(source: Any) -> tuple[dict[str, torch.Tensor], dict[str, str], str]:
    """(state_dict, metadata, description) from a state_dict, a module, or a file."""
    if isinstance(source, nn.Module):
        return source.state_dict(), {}, type(source).__name__
    if isinstance(source, Mapping):
        return dict(source), {}, "state_dict"
    path = Path(source)
    if not path.is_file():
        raise WeightsError(f"no such weights file: {path}")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                state = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as exc:  # SafetensorError, or OSError: a truncated or corrupt file
            raise WeightsError(f"{path} is not a readable .safetensors file: {exc}".splitlines()[0]) from None
        return state, meta, str(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors come in many types; the user needs the file and the reason
        raise WeightsError(f"cannot read {path} as a torch checkpoint with weights_only=True: {exc}") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path} holds a {type(obj).__name__}, not a state_dict")
    return tensors(obj, str(path)), {}, str(path)


def tensors(state: Mapping, source: str) -> dict[str, torch.Tensor]:
    """`state` as a state_dict, or a WeightsError naming the first entry that is not a named tensor
    (a forged file's `{"format": ...}` must not reach the structural match as if it were one)."""
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise WeightsError(f"{source} is not a state_dict: its entry {str(key)[:60]!r} is a "
                               f"{type(value).__name__}, not a tensor")
    return dict(state)


def load_exact(model: nn.Module, state: Mapping, source: str) -> None:
    """Load a state_dict saved from this very architecture (a checkpoint's `model`), or say what differs."""
    state = tensors(state, source)
    own = model.state_dict()
    missing = [k for k in own if k not in state and k.rpartition(".")[2] not in OPTIONAL]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {list(state[k].shape)} (the model's is {list(own[k].shape)})" for k in own
             if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        lines = ([f"missing: {', '.join(missing[:8])}"] if missing else []) + \
                ([f"unexpected: {', '.join(unexpected[:8])}"] if unexpected else []) + \
                ([f"wrong shape: {'; '.join(wrong[:8])}"] if wrong else [])
        raise WeightsError(f"the weights in {source} do not fit this network:\n  " + "\n  ".join(lines))
    model.load_state_dict(state, strict=False)


def load_weights(model: nn.Module, state_dict_or_path: Any, strict: bool = True) -> LoadReport:
    """Copy weights into `model`; raises WeightsError (strict) or reports what did not line up."""
    state, meta, source = read_state(state_dict_or_path)
    network = getattr(model, "network", None)
    ours_hash = getattr(network, "spec_hash", "") or ""
    theirs_hash = meta.get(HASH_KEY, "")
    if ours_hash and theirs_hash and ours_hash != theirs_hash:
        raise WeightsError(
            f"{source} was saved from network {meta.get(NAME_KEY, '?')!r} (spec hash {theirs_hash[:12]}), "
            f"but this model is {network.name!r} (spec hash {ours_hash[:12]}): a different architecture. "
            "Build the spec the weights were saved from, or import them with a state_dict to match by structure.")
    own = model.state_dict()
    report = LoadReport(source=source)
    if _same_names(own, state):  # our own files, or a module written with the same names: no guessing
        with torch.no_grad():
            for key, tensor in own.items():
                if key in state:
                    tensor.copy_(state[key])
                    report.tensors += 1
        report.matched = [(g.module, g.module) for g in groups(own)]
        return report
    ours, theirs = groups(own), groups(state)
    pairs, moved = match(ours, theirs)
    with torch.no_grad():
        for i, j in pairs + moved:
            for name, tensor in ours[i].tensors.items():
                if name in theirs[j].tensors:
                    tensor.copy_(theirs[j].tensors[name].reshape(tensor.shape))
                    report.tensors += 1
            report.matched.append((ours[i].module, theirs[j].module))
    report.moved = [(ours[i].module, theirs[j].module) for i, j in moved]
    used_a = {i for i, _ in pairs + moved}
    used_b = {j for _, j in pairs + moved}
    report.missing = [g.describe() for i, g in enumerate(ours) if i not in used_a]
    report.unexpected = [g.describe() for j, g in enumerate(theirs) if j not in used_b]
    if strict and not report.ok:
        raise WeightsError(f"the weights do not fit {getattr(network, 'name', type(model).__name__)}:\n{report}")
    return report


def _same_names(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> bool:
    required = {k for k in own if k.rpartition(".")[2] not in OPTIONAL}
    present = {k for k in state if k.rpartition(".")[2] not in OPTIONAL}
    return required == present and all(tuple(own[k].shape) == tuple(state[k].shape) for k in required)


def save_weights(model: nn.Module, path: str | os.PathLike) -> Path:
    """netspec's own format: safetensors, with the spec hash so loading checks the architecture."""
    from safetensors.torch import save_file

    path = Path(path)
    network = getattr(model, "network", None)
    meta = {"format": "pt"}
    if network is not None:
        meta[HASH_KEY] = network.spec_hash
        meta[NAME_KEY] = network.name
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return path
