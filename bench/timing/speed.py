"""The trainer's epoch as a share of the machine's own matrix-multiply rate, on any host.

In one process: the float32 ``torch.matmul`` rate of this machine (two 2048 × 2048 matrices, the
threads PyTorch uses; the better of a measurement before the epochs and one after them, as a
shared host's clock varies), then for each model, with the recipe the book trains it with:

- one real epoch of ``fit``: augmentation, every training step, the evaluation of the test set;
- its convolutions alone, each on random tensors of the shape and batch the epoch gives it,
  forward and backward: the fastest epoch the model's layers allow, so their share of the matmul
  rate is the ceiling of the epoch's;
- a profile of training steps: each operator's CPU time, grouped by what it does.

The work of an epoch is counted from each model's multiply-adds per image (torchinfo): a training
image costs a forward pass and a backward pass of about twice its work (gradients of the inputs
and of the weights), 3 × 2 × MACs floating-point operations; a test image 2 × MACs.

    python -m bench.timing.speed
    python -m bench.timing.speed --variants 50 \\
        --record bench/results/speed.jsonl
    python -m bench.timing.speed --models net --profile 50

``--variants`` also times training steps as the trainer runs them, compiled by ``torch.compile``
(inductor) and under bfloat16 autocast; ``--record PATH`` appends the report as one line to a
JSON-lines file. The measurements are the lines of ``bench/results/speed.jsonl``, one per machine
measured, which the appendix "Why a CPU is enough" tables in its section on where an epoch's
time goes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import time
from collections.abc import Iterator

import torch

from bench.common import (
    add_record_flag,
    add_threads_flag,
    best_seconds,
    positive_int,
    training_step,
    use_threads,
)
from bench.provenance import append_record, provenance
from nnbook.mnist import load
from nnbook.mnist.environment import pick_device
from nnbook.mnist.hardware import bfloat16_in_hardware
from nnbook.mnist.networks import MODELS, build_model
from nnbook.mnist.recipes import Recipe, recipe_for
from nnbook.mnist.summaries import model_summaries
from nnbook.mnist.targets import CPU_TARGET_SHARE
from nnbook.mnist.trainer import (
    CUDA_EVAL_BATCH_SIZE,
    EVAL_BATCH_SIZE,
    FitOptions,
    fit,
    network_for,
)


def matmul_gflops(size: int = 2048, repeats: int = 20, device: str = "cpu") -> float:
    """Best-of rate of ``torch.matmul`` of two size × size float32 matrices, in GFLOP/s."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    return 2 * size**3 / best_seconds(lambda: torch.matmul(a, b), repeats, a.device) / 1e9


def epoch_flop(macs_per_image: int, train_images: int, test_images: int) -> float:
    """Floating-point operations of one epoch: training images 3 × 2 × MACs, test ones 2 × MACs."""
    return 6 * macs_per_image * train_images + 2 * macs_per_image * test_images


#: Training steps profiled for the report's breakdown of a step by kind of operator.
PROFILED_STEPS = 20
#: What each operator of a CPU training step does, by the start of its name in torch.profiler.
OPERATOR_KINDS = {
    "convolution": ("aten::convolution_backward", "aten::mkldnn_convolution"),
    "batch norm": ("aten::native_batch_norm",),
    "ReLU": ("aten::clamp_min", "aten::threshold_backward", "aten::relu"),
    "pooling": ("aten::max_pool2d", "aten::avg_pool2d", "aten::fill_"),
    "dropout": ("aten::bernoulli_", "aten::native_dropout"),
    "update": ("Optimizer.", "aten::_foreach_"),
}


def profiled_steps(
    model: str, steps: int, batch_size: int, device: torch.device, recipe: Recipe | None = None
) -> torch.profiler.profile:
    """torch.profiler's record of ``steps`` training steps of ``model`` on random images, as
    ``recipe`` (by default the one the book trains it with) trains it: the trainer's optimiser,
    and the recipe's dropout, average and precision."""
    from torch.profiler import ProfilerActivity, profile

    recipe = recipe or recipe_for(model)
    step = training_step(network_for(model, recipe, device).train(), recipe, batch_size)
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)

    for _ in range(5):  # warm-up
        step()
    with profile(activities=activities) as profiler:
        for _ in range(steps):
            step()
    return profiler


