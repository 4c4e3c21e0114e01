"""Checkpoints that survive kill -9: everything needed to continue, written then renamed.

A checkpoint is one torch file holding the model's, optimizer's and scheduler's state,
the RNG states, the epochs done, the metrics so far, the data normalisation and the
spec's hash. It is written to a temporary file in the same folder, fsynced, and renamed
over the old one (`os.replace` is atomic on POSIX and Windows), so a reader, or a
`--resume` after a crash, sees the previous checkpoint or the new one, never half a file.
Only plain containers and tensors go in, so `torch.load(weights_only=True)` reads it.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch

from netspec.files import atomic_path
from .data import TrainError

FORMAT = "netspec-train-checkpoint"
VERSION = 1
LAST, BEST = "last.pt", "best.pt"


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(state: dict[str, Any], path: str | Path) -> Path:
    """Write `state` atomically (to a temporary file beside it, flushed, then renamed)."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "version": VERSION, **state}, tmp)
    return Path(path)


def load(path: str | Path, spec_hash: str | None = None) -> dict[str, Any]:
    """A checkpoint written by `save`; with `spec_hash`, refuse one from another architecture."""
    path = Path(path)
    if not path.is_file():
        raise TrainError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling raises many types; the person needs the file and the reason
        raise TrainError(f"{path} is not a readable checkpoint ({type(exc).__name__}: {exc})".splitlines()[0]) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise TrainError(f"{path} is not a netspec training checkpoint",
                         help="`netspec eval` also takes .safetensors weights saved by netspec")
    if state.get("version", 0) > VERSION:
        raise TrainError(f"{path} was written by a newer netspec (checkpoint version {state['version']})")
    if spec_hash and state.get("spec_hash") and state["spec_hash"] != spec_hash:
        raise TrainError(
            f"{path} was trained from a different architecture (spec hash {state['spec_hash'][:12]}, "
            f"this spec {spec_hash[:12]})",
            help=f"use the spec the checkpoint came from (a copy is in {path.parent / 'spec.net'})")
    return state


def deployed(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights to evaluate or ship: the EMA's when the run kept one (--ema), else the model's."""
    ema = state.get("ema")
    if not ema:
        return state["model"]
    return {k[len("module."):]: v for k, v in ema.items() if k.startswith("module.")}


# what `train` writes in every checkpoint, with the type it reads back
_FIELDS = {"model": dict, "optimizer": dict, "rng": dict, "epoch": int, "history": list, "data": str,
           "normalize": dict}


def check_fields(state: dict[str, Any], path: str | Path) -> None:
    """Before resuming or evaluating: a checkpoint that claims the format but lacks a field (or holds
    the wrong kind of value in one) is a WeightsError that names it, not a KeyError later."""
    from ..weights import WeightsError, tensors

    for key, kind in _FIELDS.items():
        if not isinstance(state.get(key), kind):
            got = "nothing" if key not in state else f"a {type(state[key]).__name__}"
            raise WeightsError(f"{path} is not a complete netspec checkpoint: `{key}` holds {got}, "
                               f"not a {kind.__name__}")
    tensors(state["model"], f"{path} (its model)")
