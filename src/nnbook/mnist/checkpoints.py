"""A run's files: the checkpoint a run resumes from, its history and its final weights, each
written atomically and read back with a clear error (``RunFileError``) when it is truncated or
corrupt.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from nnbook.files import atomic_write

CHECKPOINT = "checkpoint.pt"
HISTORY = "history.json"
MODEL = "model.pt"


class RunFileError(ValueError):
    """A run's file (checkpoint, weights, history) cannot be read: truncated or corrupt."""


def save_run_file(obj: object, path: Path) -> None:
    """Write ``obj`` (JSON or ``torch.save``) to ``path``; a crash never leaves half a file."""
    if path.suffix == ".json":
        atomic_write(
            path, lambda temporary: temporary.write_text(json.dumps(obj, indent=1) + "\n")
        )
    else:
        atomic_write(path, lambda temporary: torch.save(obj, temporary))


def load_run_file(path: Path) -> object:
    """A run's file as ``save_run_file`` wrote it (tensors on the CPU); a ``RunFileError`` naming
    the file when it is truncated or corrupt, never a traceback from deep inside PyTorch."""
    try:
        if path.suffix == ".json":
            return json.loads(path.read_text(encoding="utf-8"))
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError,
            zipfile.BadZipFile, UnicodeDecodeError) as error:  # fmt: skip
        raise RunFileError(
            f"{path} is truncated or corrupt ({type(error).__name__}); copy it again from "
            "where it was written, or delete the run's folder to train afresh"
        ) from None


def checkpoint(
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    history: list[dict],
    averaged: AveragedModel | None = None,
) -> dict:
    """Everything a resumed run needs to continue exactly: weights (and their average),
    optimiser, schedule, RNGs."""
    on_cuda = next(network.parameters()).device.type == "cuda"
    return {
        "model": network.state_dict(),
        "averaged": averaged.state_dict() if averaged is not None else None,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state() if on_cuda else torch.empty(0, dtype=torch.uint8),
        "generator": generator.get_state(),
        "history": history,
    }


def restore(
    state: Mapping,
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    averaged: AveragedModel | None = None,
) -> list[dict]:
    """Load a ``checkpoint`` (its tensors on any device) into a run; returns its history (one
    dict an epoch, as ``history.json`` holds it)."""
    network.load_state_dict(state["model"])
    if averaged is not None:
        averaged.load_state_dict(state["averaged"])
    optimizer.load_state_dict(state["optimizer"])  # moves the momenta to the network's device
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"].cpu())
    generator.set_state(state["generator"].cpu())
    if next(network.parameters()).device.type == "cuda" and len(state["cuda_rng"]):
        torch.cuda.set_rng_state(state["cuda_rng"].cpu())
    return state["history"]
