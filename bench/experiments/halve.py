"""The book's training in half the time: today's default recipe beside the one it replaced.

For each seed, in one process, ``fit`` trains ``net`` on the CPU with each recipe named (by
default the twelve-epoch recipe the book used before, then today's default, which trains in
bfloat16 where the CPU has it in hardware), one after the other, so that
a shared host's drift reaches every recipe alike. Each run's CPU seconds are those of the whole
process while ``fit`` ran (``time.process_time``: every thread, augmentation, steps,
evaluations, checkpoints none); its wall seconds, its final test accuracy and that of every
epoch are recorded too. The levers of the new recipe are named recipes of their own, so each
is measured alone before they are combined:

    python -m bench.experiments.halve --record bench/results/halve.jsonl
    python -m bench.experiments.halve --recipes "8 epochs" \\
        "8 epochs, no dropout" "8 epochs, average" "8 epochs, bfloat16" \\
        --record bench/results/halve.jsonl

``--build`` measures the book's build as a whole the same way: every network its chapters train,
with the recipe and the seed the build trains it with (``BUILD``: ``net``, the first two steps of
"How small can it go" and its answer), ``net`` with the recipe it had before (``NET_BEFORE``)
and the steps the build trained before it trained the answer (``STEPS_BEFORE_ANSWER``: ``Tiny``
in its place), each once. The record compares two builds with today's: the same networks with
the ``net`` of before (``build``), and the build before the answer (``answer``).
``--first-steps-epochs N`` also trains the first two steps in N epochs instead of theirs, on
each seed given, with what their chapter asserts of them (the accuracy of the first epoch, the
final one on the training set):

    python -m bench.experiments.halve --build --first-steps-epochs 6 \\
        --seeds 1 2 --record bench/results/halve.jsonl

Without ``--build``, ``--first-steps-epochs`` trains the first steps alone; ``--threads`` sets how
many threads PyTorch uses (a skeleton near the edge of stability can diverge with one thread
and not with two: the round-off differs):

    python -m bench.experiments.halve --first-steps-epochs 6 --seeds 1 2 \\
        --threads 1 --record bench/results/halve.jsonl

Run it on an otherwise idle machine: the two recipes on three seeds take about 12 minutes with
two threads of a 2-core AMD EPYC with AVX-512, the build about 15. The appendix on performance
reads the record.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from bench.common import (
    add_record_flag,
    add_seed_flags,
    add_threads_flag,
    positive_int,
    use_threads,
)
from bench.provenance import append_record, provenance
from nnbook.mnist import load
from nnbook.mnist.data import MNIST
from nnbook.mnist.environment import DEFAULT_SEED
from nnbook.mnist.hardware import bfloat16_in_hardware
from nnbook.mnist.recipes import (
    BUILD_RUNS,
    DEFAULT_RECIPE,
    STEPS,
    TWELVE_EPOCH_RECIPE,
    Recipe,
)
from nnbook.mnist.targets import HALVED_TARGET_ACCURACY
from nnbook.mnist.trainer import FitOptions, fit

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

#: What the book's build trains, by name: each network its chapters train, with its recipe.
BUILD: dict[str, tuple[str, Recipe]] = {model: (model, recipe) for model, recipe in BUILD_RUNS}
#: ``net`` as the build trained it before its recipe was halved; the steps are as they are.
NET_BEFORE = f"{MODEL}, {BEFORE}"
BUILD_BEFORE = BUILD | {MODEL: (MODEL, TWELVE_EPOCH_RECIPE)}
#: What the build trained before it trained the chapter's answer: ``net`` and the steps up to
#: ``Tiny``, whose runs the chapter now reads from the seeds record.
STEPS_BEFORE_ANSWER: dict[str, tuple[str, Recipe]] = {
    MODEL: (MODEL, DEFAULT_RECIPE),
    **{step.model: (step.model, step.recipe) for step in STEPS if step.model != STEPS[-1].model},
}
#: The first two steps, which share a recipe: the lever of fewer epochs for them.
FIRST_STEPS = STEPS[:2]


def first_steps_in(epochs: int) -> dict[str, tuple[str, Recipe]]:
    """The first two steps trained in ``epochs`` epochs, by name (``"skeleton, 6 epochs"``)."""
    return {
        f"{step.model}, {epochs} epochs": (
            step.model,
            dataclasses.replace(step.recipe, epochs=epochs),
        )
        for step in FIRST_STEPS
    }


def timed_fit(data: MNIST, recipe: Recipe, seed: int, model: str = MODEL) -> dict[str, object]:
    """Train ``model`` once on the CPU; its seed, CPU and wall seconds, and test accuracies."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = fit(
        data.train, data.test, recipe, seed=seed, model=model, options=FitOptions(device="cpu")
    )
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "seed": seed,
        "cpu seconds": round(cpu, 2),
        "wall seconds": round(wall, 2),
        "final accuracy": result.final_test_accuracy,
        "accuracy per epoch": [row.test_accuracy for row in result.history],
        "final train accuracy": result.history[-1].train_accuracy,
        "train accuracy per epoch": [row.train_accuracy for row in result.history],
    }


