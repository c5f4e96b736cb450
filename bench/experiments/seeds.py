"""Train a recipe once per seed and report each run's final test accuracy, their mean and minimum.

The issue's target for the book's default recipe is about the *final* epoch of every seed, not
the best epoch of the best seed; this script measures exactly that, and the seconds per epoch.

    python -m bench.experiments.seeds --seeds 1 2 3
    python -m bench.experiments.seeds --recipe class --seeds 1
    python -m bench.experiments.seeds --model tiny  # 15 epochs

``--jobs 2`` trains two seeds at a time, each in its own process on one thread (on a 2-core
machine that is faster than one run on both cores: small networks do not keep two busy).

Seeds play one of two roles, as training and test data do. ``--seeds`` are *selection* seeds:
the runs on them choose networks and recipes. ``--evaluation-seeds`` (by themselves:
``EVALUATION_SEEDS`` of ``nnbook.mnist.targets``, 101 to 110) are never used for a choice, only
to judge one already made:

    python -m bench.experiments.seeds --model separable-31 \\
        --evaluation-seeds

``--record bench/results/seeds.jsonl`` appends one line per call: where it ran
(``provenance.py``), the model, its parameters and multiply-adds per image, the recipe, the seeds
and the role they played (``"role": "selection"`` or ``"evaluation"``; a line without it, from
before the roles were told apart, is of selection seeds) and each run's test accuracy after every
epoch (with its final and best). "How small can it go" reads that file.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import statistics
from concurrent.futures import ProcessPoolExecutor

import torch

from bench.common import (
    add_jobs_flag,
    add_record_flag,
    add_seed_flags,
    add_threads_flag,
    chosen_seeds,
    use_threads,
)
from bench.provenance import append_record, provenance
from nnbook.mnist import CLASS_RECIPE, fit, load
from nnbook.mnist.data import MNIST
from nnbook.mnist.environment import pick_device
from nnbook.mnist.networks import DEFAULT_MODEL, MODELS, build_model, parameter_count
from nnbook.mnist.recipes import Recipe, recipe_for
from nnbook.mnist.summaries import ROLES, model_summaries
from nnbook.mnist.targets import HELD_EPOCHS, TARGET_ACCURACY
from nnbook.mnist.trainer import FitOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=tuple(MODELS), default=DEFAULT_MODEL)
    parser.add_argument("--recipe", choices=("default", "class"), default="default")
    add_seed_flags(parser, default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    parser.add_argument("--lr", type=float, help="override the recipe's (peak) learning rate")
    parser.add_argument("--weight-decay", type=float, help="override the recipe's weight decay")
    parser.add_argument("--max-degrees", type=float, help="override the largest rotation")
    parser.add_argument("--ema-decay", type=float, help="override the average's decay (0: none)")
    parser.add_argument(
        "--clean-last-epochs", type=int, help="override how many last epochs are unaugmented"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--target", type=float, default=TARGET_ACCURACY,
        help=f"final accuracy to reach (default: the class's {TARGET_ACCURACY})",
    )  # fmt: skip
    add_jobs_flag(parser)
    add_threads_flag(parser)
    add_record_flag(parser, "bench/results/seeds.jsonl")
    args = parser.parse_args()
    use_threads(args)
    role, chosen = chosen_seeds(parser, args)
    recipe = CLASS_RECIPE if args.recipe == "class" else recipe_for(args.model)
    changes = {
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "weight_decay": args.weight_decay, "max_degrees": args.max_degrees,
        "ema_decay": args.ema_decay, "clean_last_epochs": args.clean_last_epochs,
    }  # fmt: skip
    recipe = dataclasses.replace(recipe, **{k: v for k, v in changes.items() if v is not None})
    if args.jobs > 1:
        torch.set_num_threads(1)  # each process's, as the record's provenance says
    device = pick_device(args.device)
    origin = provenance(device)  # now: the commit and tree that run, not those at the end
    print(f"{args.model}: {recipe}\n{device}, {torch.get_num_threads()} threads")
    print(f"{role} seeds: {' '.join(map(str, chosen))}")
    record = train_seeds(
        args.model, recipe, chosen, device, load(), args.target, jobs=args.jobs, role=role
    )
    if args.record:
        append_record(args.record, origin | record)


def train_seeds(
    model: str, recipe: Recipe, seeds: list[int], device: torch.device, data: MNIST,
    target: float = TARGET_ACCURACY, jobs: int = 1, role: str = "selection",
) -> dict[str, object]:  # fmt: skip
    """Train ``model`` once per seed (``jobs`` seeds at a time, each in a process of its own with
    one thread, when more than 1), print each run and a summary, and return the record's line
    (without its provenance): the model, its parameters, the recipe, the seeds, the ``role``
    they play (``ROLES``) and each run's test accuracy after every epoch."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if jobs > 1:
        context = multiprocessing.get_context("spawn")  # no forked copy of torch's thread pools
        with ProcessPoolExecutor(
            jobs, mp_context=context, initializer=_start_worker, initargs=(data,)
        ) as pool:
            n = len(seeds)
            runs = list(pool.map(_train_in_process, [model] * n, [recipe] * n, seeds,
                                 [str(device)] * n))  # fmt: skip
    else:
        runs = [train_one_seed(model, recipe, seed, device, data) for seed in seeds]
    accuracies = [accuracy for accuracy, _ in runs]
    per_epoch = [seconds for _, seconds in runs]
    finals = [accuracy[-1] for accuracy in accuracies]
    bests = [max(accuracy) for accuracy in accuracies]
    reached = sum(final >= target for final in finals)
    held = sum(min(row[-HELD_EPOCHS:]) >= target for row in accuracies)
    print(
        f"{model}: final test accuracy over {len(finals)} seeds: mean "
        f"{100 * statistics.fmean(finals):.2f} %, min {100 * min(finals):.2f} %; "
        f"{reached}/{len(finals)} at or above {100 * target:.1f} %, {held}/{len(finals)} in "
        f"each of the last {HELD_EPOCHS} epochs; {statistics.fmean(per_epoch):.1f} s per epoch",
        flush=True,
    )
    return {
        "model": model,
        "parameters": parameter_count(build_model(model)),
        # what tells two versions of a network of the same name and size apart (padding, say)
        "multiply-adds per image": int(model_summaries().loc[model, "MACs per image"]),
        "recipe": dataclasses.asdict(recipe),
        "seeds": list(seeds),
        "role": role,
        "final accuracy": finals,
        "best accuracy": bests,
        "accuracy per epoch": accuracies,
    }  # no seconds: speed is bench/timing/speed.py's, measured on an otherwise idle machine


