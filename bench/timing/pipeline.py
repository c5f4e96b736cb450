"""Time the book's MNIST pipeline against a seed-style DataLoader + PIL-transform pipeline.

Both run the same training steps of the same network in the same process; the only difference is
how batches are made. The book's pipeline holds the normalised set as one tensor and augments a
whole batch with one ``grid_sample``; the seed-style one decodes every image to PIL, rotates it,
converts it with ``ToTensor`` and ``Normalize``, and collates batches in a ``DataLoader``. Both
run with malloc tuned to keep freed memory, as ``fit`` runs (``--glibc-default`` to compare).

    python -m bench.timing.pipeline --batches 100
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from bench.common import add_threads_flag, positive_int, use_threads
from nnbook.mnist.allocator import keep_freed_memory
from nnbook.mnist.data import load, random_affine, verify
from nnbook.mnist.networks import DEFAULT_MODEL
from nnbook.mnist.recipes import DEFAULT_RECIPE
from nnbook.mnist.trainer import average_of, make_optimizer, network_for, train_step


def make_batches(batches, count: int) -> float:
    """Seconds to draw ``count`` batches, with no training: the data pipeline alone."""
    started = time.perf_counter()
    for _ in range(count):
        next(batches)
    return time.perf_counter() - started


def train_steps(batches, count: int, warm_up: int = 5) -> float:
    """Seconds for ``count`` training steps of a fresh ``Net`` on the batches an iterator yields:
    the trainer's own step (``train_step``) with the default recipe's optimiser and average."""
    torch.manual_seed(0)
    recipe = DEFAULT_RECIPE
    model = network_for(DEFAULT_MODEL, recipe).train()
    optimizer, _ = make_optimizer(model, recipe, steps_per_epoch=1)
    averaged = average_of(model, recipe.ema_decay) if recipe.ema_decay else None
    for step in range(warm_up + count):
        if step == warm_up:
            started = time.perf_counter()
        images, labels = next(batches)
        images = images.contiguous(memory_format=model.memory_format)
        train_step(model, images, labels, optimizer, recipe, averaged=averaged)
    return time.perf_counter() - started


def book_batches(batch_size: int):
    data = load()
    generator = torch.Generator().manual_seed(0)
    recipe = DEFAULT_RECIPE
    while True:
        order = torch.randperm(len(data.train), generator=generator)
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            images = random_affine(
                data.train.images[index], recipe.max_degrees, recipe.max_translate,
                recipe.max_scale, generator,
            )  # fmt: skip
            yield images, data.train.labels[index]


def seed_batches(batch_size: int, workers: int):
    recipe = DEFAULT_RECIPE
    transform = transforms.Compose([
        transforms.RandomAffine(
            recipe.max_degrees, (recipe.max_translate, recipe.max_translate),
            (1 - recipe.max_scale, 1 + recipe.max_scale),
        ),
        transforms.ToTensor(),
        transforms.Normalize((0.1307,), (0.3081,)),
    ])  # fmt: skip
    dataset = datasets.MNIST(verify(), train=True, download=False, transform=transform)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)
    while True:
        yield from loader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=positive_int, default=100, help="training steps to time")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_RECIPE.batch_size)
    parser.add_argument(
        "--workers", type=positive_int, default=1, help="DataLoader workers (seed style)"
    )
    add_threads_flag(parser)
    parser.add_argument(
        "--glibc-default", action="store_true",
        help="leave malloc as it is (the book's fit() makes it keep freed memory)",
    )  # fmt: skip
    args = parser.parse_args()
    use_threads(args)
    tuned = not args.glibc_default and keep_freed_memory()
    print(
        f"{args.batches} steps of batch {args.batch_size}, {torch.get_num_threads()} threads, "
        f"malloc {'keeps freed memory' if tuned else 'as glibc sets it'}"
    )
    epoch = 60_000 / (args.batches * args.batch_size)
    results = {}
    for name, batches in (
        ("book (tensor + batch affine)", book_batches(args.batch_size)),
        ("seed (DataLoader + PIL)", seed_batches(args.batch_size, args.workers)),
    ):
        next(batches)  # start-up (loading, workers) is not timed
        data_only = make_batches(batches, args.batches)
        with_training = train_steps(batches, args.batches)
        results[name] = (data_only, with_training)
        print(
            f"{name:30s} data only {data_only:6.2f} s (≈ {data_only * epoch:5.1f} s/epoch)   "
            f"data + training {with_training:6.2f} s (≈ {with_training * epoch:5.1f} s/epoch)"
        )
    (book_data, book_total), (seed_data, seed_total) = results.values()
    print(f"ratio seed / book: data only {seed_data / book_data:.1f}×, "
          f"data + training {seed_total / book_total:.2f}×")  # fmt: skip


if __name__ == "__main__":
    main()