def operator_kind(name: str) -> str:
    """The entry of ``OPERATOR_KINDS`` whose prefixes ``name`` starts with, else "other"."""
    for kind, prefixes in OPERATOR_KINDS.items():
        if name.startswith(prefixes):
            return kind
    return "other"


def step_time_by_kind(
    model: str, steps: int, batch_size: int, device: torch.device, recipe: Recipe | None = None
) -> dict[str, float]:
    """Milliseconds of CPU time per training step spent in each kind of operator (self time).

    The max-pooling backward pass zeroes its output with ``fill_``, so ``fill_`` counts as
    pooling; anything not named in ``OPERATOR_KINDS`` (autograd's bookkeeping, the loss,
    allocations) is "other".
    """
    events = profiled_steps(model, steps, batch_size, device, recipe).key_averages()
    by_kind = dict.fromkeys([*OPERATOR_KINDS, "other"], 0.0)
    for event in events:
        by_kind[operator_kind(event.key)] += event.self_cpu_time_total / 1000 / steps
    return {kind: round(ms, 3) for kind, ms in by_kind.items()}


def convolution_inputs(model: str, device: torch.device) -> list[tuple[torch.nn.Conv2d, tuple]]:
    """Each ``nn.Conv2d`` of ``model`` with the shape of its input for one image, in order."""
    network = build_model(model, device).train()
    seen: list[tuple[torch.nn.Conv2d, tuple]] = []
    hooks = [
        module.register_forward_hook(lambda m, args, out: seen.append((m, args[0].shape[1:])))
        for module in network.modules()
        if isinstance(module, torch.nn.Conv2d)
    ]
    with torch.no_grad():
        zeros = torch.zeros(2, 1, 28, 28, device=device)
        network(zeros.contiguous(memory_format=network.memory_format))
    for hook in hooks:
        hook.remove()
    return seen


def convolution_seconds(
    model: str, batch_size: int, device: torch.device, repeats: int = 20
) -> tuple[float, float]:
    """(seconds of a training step's convolutions, seconds of their forward passes alone).

    Each convolution of ``model`` runs on random tensors of the shape it sees at ``batch_size``,
    in the model's memory format: forward, then backward to its weights, its bias if any and
    (except for the first layer, whose input is the images) its input — the work a training
    step does in the convolutions and nothing else. Best of ``repeats`` for each layer, summed.
    """
    memory_format = MODELS[model].memory_format
    train = forward = 0.0
    for index, (conv, shape) in enumerate(convolution_inputs(model, device)):
        images = torch.randn(batch_size, *shape, device=device)
        images = images.contiguous(memory_format=memory_format).requires_grad_(index > 0)
        wanted = list(conv.parameters()) + ([images] if index > 0 else [])
        gradient = torch.randn_like(conv(images))

        def forward_only(conv=conv, images=images) -> None:
            with torch.no_grad():
                conv(images)

        def forward_backward(conv=conv, images=images, wanted=wanted, gradient=gradient) -> None:
            torch.autograd.grad(conv(images), wanted, gradient)

        forward += best_seconds(forward_only, repeats, device)
        train += best_seconds(forward_backward, repeats, device)
    return train, forward


def convolution_ceiling(
    model: str,
    batch_size: int,
    train_images: int,
    test_images: int,
    device: torch.device,
    eval_batch_size: int = EVAL_BATCH_SIZE,
) -> float:
    """Seconds of an epoch's convolutions alone: the fastest epoch the model's layers allow.

    An epoch that also normalises, rectifies, pools, drops out, augments and updates the weights
    takes longer; its share of the matmul rate is at most the one this time gives.
    """
    train, _ = convolution_seconds(model, batch_size, device)
    _, forward = convolution_seconds(model, eval_batch_size, device)
    return train * train_images / batch_size + forward * test_images / eval_batch_size