def train_one_seed(
    model: str, recipe: Recipe, seed: int, device: torch.device | str, data: MNIST
) -> tuple[list[float], float]:
    """One run: its test accuracy after every epoch and its mean seconds per epoch."""
    result = fit(
        data.train,
        data.test,
        recipe,
        seed=seed,
        model=model,
        options=FitOptions(
            device=str(device),
            on_epoch=lambda row: print(f"{model} seed {seed}  {row.summary()}", flush=True),
        ),
    )
    history = result.history
    accuracy = [row.test_accuracy for row in history]
    best = max(history, key=lambda row: row.test_accuracy)
    per_epoch = statistics.fmean(row.seconds for row in history)
    print(
        f"{model} seed {seed}: final {100 * accuracy[-1]:.2f} %, best "
        f"{100 * best.test_accuracy:.2f} % (epoch {best.epoch}), lowest of the last "
        f"{HELD_EPOCHS} epochs {100 * min(accuracy[-HELD_EPOCHS:]):.2f} %, "
        f"{per_epoch:.1f} s per epoch",
        flush=True,
    )
    return accuracy, per_epoch


_WORKER_DATA: list[MNIST] = []  # a worker process's copy of the data, sent once


def _start_worker(data: MNIST) -> None:
    """A worker process of ``train_seeds``: one thread, and the data it trains on."""
    torch.set_num_threads(1)
    _WORKER_DATA.append(data)


def _train_in_process(
    model: str, recipe: Recipe, seed: int, device: str
) -> tuple[list[float], float]:
    """``train_one_seed`` in a worker process."""
    return train_one_seed(model, recipe, seed, device, _WORKER_DATA[0])


if __name__ == "__main__":
    main()
