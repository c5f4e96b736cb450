"""The GPU path measured: recipes, seconds and final accuracy; repeatability; resume.

Each run is a whole ``fit`` on CUDA (data on the GPU, the training step a replayed CUDA graph,
``nnbook.mnist.graphed``), timed from the call to its return: capture and warm-up, every epoch
and every evaluation of the test set included. In order, stopping the recipe list early when
``--budget`` seconds have passed:

1. each recipe of ``RECIPES`` (or those named) on each seed, ``GPU_RECIPE`` first;
2. the eager trainer (``cuda_graph=False``), two epochs of the default recipe: seconds per epoch;
3. the same seed twice, with and without ``deterministic``: equal histories or not;
4. an interrupted run resumed from its checkpoint against the uninterrupted run (deterministic).

    python -m bench.timing.gpu --record bench/results/gpu.jsonl
    python -m bench.timing.gpu --recipes GPU_RECIPE

``--record PATH`` appends one JSON line per result (where it ran, ``provenance.py``, and the
figures); the runs measured are lines of ``bench/results/gpu.jsonl``, which the appendix "Why a
CPU is enough" tables in its section on the GPU. A final accuracy near 10 % is a run that
diverged at the peak of the one-cycle rate. The first runs, made in cuDNN's benchmark mode, and
the wall time of a fresh process are not in the record: this docstring at commit deaccaa holds
them (``git show deaccaa:bench/timing/gpu.py``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from bench.common import add_record_flag, add_seed_flags
from bench.provenance import append_record, provenance
from nnbook.mnist import load
from nnbook.mnist.recipes import DEFAULT_RECIPE, GPU_RECIPE, TWELVE_EPOCH_RECIPE, Recipe
from nnbook.mnist.trainer import FitOptions, fit

#: The recipes tried, by name, for the default network (``GPU_RECIPE``: batch 256, 16 epochs).
RECIPES = {
    "GPU_RECIPE": GPU_RECIPE,
    "batch 256, lr 0.2, 12 epochs": replace(GPU_RECIPE, epochs=12),
    "batch 256, lr 0.2, 20 epochs": replace(GPU_RECIPE, epochs=20),
    "batch 128, lr 0.14": replace(DEFAULT_RECIPE, batch_size=128, lr=0.14),
    "default (batch 64)": DEFAULT_RECIPE,
    "batch 512, lr 0.4": replace(TWELVE_EPOCH_RECIPE, batch_size=512, lr=0.4),
    "batch 512, lr 0.8, 16 epochs": replace(
        TWELVE_EPOCH_RECIPE, epochs=16, batch_size=512, lr=0.8
    ),
    "batch 512, lr 0.4, 20 epochs": replace(
        TWELVE_EPOCH_RECIPE, epochs=20, batch_size=512, lr=0.4
    ),
    "batch 1024, lr 0.8, 20 epochs": replace(
        TWELVE_EPOCH_RECIPE, epochs=20, batch_size=1024, lr=0.8
    ),
}


class InterruptedRunError(Exception):
    """Raised from ``on_epoch`` to stop a run after a checkpoint, as a crash would."""


def timed_fit(train, test, recipe: Recipe, seed: int, **options) -> tuple:
    """(FitResult, seconds of the whole call, GPU synchronised at both ends)."""
    torch.cuda.synchronize()
    started = time.perf_counter()
    run = fit(train, test, recipe, seed=seed, options=FitOptions(device="cuda", **options))
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
    add_seed_flags(parser, default=[1, 2, 3], evaluation=False)
    parser.add_argument("--recipes", nargs="+", choices=tuple(RECIPES), default=list(RECIPES))
    parser.add_argument("--budget", type=float, default=240.0, help="seconds for the recipes")
    parser.add_argument("--deterministic", action="store_true", help="recipes run repeatably")
    parser.add_argument("--checks", action=argparse.BooleanOptionalAction, default=True)
    add_record_flag(parser, "bench/results/gpu.jsonl, one line per result")
    args = parser.parse_args()
    began = time.perf_counter()
    machine = provenance("cuda")  # the command, commit, date, GPU, cuDNN and versions

    def report(kind: str, **fields) -> None:
        fields = {"kind": kind, **machine, **fields}
        print(json.dumps(fields), flush=True)
        if args.record:
            append_record(args.record, fields)

    data = load()
    train, test = data.train.to("cuda"), data.test.to("cuda")
    timed_fit(train.subset(2048), test.subset(512), replace(GPU_RECIPE, epochs=1), 1)
    measure_recipes(train, test, args, began, report)
    if args.checks:
        check_eager_repeat_and_resume(train, test, report)


def measure_recipes(train, test, args: argparse.Namespace, began: float, report) -> None:
    """Step 1: each recipe named on each seed, until ``--budget`` seconds have passed."""
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


def check_eager_repeat_and_resume(train, test, report) -> None:
    """Steps 2 to 4: the eager trainer's epochs, the same seed twice, a resumed run."""
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
