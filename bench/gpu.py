"""The GPU path measured: recipes, seconds and final accuracy; repeatability; resume.

Each run is a whole ``fit`` on CUDA (data on the GPU, the training step a replayed CUDA graph,
``nnbook.mnist.graphed``), timed from the call to its return: capture and warm-up, every epoch
and every evaluation of the test set included. In order, stopping the recipe list early when
``--budget`` seconds have passed:

1. each recipe of ``RECIPES`` (or those named) on each seed, ``GPU_RECIPE`` first;
2. the eager trainer (``cuda_graph=False``), two epochs of the default recipe: seconds per epoch;
3. the same seed twice, with and without ``deterministic``: equal histories or not;
4. an interrupted run resumed from its checkpoint against the uninterrupted run (deterministic).

    MNIST_ROOT=../shared/mnist python bench/gpu.py --json bench/results/gpu.jsonl
    MNIST_ROOT=../shared/mnist python bench/gpu.py --recipes GPU_RECIPE

Measured on an H100 80GB HBM3 and an H200 (torch 2.11.0+cu130, cuDNN 9.19; the machines this
project was lent; every run is a line of ``bench/results/gpu.jsonl``, which the performance
appendix reads): seconds of the whole ``fit`` and final-epoch test accuracy (%), seeds 1, 2, 3.

| recipe (default network)      | GPU, mode       | seconds             | final accuracy      |
| ----------------------------- | --------------- | ------------------- | ------------------- |
| GPU_RECIPE: 256, 0.2, 16 ep.  | H100            | 6.5, 6.5, 6.5       | 99.50, 99.57, 99.54 |
| the same                      | H200            | 6.3, 6.2, 6.3       | 99.56, 99.55, 99.53 |
| the same                      | H200, determ.   | 6.9, 6.9, 6.9       | 99.58, 99.58, 99.55 |
| batch 256, lr 0.2, 12 epochs  | H100, benchmark | 8.5 (*), 4.5, 4.5   | 99.53, 99.62, 99.54 |
| the same                      | H200            | 4.7, 4.7, 4.7       | 99.47, 99.50, 99.60 |
| the same, again               | H200            | 4.7, 4.7, 4.7       | 99.57, 99.49, 99.44 |
| the same                      | H200, determ.   | 5.3, 5.2, 5.2       | 99.60, 99.57, 99.50 |
| batch 256, lr 0.2, 20 epochs  | H200            | 7.8, 7.8, 7.8       | 99.60, 99.62, 99.57 |
| the same                      | H200, determ.   | 8.7, 8.7, 8.7       | 99.56, 99.56, 99.58 |
| batch 128, lr 0.14, 12 epochs | H200            | 7.2, 7.1, 7.1       | 99.48, 99.49, 99.60 |
| the same                      | H200, determ.   | 7.9, 7.8, 7.8       | 99.52, 99.53, 99.56 |
| default: 64, 0.1, 12 epochs   | H100, benchmark | 14.9 (*), 11.2, 11.2 | 99.52, 99.67, 99.53 |
| batch 512, lr 0.4, 12 epochs  | H100, benchmark | 3.4, 3.4, 3.4       | 11.35, 11.35, 9.80  |
| batch 512, lr 0.4, 16 epochs  | H100, benchmark | 4.5, 4.6, 4.5       | 9.80, 99.59, 9.80   |
| batch 512, lr 0.8, 16 epochs  | H100, benchmark | 4.5, 4.5, 4.5       | all three diverged  |
| batch 512, lr 0.4, 20 epochs  | H100, benchmark | 5.8, 5.7, 5.8       | 99.53, 99.51, 99.56 |
| batch 1024, lr 0.8, 20 epochs | H100, benchmark | 8.8 (*), 4.6, 4.6   | all three diverged  |

Accuracies near 10 % are runs that diverged at the peak of the one-cycle rate. "determ.":
``deterministic=True``. "benchmark": cuDNN's benchmark mode was on in the first runs. (*) the first
run at a new batch size, when benchmark mode timed cuDNN's algorithms for about 4 s; the steps were
no faster for it (a deterministic run, which turns it off, took as long per epoch), so it is off
now. Per epoch (steps and evaluation), H100: 0.93 s at batch 64, 0.37 s at 256, 0.28 s at 512, 0.23
s at 1024; H200: 0.39 s at 256 (deterministic 0.43 s). The eager trainer (``cuda_graph=False``),
batch 64: 4.5 and 4.1 s per epoch on the H100, 3.1 and 3.0 s on the H200. From a fresh process
(``python -m nnbook train --recipe gpu``, 12 epochs then), H200: 11.3 to 14.4 s of wall time, of
which about 4.7 s is ``fit``; the rest is starting Python, CUDA and loading MNIST. Without
``deterministic`` two runs of one seed differed; with it they were equal, and a run interrupted
after epoch 2 and resumed ended with exactly the uninterrupted run's weights (H100 and H200).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from provenance import append_record, provenance

from nnbook.mnist import load
from nnbook.mnist.recipes import DEFAULT_RECIPE, GPU_RECIPE, Recipe
from nnbook.mnist.trainer import fit

#: The recipes tried, by name, for the default network (``GPU_RECIPE``: batch 256, 16 epochs).
RECIPES = {
    "GPU_RECIPE": GPU_RECIPE,
    "batch 256, lr 0.2, 12 epochs": replace(GPU_RECIPE, epochs=12),
    "batch 256, lr 0.2, 20 epochs": replace(GPU_RECIPE, epochs=20),
    "batch 128, lr 0.14": replace(DEFAULT_RECIPE, batch_size=128, lr=0.14),
    "default (batch 64)": DEFAULT_RECIPE,
    "batch 512, lr 0.4": Recipe(batch_size=512, lr=0.4),
    "batch 512, lr 0.8, 16 epochs": Recipe(epochs=16, batch_size=512, lr=0.8),
    "batch 512, lr 0.4, 20 epochs": Recipe(epochs=20, batch_size=512, lr=0.4),
    "batch 1024, lr 0.8, 20 epochs": Recipe(epochs=20, batch_size=1024, lr=0.8),
}


class InterruptedRunError(Exception):
    """Raised from ``on_epoch`` to stop a run after a checkpoint, as a crash would."""


def timed_fit(train, test, recipe: Recipe, seed: int, **options) -> tuple:
    """(FitResult, seconds of the whole call, GPU synchronised at both ends)."""
    torch.cuda.synchronize()
    started = time.perf_counter()
    run = fit(train, test, recipe, seed=seed, device="cuda", **options)
    torch.cuda.synchronize()
    return run, time.perf_counter() - started


def histories_equal(a, b) -> bool:
    """Equal losses and accuracies epoch by epoch (the seconds differ, of course)."""
    fields = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr")
    return [[getattr(r, f) for f in fields] for r in a.history] == [
        [getattr(r, f) for f in fields] for r in b.history
    ]


def max_weight_difference(a, b) -> float:
    return max(
        (x.float() - y.float()).abs().max().item()
        for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values(), strict=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--recipes", nargs="+", choices=tuple(RECIPES), default=list(RECIPES))
    parser.add_argument("--budget", type=float, default=240.0, help="seconds for the recipes")
    parser.add_argument("--deterministic", action="store_true", help="recipes run repeatably")
    parser.add_argument("--checks", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--json", help="append one JSON line per result to this file")
    args = parser.parse_args()
    began = time.perf_counter()

    machine = provenance("cuda")  # the command, commit, date, GPU, cuDNN and versions

    def report(kind: str, **fields) -> None:
        fields = {"kind": kind, **machine, **fields}
        print(json.dumps(fields), flush=True)
        if args.json:
            append_record(args.json, fields)

    data = load()
    train, test = data.train.to("cuda"), data.test.to("cuda")
    timed_fit(train.subset(2048), test.subset(512), replace(GPU_RECIPE, epochs=1), 1)
    for name in args.recipes:
        recipe = RECIPES[name]
        for seed in args.seeds:
            if time.perf_counter() - began > args.budget:
                break
            run, seconds = timed_fit(train, test, recipe, seed, deterministic=args.deterministic)
            report(
                "recipe",
                deterministic=args.deterministic,
                cudnn_benchmark=False,
                seed=seed,
                epochs=recipe.epochs,
                batch_size=recipe.batch_size,
                lr=recipe.lr,
                seconds=round(seconds, 2),
                epoch_seconds=[round(r.seconds, 3) for r in run.history],
                final_accuracy=run.final_test_accuracy,
                accuracies=[r.test_accuracy for r in run.history],
            )
    if not args.checks:
        return
    eager, seconds = timed_fit(train, test, replace(DEFAULT_RECIPE, epochs=2), 1, cuda_graph=False)
    report("eager", seconds=round(seconds, 2), epoch_seconds=[r.seconds for r in eager.history])

    short = replace(GPU_RECIPE, epochs=3)
    first, _ = timed_fit(train, test, short, 1)
    second, _ = timed_fit(train, test, short, 1)
    report("repeat", deterministic=False, equal=histories_equal(first, second))
    first, seconds = timed_fit(train, test, short, 1, deterministic=True)
    second, _ = timed_fit(train, test, short, 1, deterministic=True)
    report(
        "repeat",
        deterministic=True,
        equal=histories_equal(first, second),
        max_weight_difference=max_weight_difference(first, second),
        seconds=round(seconds, 2),
    )
    with tempfile.TemporaryDirectory() as folder:

        def stop_after_two(row) -> None:
            if row.epoch == 2:
                raise InterruptedRunError

        try:
            options = {"deterministic": True, "out": folder, "on_epoch": stop_after_two}
            timed_fit(train, test, short, 1, **options)
        except InterruptedRunError:
            pass
        resumed, _ = timed_fit(train, test, short, 1, deterministic=True, out=folder, resume=True)
        saved = (Path(folder) / "history.json").read_text()
    report(
        "resume",
        equal=histories_equal(first, resumed),
        max_weight_difference=max_weight_difference(first, resumed),
        epochs_in_history=len(json.loads(saved)),
    )


if __name__ == "__main__":
    main()
