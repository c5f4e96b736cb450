"""Where a run computes, set up once at its start: the device, the seed, deterministic kernels
and, on a CPU, how ``malloc`` keeps freed memory.

As pytorch/examples' MNIST script does: pick the device once, seed once; the training loop
(``nnbook.mnist.trainer``) then takes both as given.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping

import numpy as np
import torch

from nnbook.mnist.allocator import keep_freed_memory

DEVICES = ("auto", "cpu", "cuda")
#: The seed of the book's run, unless ``NNBOOK_SEED`` names another.
DEFAULT_SEED = 1
SEED_VARIABLE = "NNBOOK_SEED"


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` → CUDA when there is a GPU, else the CPU. Unknown or absent devices: ValueError."""
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but no CUDA GPU is available here")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def seed_from_environment(environ: Mapping[str, str] = os.environ) -> int:
    """The training seed: ``$NNBOOK_SEED`` when set (a whole number), else ``DEFAULT_SEED``."""
    text = environ.get(SEED_VARIABLE, "").strip()
    if not text:
        return DEFAULT_SEED
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{SEED_VARIABLE} must be a whole number, got {text!r}") from None


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch once, at the start of a run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def use_deterministic() -> None:
    """Deterministic kernels only, for repeatable CUDA runs (cuDNN's fastest add in any order).

    An operation with no deterministic version warns instead of failing. cuBLAS needs its
    workspace fixed before its first use in the process.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)


def prepare_device(device: str, deterministic: bool, tune_malloc: bool) -> torch.device:
    """Pick the device once, and set it up: deterministic kernels on request; on the CPU,
    ``malloc`` keeps freed memory (fewer page faults, faster steps, the same numbers)."""
    target = pick_device(device)
    if deterministic:
        use_deterministic()
    if tune_malloc and target.type == "cpu":
        keep_freed_memory()
    return target