#: The ways ``--variants`` runs a training step: as the trainer does, with the forward and
#: backward passes compiled by ``torch.compile`` (inductor), under bfloat16 autocast, with the
#: network and its images in the other memory format than the one its class names
#: (channels-last for NCHW, NCHW for channels-last), or with oneDNN turned off (PyTorch's own
#: CPU kernels for convolutions and batch norm instead of the library's).
VARIANTS = ("eager", "compiled", "bfloat16", "other memory format", "without oneDNN")
#: Each memory format and the other one.
OTHER_FORMAT = {
    torch.channels_last: torch.contiguous_format,
    torch.contiguous_format: torch.channels_last,
}


def variant_memory_format(network: torch.nn.Module, variant: str) -> torch.memory_format:
    """The memory format ``variant`` runs ``network`` in: its class's, or for ``"other memory
    format"`` the other one, into which the network is then moved."""
    memory_format = network.memory_format
    if variant == "other memory format":
        memory_format = OTHER_FORMAT[memory_format]
        network.to(memory_format=memory_format)
    return memory_format


@contextlib.contextmanager
def variant_kernels(variant: str) -> Iterator[None]:
    """A context in which ``variant``'s kernels run: oneDNN turned off for ``"without oneDNN"``
    (and as it was after it), nothing changed otherwise. Only that flag is set: setting oneDNN's
    TF32 flag too, as ``torch.backends.mkldnn.flags`` does, warns on a CPU."""
    if variant != "without oneDNN":
        yield
        return
    enabled = torch.backends.mkldnn.set_flags(False, None, None, None)[0]
    try:
        yield
    finally:
        torch.backends.mkldnn.set_flags(enabled, None, None, None)


def step_seconds(
    model: str, steps: int, batch_size: int, device: torch.device, variant: str = "eager"
) -> tuple[float, float]:
    """(seconds per training step on random images, seconds of the first step) for ``model``
    run as ``variant`` (one of ``VARIANTS``); the first step is where compiling happens."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    # the recipe's optimiser and average; bfloat16 only as the variant of that name (on a GPU,
    # autocast around the step), so that each variant changes one thing
    recipe = dataclasses.replace(recipe_for(model), cpu_bfloat16=variant == "bfloat16")
    network = network_for(model, recipe, device).train()
    memory_format = variant_memory_format(network, variant)
    forward = torch.compile(network) if variant == "compiled" else None
    one_step = training_step(network, recipe, batch_size, memory_format, forward)
    on_gpu = variant == "bfloat16" and device.type == "cuda"

    def step() -> None:
        with torch.autocast(device.type, torch.bfloat16, enabled=on_gpu):
            one_step()

    with variant_kernels(variant):
        started = time.perf_counter()
        step()  # compiles, when compiled
        first = time.perf_counter() - started
        for _ in range(5):
            step()
        started = time.perf_counter()
        for _ in range(steps):
            step()
        return (time.perf_counter() - started) / steps, first


def epoch_row(model: str, batch_size: int | None, device: torch.device) -> dict:
    """One real epoch of ``model`` with its recipe (at ``batch_size`` if given): its seconds and
    GFLOP/s, those of its convolutions alone (the ceiling), and a step's time by operator."""
    # one epoch as most of a run's are: augmented, whatever the recipe's last epochs see
    recipe = dataclasses.replace(recipe_for(model), epochs=1, clean_last_epochs=0)
    if batch_size:
        recipe = dataclasses.replace(recipe, batch_size=batch_size)
    data = load()
    macs = int(model_summaries().loc[model, "MACs per image"])
    result = fit(
        data.train, data.test, recipe, seed=1, model=model, options=FitOptions(device=str(device))
    )
    seconds = result.history[0].seconds
    work = epoch_flop(macs, len(data.train), len(data.test))
    eval_batch = CUDA_EVAL_BATCH_SIZE if device.type == "cuda" else EVAL_BATCH_SIZE
    ceiling = convolution_ceiling(
        model, recipe.batch_size, len(data.train), len(data.test), device, eval_batch
    )
    return {
        "model": model,
        "recipe": dataclasses.asdict(recipe),
        "MACs per image": macs,
        "batch size": recipe.batch_size,
        "seconds per epoch": round(seconds, 2),
        "GFLOP/s": round(work / seconds / 1e9, 1),
        "convolutions alone, s": round(ceiling, 2),
        "convolutions alone, GFLOP/s": round(work / ceiling / 1e9, 1),
        "step ms by kind": step_time_by_kind(model, PROFILED_STEPS, recipe.batch_size, device),
    }


