"""What the bench scripts share: one set of flags, one timing loop, one training step.

Every script that trains or writes a record takes the same flags, made here: ``--record PATH``
(append a JSON line to PATH), ``--seeds`` (or ``--evaluation-seeds``), ``--jobs`` (runs at a
time, each in a process of its own on one thread) and ``--threads`` (PyTorch's threads). A
script that times training steps times the trainer's own step (``training_step``), never one
written again here.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from nnbook.mnist.recipes import Recipe
from nnbook.mnist.targets import EVALUATION_SEEDS
from nnbook.mnist.trainer import average_of, make_optimizer, train_step


def positive_int(text: str) -> int:
    """A whole number of 1 or more, for argparse."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def add_record_flag(parser: argparse.ArgumentParser, record: str) -> None:
    """``--record PATH``: append the results as JSON lines to PATH (the book's: ``record``)."""
    parser.add_argument(
        "--record", type=Path, metavar="PATH",
        help=f"append the results as JSON lines to this file (the book's: {record})",
    )  # fmt: skip


def add_seed_flags(
    parser: argparse.ArgumentParser, default: list[int], evaluation: bool = True
) -> None:
    """``--seeds`` (selection seeds, ``default``) or ``--evaluation-seeds``, one or the other;
    ``evaluation=False``: ``--seeds`` alone (a script that chooses nothing)."""
    if not evaluation:
        parser.add_argument(
            "--seeds", type=int, nargs="+", default=default,
            help=f"seeds (default: {' '.join(map(str, default))})",
        )  # fmt: skip
        return
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--seeds", type=int, nargs="+", default=default,
        help="selection seeds: those whose runs a choice is made on (default: "
        f"{' '.join(map(str, default))})",
    )  # fmt: skip
    group.add_argument(
        "--evaluation-seeds", type=int, nargs="*", metavar="SEED",
        help="evaluation seeds instead, never used for a choice (by themselves: "
        f"{' '.join(map(str, EVALUATION_SEEDS))})",
    )  # fmt: skip


def chosen_seeds(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> tuple[str, list[int]]:
    """The role (``nnbook.mnist.summaries.ROLES``) and the seeds of ``add_seed_flags``'s
    flags; an evaluation seed passed as a selection seed is an error (it would then serve a
    choice)."""
    if args.evaluation_seeds is not None:
        return "evaluation", args.evaluation_seeds or list(EVALUATION_SEEDS)
    if overlap := sorted(set(args.seeds) & set(EVALUATION_SEEDS)):
        parser.error(f"seeds {overlap} are evaluation seeds: pass them as --evaluation-seeds")
    return "selection", args.seeds


def add_jobs_flag(parser: argparse.ArgumentParser) -> None:
    """``--jobs N``: runs at a time, each in a process of its own on one thread."""
    parser.add_argument(
        "--jobs", type=positive_int, default=1,
        help="runs at a time, each in a process of its own on one thread (default 1)",
    )  # fmt: skip


def add_threads_flag(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: PyTorch's threads in this process (``use_threads`` sets them)."""
    parser.add_argument(
        "--threads", type=positive_int, help="PyTorch's threads (default: its own)"
    )


def use_threads(args: argparse.Namespace) -> None:
    """Set PyTorch's threads to ``--threads``, where it was given."""
    if args.threads:
        torch.set_num_threads(args.threads)


def best_seconds(step: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Shortest of ``repeats`` timed calls of ``step``, after three that warm up."""
    best = float("inf")
    for _ in range(repeats + 3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return best


def training_step(
    network: nn.Module,
    recipe: Recipe,
    batch_size: int,
    memory_format: torch.memory_format | None = None,
    forward: nn.Module | None = None,
) -> Callable[[], None]:
    """One training step of ``network`` on a fixed batch of random images, as a call: the
    trainer's ``train_step`` with ``recipe``'s optimiser, average and precision (the schedule
    does not move). ``memory_format``: the images' (by default the network's class's);
    ``forward``: what computes the scores (a compiled ``network``, say)."""
    device = next(network.parameters()).device
    optimizer, _ = make_optimizer(network, recipe, steps_per_epoch=1)
    averaged = average_of(network, recipe.ema_decay) if recipe.ema_decay else None
    images = torch.randn(batch_size, 1, 28, 28, device=device)
    images = images.contiguous(memory_format=memory_format or network.memory_format)
    labels = torch.randint(0, 10, (batch_size,), device=device)
    model = forward if forward is not None else network

    def step() -> None:
        train_step(model, images, labels, optimizer, recipe, averaged=averaged)

    return step
