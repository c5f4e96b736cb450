"""What ``keep_freed_memory`` saves: page faults and time per CPU training step of ``Net``.

Each measurement runs in a fresh Python process (``mallopt`` changes the allocator of a whole
process for good): warm-up steps, then ``--steps`` timed training steps on random images (the
trainer's own step, ``bench.common.training_step``), then a SHA-256 of the weights, to show that
the setting changes no number. It prints a table; ``--record PATH`` also appends the figures as
a JSON line (the book's appendix on performance runs it so as it is built, and reads that).

    python -m bench.timing.allocator --batch-size 64 --steps 10
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import subprocess
import sys
import time

import torch
from torch import nn

from bench.common import add_record_flag, positive_int, training_step
from bench.provenance import ROOT, append_record, provenance
from nnbook.mnist.allocator import keep_freed_memory
from nnbook.mnist.networks import DEFAULT_MODEL
from nnbook.mnist.networks.net import Net
from nnbook.mnist.recipes import recipe_for
from nnbook.mnist.trainer import network_for

WARM_UP_STEPS = 10  #: oneDNN picks its kernels, the heap grows to its working size (3 left
#: a tuned run page-faulting up to a few hundred times per step in the first 10 steps after it)


@dataclasses.dataclass(frozen=True)
class StepCost:
    """What training steps of ``Net`` cost in one fresh interpreter."""

    keep_freed: bool  #: whether ``keep_freed_memory`` was in effect
    seconds_per_step: float
    #: minor page faults (first touches of pages the kernel gave); None without ``resource``
    page_faults_per_step: float | None
    weights_sha256: str  #: digest of the weights after the steps, to show they are the same


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


def minor_page_faults() -> int | None:
    """Minor page faults of this process so far (None where ``resource`` is missing: Windows)."""
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def run_steps(batch_size: int, steps: int, keep_freed: bool) -> StepCost:
    """``steps`` training steps of ``Net`` in this process, as the trainer takes them with the
    default recipe in float32 (call it before anything else allocates)."""
    keep_freed = keep_freed and keep_freed_memory()  # before the first step allocates
    torch.manual_seed(0)
    recipe = dataclasses.replace(recipe_for(DEFAULT_MODEL), cpu_bfloat16=False)
    model = network_for(DEFAULT_MODEL, recipe).train()
    step = training_step(model, recipe, batch_size)
    for _ in range(WARM_UP_STEPS):
        step()
    faults, started = minor_page_faults(), time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - started
    after = minor_page_faults()
    weights = torch.cat([p.detach().flatten() for p in model.parameters()]).numpy()
    return StepCost(
        keep_freed,
        seconds / steps,
        None if faults is None or after is None else (after - faults) / steps,
        hashlib.sha256(weights.tobytes()).hexdigest(),
    )


def measure_steps(keep_freed: bool, batch_size: int, steps: int) -> StepCost:
    """``run_steps`` in a fresh Python process running this script."""
    command = [
        sys.executable, "-m", __spec__.name, "--child", "--batch-size", str(batch_size),
        "--steps", str(steps), *(["--keep-freed"] if keep_freed else []),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"measuring training steps failed:\n{done.stderr[-2000:]}")
    return StepCost(**json.loads(done.stdout))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--steps", type=positive_int, default=10)
    add_record_flag(parser, "none: the appendix on performance runs it as it is built")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keep-freed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        cost = run_steps(args.batch_size, args.steps, args.keep_freed)
        print(json.dumps(dataclasses.asdict(cost)))
        return
    shape, size = largest_activation(Net(), args.batch_size)
    plain = measure_steps(False, args.batch_size, args.steps)
    tuned = measure_steps(True, args.batch_size, args.steps)
    figures = {
        "batch_size": args.batch_size,
        "steps": args.steps,
        "largest_activation_shape": list(shape),
        "largest_activation_bytes": size,
        "plain": dataclasses.asdict(plain),
        "tuned": dataclasses.asdict(tuned),
    }
    if args.record:
        append_record(args.record, provenance("cpu") | figures)
    print(f"batch {args.batch_size}, {args.steps} steps; largest activation {shape}: {size:,} B")
    for name, cost in (("malloc as it comes", plain), ("malloc keeps freed memory", tuned)):
        faults = (
            "n/a" if cost.page_faults_per_step is None else f"{cost.page_faults_per_step:,.0f}"
        )
        print(
            f"{name:26s} {1000 * cost.seconds_per_step:7.1f} ms/step  {faults:>8s} faults/step"
            f"  weights {cost.weights_sha256[:16]}  (tuned: {cost.keep_freed})"
        )


if __name__ == "__main__":
    main()
