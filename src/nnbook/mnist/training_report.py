"""What the training chapter says of the default recipe and of the build's run: its figures as
data, by the chapter's glue names. The chapter trains, draws and asserts what it claims of
these figures; it computes none of them itself."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from nnbook.mnist.recipes import Recipe
from nnbook.mnist.summaries import average_and_raw, threads_phrase
from nnbook.mnist.trainer import EpochResult, make_optimizer


def recipe_figures(recipe: Recipe, model_dropout: float, device: str) -> dict[str, object]:
    """The recipe as the chapter states it: its epochs, batch, peak learning rate, dropout
    (``recipe-dropout``, beside the network's own ``model-dropout``), the decay of its average
    of the weights and how many steps that average spans, 1 / (1 − decay); and the schedule's
    first step, read from the optimiser the trainer makes: its learning rate and momentum, and
    the lowest momentum of the run; and the arithmetic of this build on ``device`` (a GPU
    trains in float32 whatever the recipe says of a CPU)."""
    if recipe.schedule != "onecycle" or recipe.momentum == 0:
        raise ValueError(
            f"the chapter states a one-cycle schedule with momentum; this recipe's schedule is "
            f"{recipe.schedule!r} with momentum {recipe.momentum}"
        )
    first = make_optimizer(torch.nn.Linear(1, 1), recipe, steps_per_epoch=1)[0].param_groups[0]
    return {
        "epochs": recipe.epochs,
        "batch-size": recipe.batch_size,
        "peak-lr": recipe.lr,
        "recipe-dropout": recipe.dropout,
        "model-dropout": model_dropout,
        "ema-decay": recipe.ema_decay,
        "ema-steps": round(1 / (1 - recipe.ema_decay)),
        "start-lr": first["lr"],
        "start-momentum": first["momentum"],
        "lowest-momentum": first["base_momentum"],
        "bf16-here": _arithmetic_here(recipe, device),
    }


def _arithmetic_here(recipe: Recipe, device: str) -> str:
    """Whether this build trains under bfloat16, in a sentence."""
    if device != "cpu":
        return "This build trains on a GPU, in float32."
    if recipe.cpu_bfloat16:
        return "This build's CPU has them, and trains so."
    return "This build's CPU has none, and trains in float32."


def steps_per_epoch(examples: int, batch_size: int, whole_batches_only: bool = False) -> int:
    """Batches in an epoch of ``examples``: the last one smaller when the batch does not
    divide them or, with ``whole_batches_only`` (``fit`` on a GPU, whose recorded step takes
    batches of one size), the remainder left out."""
    if examples < 1 or batch_size < 1:
        raise ValueError(f"an epoch needs examples and a batch, got {examples} and {batch_size}")
    return examples // batch_size if whole_batches_only else -(-examples // batch_size)


def first_copy_share(decay: float, updates: int) -> float:
    """The share of the network after its first step, barely trained, in the average after
    ``updates`` updates: the first update copies it, each later one keeps ``decay`` of the
    average, so it keeps decay^(updates − 1)."""
    if updates < 1:
        raise ValueError(f"the average exists after its first update, not after {updates}")
    return decay ** (updates - 1)


def run_figures(
    history: Sequence[EpochResult], recipe: Recipe, train_size: int, test_size: int, device: str
) -> dict[str, object]:
    """The build's run as the chapter states it: its final and best test accuracy (%), the test
    digits it gets wrong, the seconds of an epoch on average and the minutes of the run, where
    it ran (a CPU with its threads), the average and the raw weights after the first and last
    epoch (``summaries.average_and_raw``), and the share of the average's first copy in it
    after the first and the third epoch (``first_copy_share``)."""
    if not history:
        raise ValueError("the run has no epochs")
    final = history[-1].test_accuracy
    seconds = [row.seconds for row in history]
    steps = steps_per_epoch(train_size, recipe.batch_size, whole_batches_only=device == "cuda")
    where = device.upper()
    if device == "cpu":
        where += f", on {threads_phrase(row.threads for row in history)} of it"
    return average_and_raw(history) | {
        "final-accuracy": 100 * final,
        "best-accuracy": 100 * max(row.test_accuracy for row in history),
        "errors": round((1 - final) * test_size),
        "seconds-per-epoch": sum(seconds) / len(seconds),
        "minutes": sum(seconds) / 60,
        "device": where,
        "epoch-steps": steps,
        "initial-share-1": 100 * first_copy_share(recipe.ema_decay, steps),
        "initial-share-3": 100 * first_copy_share(recipe.ema_decay, 3 * steps),
    }


def commonest_mistake(counts: np.ndarray) -> dict[str, int]:
    """The pair of true and predicted digit a confusion matrix (rows: true digit) holds most
    often off its diagonal, and how often: the first such pair when several tie. A matrix that
    is not square, or holds no mistake, is an error."""
    mistakes = np.array(counts)  # a copy: the diagonal, the right answers, set to 0
    if mistakes.ndim != 2 or mistakes.shape[0] != mistakes.shape[1]:
        raise ValueError(f"a confusion matrix is square, got the shape {mistakes.shape}")
    np.fill_diagonal(mistakes, 0)
    if not mistakes.any():
        raise ValueError("the confusion matrix holds no mistake")
    true_digit, predicted_digit = divmod(int(mistakes.argmax()), len(counts))
    return {
        "worst-true": true_digit,
        "worst-predicted": predicted_digit,
        "worst-count": int(mistakes.max()),
    }
