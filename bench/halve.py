"""The book's training in half the time: today's default recipe beside the one it replaced.

For each seed, in one process, ``fit`` trains ``net`` on the CPU with each recipe named (by
default the twelve-epoch recipe the book used before, then today's default, which trains in
bfloat16 where the CPU has it in hardware), one after the other, so that
a shared host's drift reaches every recipe alike. Each run's CPU seconds are those of the whole
process while ``fit`` ran (``time.process_time``: every thread, augmentation, steps,
evaluations, checkpoints none); its wall seconds, its final test accuracy and that of every
epoch are recorded too. The levers of the new recipe are named recipes of their own, so each
is measured alone before they are combined:

    MNIST_ROOT=../shared/mnist python bench/halve.py --record bench/results/halve.jsonl
    MNIST_ROOT=../shared/mnist python bench/halve.py --recipes "8 epochs" \\
        "8 epochs, no dropout" "8 epochs, average" "8 epochs, bfloat16" \\
        --record bench/results/halve.jsonl

Run it on an otherwise idle machine: the two recipes on three seeds take about 12 minutes with
two threads of a 2-core AMD EPYC with AVX-512. The appendix on performance reads the record.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch
from provenance import append_record, provenance

from nnbook.mnist import load
from nnbook.mnist.data import MNIST
from nnbook.mnist.hardware import bfloat16_in_hardware
from nnbook.mnist.recipes import DEFAULT_RECIPE, TWELVE_EPOCH_RECIPE, Recipe
from nnbook.mnist.targets import HALVED_TARGET_ACCURACY
from nnbook.mnist.trainer import fit

MODEL = "net"
SHORTER = dataclasses.replace(TWELVE_EPOCH_RECIPE, epochs=DEFAULT_RECIPE.epochs)
#: Every recipe this script can train, by name: before, after, and each lever of the default
#: alone (on the twelve-epoch recipe cut to the default's epochs).
RECIPES: dict[str, Recipe] = {
    f"{TWELVE_EPOCH_RECIPE.epochs} epochs": TWELVE_EPOCH_RECIPE,
    "default": DEFAULT_RECIPE,
    f"{SHORTER.epochs} epochs": SHORTER,
    f"{SHORTER.epochs} epochs, no dropout": dataclasses.replace(SHORTER, dropout=0.0),
    f"{SHORTER.epochs} epochs, average": dataclasses.replace(
        SHORTER, ema_decay=DEFAULT_RECIPE.ema_decay
    ),
    f"{SHORTER.epochs} epochs, bfloat16": dataclasses.replace(SHORTER, cpu_bfloat16=True),
}
BEFORE, AFTER = f"{TWELVE_EPOCH_RECIPE.epochs} epochs", "default"


def timed_fit(data: MNIST, recipe: Recipe, seed: int) -> dict[str, object]:
    """Train ``net`` once on the CPU; its seed, CPU and wall seconds, and test accuracies."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = fit(data.train, data.test, recipe, seed=seed, device="cpu", model=MODEL)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "seed": seed,
        "cpu seconds": round(cpu, 2),
        "wall seconds": round(wall, 2),
        "final accuracy": result.final_test_accuracy,
        "accuracy per epoch": [row.test_accuracy for row in result.history],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", choices=tuple(RECIPES), default=[BEFORE, AFTER])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument(
        "--record", type=Path, metavar="JSONL",
        help="append the results as one line to this file (bench/results/halve.jsonl)",
    )  # fmt: skip
    args = parser.parse_args()
    origin = provenance("cpu")  # now: the commit and tree that run, not those at the end
    data = load()
    print(f"{MODEL} on the CPU, {torch.get_num_threads()} threads", flush=True)
    runs: dict[str, list[dict[str, object]]] = {name: [] for name in args.recipes}
    for seed in args.seeds:
        for name in args.recipes:
            run = timed_fit(data, RECIPES[name], seed)
            runs[name].append(run)
            print(
                f"seed {seed}, {name}: final {100 * run['final accuracy']:.2f} %, "
                f"{run['cpu seconds']:.1f} CPU s, {run['wall seconds']:.1f} s",
                flush=True,
            )
    for name, done in runs.items():
        finals = [run["final accuracy"] for run in done]
        cpu = sum(run["cpu seconds"] for run in done) / len(done)
        reached = sum(final >= HALVED_TARGET_ACCURACY for final in finals)
        print(
            f"{name}: finals {', '.join(f'{100 * f:.2f}' for f in finals)} % "
            f"({reached}/{len(finals)} ≥ {100 * HALVED_TARGET_ACCURACY:.1f} %), "
            f"{cpu:.1f} CPU s per run"
        )
    if args.record:
        record = {
            "model": MODEL,
            "bfloat16 in hardware": bfloat16_in_hardware(),
            "recipes": {name: dataclasses.asdict(RECIPES[name]) for name in runs},
            "runs": runs,
        }
        append_record(args.record, origin | record)


if __name__ == "__main__":
    main()
