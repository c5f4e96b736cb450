"""The trainer's epoch as a share of the machine's own matrix-multiply rate, on any host.

In one process: the float32 ``torch.matmul`` rate of this machine (two 2048 × 2048 matrices, the
threads PyTorch uses), then one real epoch of ``fit`` — augmentation, every training step and the
evaluation of the test set — for each model with the recipe the book trains it with. The work of
an epoch is counted from each model's multiply-adds per image (torchinfo): a training image costs
a forward pass and a backward pass of about twice its work (gradients of the inputs and of the
weights), 3 × 2 × MACs floating-point operations; a test image 2 × MACs.

    MNIST_ROOT=../shared/mnist python bench/speed.py
    MNIST_ROOT=../shared/mnist python bench/speed.py --models net --profile 50
    MNIST_ROOT=../shared/mnist python bench/speed.py --models net --compile 100

Measured on the 2-core Intel Xeon CI host (torch 2.14.1, 2 threads): matmul 393 GFLOP/s; the
epoch of ``net`` 19.9 s, 23.0 % of it; ``tiny`` (batch 128) 10.5 s, 9.6 %. ``--compile 50``:
``torch.compile`` (inductor, forward and backward) left ``net``'s step where it was (20.5 ms
eager, 20.6 ms compiled, after 24.6 s of compiling) and took ``tiny``'s from 20.5 to 19.2 ms
(after 9.4 s): the time is in the convolutions themselves, not in the pointwise operators
around them, so fusing those buys little.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time

import torch
import torch.nn.functional as F

from nnbook.mnist import load
from nnbook.mnist.journey import recipe_for
from nnbook.mnist.models import MODELS, build_model, model_summaries
from nnbook.mnist.trainer import fit, pick_device


def matmul_gflops(size: int = 2048, repeats: int = 20, device: str = "cpu") -> float:
    """Best-of rate of ``torch.matmul`` of two size × size float32 matrices, in GFLOP/s."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    best = float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        torch.matmul(a, b)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def epoch_flop(macs_per_image: int, train_images: int, test_images: int) -> float:
    """Floating-point operations of one epoch: training images 3 × 2 × MACs, test ones 2 × MACs."""
    return 6 * macs_per_image * train_images + 2 * macs_per_image * test_images


def profile_steps(model: str, steps: int, batch_size: int, device: torch.device) -> str:
    """torch.profiler's table of the operators that take the time in ``steps`` training steps."""
    from torch.profiler import ProfilerActivity, profile

    network = build_model(model, device).train()
    optimizer = torch.optim.SGD(network.parameters(), lr=0.01, momentum=0.9)
    images = torch.randn(batch_size, 1, 28, 28, device=device)
    labels = torch.randint(0, 10, (batch_size,), device=device)
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    for _ in range(5):  # warm-up
        optimizer.zero_grad(set_to_none=True)
        F.nll_loss(network(images), labels).backward()
        optimizer.step()
    with profile(activities=activities) as profiler:
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            F.nll_loss(network(images), labels).backward()
            optimizer.step()
    return profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)


def step_seconds(
    model: str, steps: int, batch_size: int, device: torch.device, compiled: bool
) -> tuple[float, float]:
    """(seconds per training step on random images, seconds spent compiling) for ``model``,
    its forward and backward passes compiled by ``torch.compile`` (inductor) or not."""
    network = build_model(model, device).train()
    optimizer = torch.optim.SGD(network.parameters(), lr=0.01, momentum=0.9)
    forward = torch.compile(network) if compiled else network
    images = torch.randn(batch_size, 1, 28, 28, device=device).contiguous(
        memory_format=getattr(network, "memory_format", torch.contiguous_format)
    )
    labels = torch.randint(0, 10, (batch_size,), device=device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.nll_loss(forward(images), labels).backward()
        optimizer.step()

    started = time.perf_counter()
    step()  # compiles, when compiled
    compiling = time.perf_counter() - started
    for _ in range(5):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps, compiling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=list(MODELS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, help="override each recipe's batch size")
    parser.add_argument("--profile", type=int, metavar="STEPS", help="also profile STEPS steps")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--compile", type=int, metavar="STEPS",
        help="also time STEPS training steps with and without torch.compile",
    )  # fmt: skip
    args = parser.parse_args()
    device = pick_device(args.device)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    rate = matmul_gflops(device=device.type)
    data = load()
    sizes = model_summaries()
    rows = []
    for model in args.models:
        recipe = dataclasses.replace(recipe_for(model), epochs=1)
        if args.batch_size:
            recipe = dataclasses.replace(recipe, batch_size=args.batch_size)
        result = fit(data.train, data.test, recipe, seed=1, device=str(device), model=model)
        seconds = result.history[0].seconds
        work = epoch_flop(int(sizes.loc[model, "MACs per image"]), len(data.train), len(data.test))
        rows.append(
            {
                "model": model,
                "batch size": recipe.batch_size,
                "seconds per epoch": round(seconds, 2),
                "GFLOP/s": round(work / seconds / 1e9, 1),
                "% of matmul": round(100 * work / seconds / 1e9 / rate, 1),
            }
        )
    report = {
        "cpu": cpu,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "matmul GFLOP/s": round(rate, 1),
        "epochs": rows,
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"{cpu}; {device}, {report['threads']} threads, torch {torch.__version__}")
        print(f"float32 matmul 2048×2048: {rate:.1f} GFLOP/s")
        for row in rows:
            print(
                f"{row['model']:>10}: batch {row['batch size']:3d}, "
                f"{row['seconds per epoch']:6.2f} s per epoch, {row['GFLOP/s']:6.1f} GFLOP/s, "
                f"{row['% of matmul']:5.1f} % of matmul"
            )
    if args.compile:
        for model in args.models:
            batch = args.batch_size or recipe_for(model).batch_size
            macs = int(sizes.loc[model, "MACs per image"])
            for compiled in (False, True):
                seconds, compiling = step_seconds(model, args.compile, batch, device, compiled)
                share = 100 * 6 * macs * batch / seconds / 1e9 / rate
                print(
                    f"{model:>10}: batch {batch}, {'compiled' if compiled else 'eager':>8}: "
                    f"{1000 * seconds:6.1f} ms per step, {share:5.1f} % of matmul "
                    f"(first step {compiling:5.1f} s)"
                )
    if args.profile:
        for model in args.models:
            batch = args.batch_size or recipe_for(model).batch_size
            print(f"\n{model}, {args.profile} steps of batch {batch}:")
            print(profile_steps(model, args.profile, batch, device))


if __name__ == "__main__":
    main()
