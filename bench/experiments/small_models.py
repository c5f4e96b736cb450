"""The experiments behind "How small can it go": networks tried and recipe variants, per seed.

Each run is ``fit`` with the recipe of the chapter's first steps, for 15 epochs
(``recipes.SMALL_RECIPE``) unless a ``key=value`` changes a field of it (``clean_last_epochs=N``
trains the last N epochs on unaugmented digits); three more switches change the training itself,
through ``fit``'s ``hooks`` (the package is never patched): ``teacher=PATH`` with ``kd=ALPHA``
(and ``T=TEMPERATURE``) distils from a trained network's log-probabilities of the clean training
images, saved by ``--save-teacher PATH`` (a run of ``Net`` with the default recipe),
``smoothing=EPS`` trains with label smoothing, and ``optimizer=adam`` uses AdamW with the same
one-cycle schedule. (A moving average of the weights was tried once and never run to the end;
its switch is gone.)

    python -m bench.experiments.small_models deep10 --seeds 1 2 3
    python -m bench.experiments.small_models deep10 weight_decay=0.0001 --seeds 2
    python -m bench.experiments.small_models --save-teacher teacher.pt
    python -m bench.experiments.small_models deep10 teacher=teacher.pt kd=0.5

``--record PATH`` appends one JSON line per run (``record_line``): where it ran
(``provenance.py``), the network and its parameters, the recipe's fields, the switches above as
given, the seed, and the test accuracy after every epoch and the final one. The runs measured so
far came before it, so no record holds them and no chapter tables them ("How small can it go" names
this script for the experiments that got no further); their table is this docstring at commit
deaccaa (``git show deaccaa:bench/experiments/small_models.py``). A record kept in
``bench/results/`` also needs its name in ``nnbook.records.RECORDS`` (``tests/test_records.py``
checks it).

    python -m bench.experiments.small_models deep10 --record small_models.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from bench.common import add_record_flag, add_seed_flags, add_threads_flag, use_threads
from bench.provenance import append_record, provenance
from nnbook.mnist import load, networks, recipes, targets
from nnbook.mnist.networks.base import SequentialClassifier
from nnbook.mnist.networks.steps import SMALL_MEMORY_FORMAT, conv_bn
from nnbook.mnist.trainer import FitOptions, FitResult, Hooks, fit, predict


class TrialNetwork(SequentialClassifier):
    """A network tried on the way (not one of the package's ``MODELS``): ``features`` ending in
    10 scores, in the small networks' memory format."""

    memory_format = SMALL_MEMORY_FORMAT


class Tiny12(TrialNetwork):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(1, 8), conv_bn(8, 12), nn.MaxPool2d(2), nn.Conv2d(12, 8, 1, bias=False),
            conv_bn(8, 12), conv_bn(12, 12), conv_bn(12, 12, padding=1), nn.AvgPool2d(8),
            nn.Conv2d(12, 10, 1),
        )  # fmt: skip


class Wide16(TrialNetwork):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(1, 8), conv_bn(8, 12), nn.MaxPool2d(2), nn.Conv2d(12, 8, 1, bias=False),
            conv_bn(8, 12), conv_bn(12, 10), conv_bn(10, 16, padding=1), nn.AvgPool2d(8),
            nn.Conv2d(16, 10, 1),
        )  # fmt: skip


class Narrow14(TrialNetwork):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(1, 6), conv_bn(6, 8), conv_bn(8, 8), nn.MaxPool2d(2),
            conv_bn(8, 10), conv_bn(10, 12), conv_bn(12, 14), nn.AvgPool2d(5),
            nn.Conv2d(14, 10, 1),
        )  # fmt: skip


class End16(TrialNetwork):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(1, 8), conv_bn(8, 10), nn.MaxPool2d(2),
            conv_bn(10, 10), conv_bn(10, 12), conv_bn(12, 16), nn.AvgPool2d(6),
            nn.Conv2d(16, 10, 1),
        )  # fmt: skip


def separable_trial(in_channels: int, out_channels: int) -> nn.Sequential:
    """Depthwise 3×3 (one kernel per channel), pointwise 1×1, BatchNorm, ReLU: the first form
    tried, with no BatchNorm or ReLU between the two (the package's ``separable_bn`` has them)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, groups=in_channels, bias=False),
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class FirstSeparableTrial(TrialNetwork):
    """The first depthwise-separable network tried, not the package's ``separable``."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(1, 12), separable_trial(12, 16), separable_trial(16, 24), nn.MaxPool2d(2),
            separable_trial(24, 24), separable_trial(24, 32), separable_trial(32, 32),
            nn.AvgPool2d(5), nn.Conv2d(32, 10, 1),
        )  # fmt: skip


#: The networks tried, by the name the command line takes (``deep10`` is the package's ``tiny``).
TRIALS = {
    "tiny12": Tiny12,
    "wide16": Wide16,
    "deep10": networks.MODELS["tiny"],
    "narrow14": Narrow14,
    "end16": End16,
    "separable": FirstSeparableTrial,
}