def variant_rows(
    model: str, steps: int, batch_size: int | None, rate: float, device: torch.device
) -> list[dict]:
    """``steps`` training steps of ``model`` run as each of ``VARIANTS``, timed."""
    batch = batch_size or recipe_for(model).batch_size
    macs = int(model_summaries().loc[model, "MACs per image"])
    rows = []
    for variant in VARIANTS:
        seconds, first = step_seconds(model, steps, batch, device, variant)
        rows.append(
            {
                "model": model,
                "batch size": batch,
                "variant": variant,
                "ms per step": round(1000 * seconds, 2),
                "% of matmul": round(100 * 6 * macs * batch / seconds / 1e9 / rate, 1),
                "first step, s": round(first, 1),
            }
        )
    return rows


def print_report(report: dict) -> None:
    """The report as lines of text."""
    print(
        f"{report['cpu']} ({report['vector instructions']}); {report['device']}, "
        f"{report['threads']} threads, torch {report['torch']}"
    )
    print(
        f"float32 matmul 2048×2048: {report['matmul GFLOP/s']:.1f} GFLOP/s "
        f"(the CPU target: an epoch at {100 * CPU_TARGET_SHARE:.0f} % of it)"
    )
    for row in report["epochs"]:
        print(
            f"{row['model']:>10}: batch {row['batch size']:3d}, "
            f"{row['seconds per epoch']:6.2f} s per epoch, {row['GFLOP/s']:6.1f} GFLOP/s, "
            f"{row['% of matmul']:5.1f} % of matmul; its convolutions alone "
            f"{row['convolutions alone, s']:6.2f} s, {row['ceiling, % of matmul']:5.1f} %"
        )
        print(
            f"{'':>10}  a step's CPU time, ms: "
            + ", ".join(f"{kind} {ms:.2f}" for kind, ms in row["step ms by kind"].items())
        )
    for row in report.get("variants", []):
        print(
            f"{row['model']:>10}: batch {row['batch size']}, {row['variant']:>8}: "
            f"{row['ms per step']:6.1f} ms per step, {row['% of matmul']:5.1f} % of matmul "
            f"(first step {row['first step, s']:5.1f} s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=list(MODELS))
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--batch-size", type=positive_int, help="override each recipe's batch size"
    )
    parser.add_argument(
        "--profile", type=positive_int, metavar="STEPS", help="also profile STEPS steps"
    )
    parser.add_argument(
        "--variants", type=positive_int, metavar="STEPS",
        help="also time STEPS training steps eager, compiled and under bfloat16 autocast",
    )  # fmt: skip
    add_record_flag(parser, "bench/results/speed.jsonl")
    add_threads_flag(parser)
    args = parser.parse_args()
    use_threads(args)
    device = pick_device(args.device)
    origin = provenance(device)  # now: the commit and tree that run, not those at the end
    rate = matmul_gflops(device=device.type)
    epochs = [epoch_row(model, args.batch_size, device) for model in args.models]
    # A shared host's clock varies: the matmul rate is the best of a measurement before the
    # epochs and one after them, so that a slow moment does not flatter every share.
    rate = max(rate, matmul_gflops(device=device.type))
    for row in epochs:
        row["% of matmul"] = round(100 * row["GFLOP/s"] / rate, 1)
        row["ceiling, % of matmul"] = round(100 * row["convolutions alone, GFLOP/s"] / rate, 1)
    report = origin | {
        "bfloat16 in hardware": bfloat16_in_hardware(),
        "device": str(device),
        "matmul GFLOP/s": round(rate, 1),
        "epochs": epochs,
    }
    if args.variants:
        report["variants"] = [
            row
            for model in args.models
            for row in variant_rows(model, args.variants, args.batch_size, rate, device)
        ]
    if args.record:
        append_record(args.record, report)
    print_report(report)
    if args.profile:
        for model in args.models:
            batch = args.batch_size or recipe_for(model).batch_size
            print(f"\n{model}, {args.profile} steps of batch {batch}:")
            profiler = profiled_steps(model, args.profile, batch, device)
            print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
