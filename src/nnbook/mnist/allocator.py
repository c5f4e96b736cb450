"""Keep freed memory for reuse, so CPU training does not page-fault on every batch.

A training step allocates and frees the same large activations (``[128, 32, 28, 28]`` floats are
12.8 MB) again and again. glibc's ``malloc`` hands blocks that large to ``mmap`` and gives them
back to the kernel when they are freed, so every step touches fresh pages, and each first touch
is a page fault. On this book's 2-core virtual machines that made a step of batch 128 take 1.5
to 2.7 times as long (batch 64: 1.3 to 1.6 times).

``keep_freed_memory`` sets two ``mallopt`` parameters: blocks up to 32 MB come from the heap, not
``mmap``, and the heap is never trimmed, so freed blocks are reused. This is what PyTorch's
performance guide gets by preloading jemalloc or tcmalloc, done in-process so that a notebook
kernel gets it too. It changes no numbers, only where memory comes from.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nnbook.mnist.model import Net

#: ``mallopt`` parameter numbers from glibc's ``<malloc.h>``.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: glibc accepts at most HEAP_MAX_SIZE / 2 = 32 MB for the mmap threshold on 64-bit systems.
MMAP_THRESHOLD = 32 * 1024 * 1024
#: The largest value ``mallopt`` takes (a C int): trimming the heap then never happens.
NEVER_TRIM = 2**31 - 1

_applied = False


def keep_freed_memory() -> bool:
    """Tune glibc ``malloc`` to reuse freed blocks; True when it is (now or already) tuned.

    Returns False, changing nothing, where the C library is not glibc (macOS, Windows, musl).
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success and 0 on failure.
    _applied = bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, NEVER_TRIM)
    )
    return _applied


def largest_activation(model: nn.Module, batch_size: int) -> tuple[tuple[int, ...], int]:
    """Shape and size in bytes of the largest output of any layer of ``model`` for one batch."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    outputs: list[tuple[tuple[int, ...], int]] = []

    def record(_module: nn.Module, _inputs: object, out: torch.Tensor) -> None:
        outputs.append((tuple(out.shape), out.numel() * out.element_size()))

    hooks = [
        module.register_forward_hook(record)
        for module in model.modules()
        if not list(module.children())  # leaf layers: convolutions, ReLUs, BN, pooling …
    ]
    try:
        with torch.no_grad():
            model(torch.zeros(batch_size, 1, 28, 28))
    finally:
        for hook in hooks:
            hook.remove()
    return max(outputs, key=lambda output: output[1])


@dataclass(frozen=True)
class StepCost:
    """What training steps of ``Net`` cost in one fresh interpreter."""

    keep_freed: bool  #: whether ``keep_freed_memory`` was in effect
    seconds_per_step: float
    page_faults_per_step: float  #: minor page faults: first touches of pages the kernel gave
    weights_sha256: str  #: digest of the weights after the steps, to show they are the same


def measure_steps(keep_freed: bool, batch_size: int = 128, steps: int = 10) -> StepCost:
    """Time ``steps`` SGD steps of ``Net`` on random images, in a fresh Python process.

    A fresh process, because ``mallopt`` changes the allocator of the whole process for good.
    """
    if batch_size <= 0 or steps <= 0:
        raise ValueError(f"batch_size and steps must be positive, got {batch_size}, {steps}")
    script = (
        "import json, sys, dataclasses\n"
        "from nnbook.mnist.allocator import run_steps\n"
        "print(json.dumps(dataclasses.asdict(run_steps(*map(int, sys.argv[1:])))))"
    )
    command = [sys.executable, "-c", script, str(batch_size), str(steps), str(int(keep_freed))]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measuring training steps failed:\n{done.stderr[-2000:]}")
    return StepCost(**json.loads(done.stdout))


def run_steps(batch_size: int, steps: int, keep_freed: bool) -> StepCost:
    """``steps`` SGD steps of ``Net`` in this process (call it before anything else allocates)."""
    import resource  # Unix only, like the tuning itself

    keep_freed = keep_freed and keep_freed_memory()  # before the first step allocates
    torch.manual_seed(0)
    model = Net().to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = torch.randn(batch_size, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (batch_size,))

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.nll_loss(model(images), labels).backward()
        optimizer.step()

    for _ in range(3):  # warm-up: oneDNN picks its kernels, the heap grows to its working size
        step()
    faults, started = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - started
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    weights = torch.cat([p.detach().flatten() for p in model.parameters()]).numpy()
    digest = hashlib.sha256(weights.tobytes()).hexdigest()
    return StepCost(keep_freed, seconds / steps, faults / steps, digest)