def distilling_loss(teacher: torch.Tensor, alpha: float, temperature: float):
    """The NLL mixed with the KL divergence from the teacher's soft targets."""

    def loss_of(log_probs, labels, index):
        soft_teacher = F.log_softmax(teacher[index] / temperature, dim=1)
        soft_student = F.log_softmax(log_probs / temperature, dim=1)
        # KL(teacher ‖ student) at temperature T, scaled by T² (Hinton et al. 2015)
        kl = F.kl_div(soft_student, soft_teacher, log_target=True, reduction="batchmean")
        return (1 - alpha) * F.nll_loss(log_probs, labels) + alpha * temperature**2 * kl

    return loss_of


def smoothed_loss(epsilon: float):
    """Label smoothing: (1 − ε) · NLL + ε · the mean of −log p over the ten classes."""

    def loss_of(log_probs, labels, index):
        uniform = -log_probs.mean(1).mean()
        return (1 - epsilon) * F.nll_loss(log_probs, labels) + epsilon * uniform

    return loss_of


def adamw(model: nn.Module, recipe, steps_per_epoch: int) -> tuple:
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, epochs=recipe.epochs, steps_per_epoch=steps_per_epoch
    )
    return optimizer, scheduler


def hooks_from(changes: dict[str, str]) -> Hooks:
    """The switches above (taken out of ``changes``) as ``fit``'s hooks."""
    teacher, alpha = changes.pop("teacher", None), float(changes.pop("kd", 0))
    temperature = float(changes.pop("T", 4))
    smoothing = float(changes.pop("smoothing", 0))
    adam = changes.pop("optimizer", "sgd") == "adam"
    hooks = Hooks()
    if teacher and alpha:
        loss = distilling_loss(torch.load(teacher), alpha, temperature)
        hooks = dataclasses.replace(hooks, loss=loss)
    elif smoothing:
        hooks = dataclasses.replace(hooks, loss=smoothed_loss(smoothing))
    if adam:
        hooks = dataclasses.replace(hooks, optimizer=adamw)
    return hooks


def record_line(
    origin: dict[str, object], model: str, recipe: recipes.Recipe, switches: dict[str, str],
    seed: int, run: FitResult,
) -> dict[str, object]:  # fmt: skip
    """The record's line of one run of ``model`` (a name of ``TRIALS``): where it ran
    (``origin``, from ``provenance``), the network and its parameters, the recipe's fields, the
    switches of ``hooks_from`` as given (``{"kd": "0.5", ...}``), the seed, and the test
    accuracy after every epoch and the final one, as fractions."""
    return origin | {
        "model": model,
        "parameters": networks.parameter_count(TRIALS[model]()),
        "recipe": dataclasses.asdict(recipe),
        "switches": switches,
        "seed": seed,
        "final accuracy": run.final_test_accuracy,
        "accuracy per epoch": [row.test_accuracy for row in run.history],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", choices=tuple(TRIALS), default="deep10")
    parser.add_argument("changes", nargs="*", metavar="KEY=VALUE")
    add_seed_flags(parser, default=list(targets.FINAL_SEEDS), evaluation=False)
    parser.add_argument("--save-teacher", metavar="PATH")
    add_threads_flag(parser)
    add_record_flag(parser, "none: no chapter reads these runs")
    args = parser.parse_args()
    use_threads(args)
    origin = provenance("cpu")  # now: the commit and tree that run, and the threads
    data = load()
    if args.save_teacher:
        run = fit(
            data.train, data.test, recipes.DEFAULT_RECIPE, seed=1, options=FitOptions(device="cpu")
        )
        torch.save(predict(run.model, data.train), args.save_teacher)
        return
    given = dict(change.split("=", 1) for change in args.changes)
    changes = dict(given)
    hooks = hooks_from(changes)  # takes its switches out of changes: the rest are the recipe's
    switches = {key: text for key, text in given.items() if key not in changes}
    base = recipes.SMALL_RECIPE

    def typed(key: str, text: str) -> object:
        kind = type(getattr(base, key))  # each field's own type: int, float, bool or str
        return text in ("1", "true", "True") if kind is bool else kind(text)

    recipe = dataclasses.replace(base, **{key: typed(key, text) for key, text in changes.items()})
    network = TRIALS[args.model]
    count = networks.parameter_count(network())
    print(f"{args.model} ({count:,} parameters): {recipe}", flush=True)
    for seed in args.seeds:
        run = fit(
            data.train,
            data.test,
            recipe,
            seed=seed,
            model=network,
            options=FitOptions(
                device="cpu",
                hooks=hooks,
                on_epoch=lambda row, seed=seed: print(f"seed {seed} {row.summary()}", flush=True),
            ),
        )
        print(f"{args.model} seed {seed}: final {100 * run.final_test_accuracy:.2f} %", flush=True)
        if args.record:
            line = record_line(origin, args.model, recipe, switches, seed, run)
            append_record(args.record, line)


if __name__ == "__main__":
    main()