def build_runs(
    first_steps_epochs: int | None, build: bool = True
) -> dict[str, tuple[str, Recipe, bool]]:
    """What ``--build`` trains, by name: (model, recipe, whether on every seed given). The build's
    networks and ``net`` before train on the build's seed; the first steps' lever on each.
    ``build=False``: the lever alone."""
    runs: dict[str, tuple[str, Recipe, bool]] = {}
    if build:
        runs = {name: (model, recipe, False) for name, (model, recipe) in BUILD.items()}
        runs[NET_BEFORE] = (*BUILD_BEFORE[MODEL], False)
        for name, (model, recipe) in STEPS_BEFORE_ANSWER.items():
            runs.setdefault(name, (model, recipe, False))
    if first_steps_epochs is not None:
        lever = first_steps_in(first_steps_epochs)
        runs |= {name: (model, recipe, True) for name, (model, recipe) in lever.items()}
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", choices=tuple(RECIPES), default=[BEFORE, AFTER])
    add_seed_flags(parser, default=[1, 2, 3], evaluation=False)
    parser.add_argument(
        "--build", action="store_true",
        help="train what the book's build trains (and net as before), on the build's seed",
    )  # fmt: skip
    parser.add_argument(
        "--first-steps-epochs", type=positive_int, metavar="N",
        help="the first two steps in N epochs, on every seed given (with --build: as well)",
    )  # fmt: skip
    add_threads_flag(parser)
    add_record_flag(parser, "bench/results/halve.jsonl")
    args = parser.parse_args()
    use_threads(args)  # before provenance, which records the threads
    origin = provenance("cpu")  # now: the commit and tree that run, not those at the end
    data = load()
    if args.build or args.first_steps_epochs is not None:
        measure_build(
            data, args.first_steps_epochs, args.seeds, args.record, origin, build=args.build
        )
        return
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


def measure_build(
    data: MNIST,
    first_steps_epochs: int | None,
    seeds: list[int],
    record: Path | None,
    origin: dict[str, object],
    build: bool = True,
) -> None:
    """``--build``: train each of ``build_runs`` once (on every seed, for the lever) and report
    the build's CPU seconds before and after; with ``record``, append them as one line.
    ``build=False``: the first steps' lever alone."""
    threads = torch.get_num_threads()
    print(f"the build's networks on the CPU, {threads} thread{'s' * (threads > 1)}", flush=True)
    planned = build_runs(first_steps_epochs, build)
    runs: dict[str, list[dict[str, object]]] = {}
    for name, (model, recipe, every_seed) in planned.items():
        for seed in seeds if every_seed else [DEFAULT_SEED]:
            run = timed_fit(data, recipe, seed, model)
            runs.setdefault(name, []).append(run)
            print(
                f"{name}, seed {seed}: first epoch {100 * run['accuracy per epoch'][0]:.2f} %, "
                f"final {100 * run['final accuracy']:.2f} % (train "
                f"{100 * run['final train accuracy']:.2f} %), {run['cpu seconds']:.1f} CPU s, "
                f"{run['wall seconds']:.1f} s",
                flush=True,
            )
    line: dict[str, object] = {"first steps epochs": first_steps_epochs}
    if build:
        before = sum(runs[n][0]["cpu seconds"] for n in (NET_BEFORE, *list(BUILD)[1:]))
        after = sum(runs[n][0]["cpu seconds"] for n in BUILD)
        share = 100 * after / before
        print(f"the build: {before:.1f} CPU s before, {after:.1f} after ({share:.0f} %)")
        line["build"] = {"after": list(BUILD), "before": [NET_BEFORE, *list(BUILD)[1:]]}
        line["answer"] = {"after": list(BUILD), "before": list(STEPS_BEFORE_ANSWER)}
        answer_before = sum(runs[n][0]["cpu seconds"] for n in STEPS_BEFORE_ANSWER)
        share = 100 * after / answer_before
        print(f"the answer in the build: {answer_before:.1f} CPU s before, {after:.1f} after "
              f"({share:.0f} %)")  # fmt: skip
    if record:
        line |= {
            "bfloat16 in hardware": bfloat16_in_hardware(),
            "models": {name: model for name, (model, _, _) in planned.items()},
            "recipes": {
                name: dataclasses.asdict(recipe) for name, (_, recipe, _) in planned.items()
            },
            "runs": runs,
        }
        append_record(record, origin | line)


if __name__ == "__main__":
    main()
