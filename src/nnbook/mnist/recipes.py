"""How the book trains each network: the ``Recipe`` (everything that decides a run besides the
data and the seed) and every recipe by name, with the steps of "How small can it go".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from dataclasses import fields as dataclass_fields

import numpy as np

from nnbook.mnist.hardware import bfloat16_in_hardware
from nnbook.mnist.networks import (
    ANSWER,
    CANDIDATES,
    DEFAULT_MODEL,
    FRONTIER,
    SEPARABLE_FRONTIER,
    check_model,
)
from nnbook.mnist.targets import COURSE_MAX_EPOCHS


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a training run besides the data and the seed. Every field is
    given: the book's recipes are spelled out below (``replace`` derives one from another), and
    a record's recipe is read with ``recorded_recipe``."""

    epochs: int
    batch_size: int
    lr: float  #: the peak learning rate of the one-cycle schedule (or the constant rate)
    #: SGD's momentum under a constant rate; under the one-cycle schedule only whether there is
    #: any (> 0): the schedule then moves it itself, 0.95 → 0.85 → 0.95 against the rate
    #: (``OneCycleLR``'s defaults)
    momentum: float
    nesterov: bool
    weight_decay: float
    schedule: str  #: "onecycle" (Smith & Topin 2019) or "constant"
    augment: bool  #: mild random rotation, shift and scale of every training batch
    max_degrees: float
    max_translate: float
    max_scale: float
    #: 0: evaluate and keep the trained weights. Else the run also keeps an exponential moving
    #: average of its weights (and batch-norm statistics), ``average ← d·average + (1 − d)·w``
    #: after every step, and evaluates and keeps that instead.
    ema_decay: float
    #: None: the network's own dropout (``Net``'s 0.30, as in the class notes). A share: every
    #: ``Dropout`` layer of the network drops that share of its inputs instead; 0 turns them off
    #: (and costs no time: a dropout of 0 is skipped).
    dropout: float | None
    #: On a CPU, the forward pass (and so the backward pass) under bfloat16 autocast, for a CPU
    #: with bfloat16 instructions (AVX-512 BF16 or AMX: ``bfloat16_in_hardware``); the weights,
    #: their update and the loss stay float32. A GPU trains in float32 regardless.
    cpu_bfloat16: bool
    #: The last this many epochs see the digits as they are, unaugmented (0: every epoch of an
    #: augmenting recipe augments): the network ends on digits like those it is tested on.
    clean_last_epochs: int

    def __post_init__(self) -> None:
        if not (isinstance(self.epochs, int) and self.epochs > 0):
            raise ValueError(f"epochs must be a positive whole number, got {self.epochs!r}")
        if not (isinstance(self.batch_size, int) and self.batch_size > 0):
            raise ValueError(
                f"batch size must be a positive whole number, got {self.batch_size!r}"
            )
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"learning rate must be a finite positive number, got {self.lr!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight decay must be 0 or more, got {self.weight_decay!r}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"the average's decay must be in [0, 1), got {self.ema_decay!r}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be None or in [0, 1), got {self.dropout!r}")
        if self.schedule not in ("onecycle", "constant"):
            raise ValueError(f"schedule must be 'onecycle' or 'constant', got {self.schedule!r}")
        if not (
            isinstance(self.clean_last_epochs, int) and 0 <= self.clean_last_epochs <= self.epochs
        ):
            raise ValueError(
                f"the clean last epochs must be a whole number from 0 to the {self.epochs} "
                f"epochs, got {self.clean_last_epochs!r}"
            )

    def of_epoch(self, epoch: int) -> Recipe:
        """The recipe of epoch ``epoch`` (counted from 1): this one, unaugmented in the last
        ``clean_last_epochs`` epochs."""
        if not 1 <= epoch <= self.epochs:
            raise ValueError(f"epoch must be from 1 to {self.epochs}, got {epoch!r}")
        if epoch > self.epochs - self.clean_last_epochs:
            return replace(self, augment=False)
        return self

    def augmentation(self) -> dict[str, float] | None:
        """``random_affine``'s limits, or None when the recipe does not augment."""
        if not self.augment:
            return None
        return {
            "max_degrees": self.max_degrees,
            "max_translate": self.max_translate,
            "max_scale": self.max_scale,
        }


#: The book's recipe until it was halved: one-cycle SGD with Nesterov momentum and mild affine
#: augmentation, 12 epochs, the network's own dropout. The GPU's recipe and those of "How small can
#: it go" are built on it; ``bench/experiments/halve.py`` trains it beside today's default. Batch
#: 64, not 128: on a CPU an epoch takes the same time, with twice the updates (final test
#: accuracies per seed: ``bench/experiments/seeds.py``, recorded in ``bench/results/seeds.jsonl``).
TWELVE_EPOCH_RECIPE = Recipe(
    epochs=12,
    batch_size=64,
    lr=0.1,
    momentum=0.9,
    nesterov=True,
    weight_decay=1e-4,
    schedule="onecycle",
    augment=True,
    max_degrees=7.0,
    max_translate=0.05,
    max_scale=0.05,
    ema_decay=0.0,
    dropout=None,
    cpu_bfloat16=False,
    clean_last_epochs=0,
)
#: The book's default recipe: the same SGD and augmentation in two thirds of the epochs, without
#: dropout (the augmentation regularises already; a step draws no masks), keeping the average of
#: the weights over about the last thousand steps, in bfloat16 on a CPU that has it in hardware:
#: under half the CPU seconds there, at no loss of accuracy (bench/experiments/halve.py, its record
#: bench/results/halve.jsonl, every lever alone too), two thirds of the epochs elsewhere.
DEFAULT_RECIPE = replace(
    TWELVE_EPOCH_RECIPE,
    epochs=8,
    dropout=0.0,
    ema_decay=0.999,
    cpu_bfloat16=bfloat16_in_hardware(),
)
#: The class notes' recipe: SGD with momentum 0.9 at a constant 0.1, batch 256, no augmentation.
CLASS_RECIPE = replace(
    TWELVE_EPOCH_RECIPE,
    epochs=19,
    batch_size=256,
    nesterov=False,
    weight_decay=0.0,
    schedule="constant",
    augment=False,
)


def default_recipe_for(bfloat16: bool) -> Recipe:
    """The default recipe as a CPU trains it with bfloat16 instructions (``bfloat16=True``) or
    without: a record made on one machine names the one it ran there, whatever this one has."""
    return replace(DEFAULT_RECIPE, cpu_bfloat16=bfloat16)


def recorded_recipe(fields: Mapping[str, object]) -> Recipe:
    """The recipe a record's line names (``dataclasses.asdict`` of one). A field added to
    ``Recipe`` after the line was written is absent from it; it takes the value every run had
    before the field existed, the twelve-epoch recipe's (no average, no clean last epochs, the
    network's own dropout, float32)."""
    unknown = set(fields) - {f.name for f in dataclass_fields(Recipe)}
    if unknown:
        raise ValueError(f"a record's recipe names no such fields: {', '.join(sorted(unknown))}")
    return replace(TWELVE_EPOCH_RECIPE, **fields)


# On a GPU -----------------------------------------------------------------------------------

#: The batch a GPU trains with: at batch 64 it is mostly idle, and a step at 256 costs far less
#: than four at 64 (bench/timing/gpu.py).
GPU_BATCH_SIZE = 256


def at_batch_size(recipe: Recipe, batch_size: int) -> Recipe:
    """``recipe`` at ``batch_size`` (a GPU's, ``GPU_BATCH_SIZE``; the page's): its peak learning
    rate scaled by the square root of the ratio of the batches (in proportion to it, the rate made
    training diverge: bench/timing/gpu.py), and the decay of its average per step raised to that
    ratio, so that it averages over as many images."""
    factor = batch_size / recipe.batch_size
    return replace(
        recipe,
        batch_size=batch_size,
        lr=round(recipe.lr * factor**0.5, 4),
        ema_decay=round(recipe.ema_decay**factor, 6),
    )


#: The GPU's recipe for the default network: batch 256, peak rate 0.2, 16 epochs (its runs, and
#: those at 12 epochs, are in bench/results/gpu.jsonl).
GPU_RECIPE = replace(at_batch_size(TWELVE_EPOCH_RECIPE, GPU_BATCH_SIZE), epochs=16)

# How small can it go ------------------------------------------------------------------------

#: The recipe of every step: the book's one-cycle SGD, for the course's epochs, without
#: weight decay (networks this small fit the training set less well than the test set already).
SMALL_RECIPE = replace(TWELVE_EPOCH_RECIPE, epochs=COURSE_MAX_EPOCHS, weight_decay=0.0)
#: The first two steps make their point in fewer epochs (the skeleton learns the training set
#: better than it predicts the test set, batch normalisation learns faster), which keeps the
#: book's build shorter; the last step takes all the course allows.
FIRST_STEPS_EPOCHS = 10
#: The first steps see the digits as they are; augmentation arrives with its own step.
PLAIN_RECIPE = replace(SMALL_RECIPE, augment=False, epochs=FIRST_STEPS_EPOCHS)
#: The last step: twice the batch and twice the peak rate (the variants tried are in
#: bench/experiments/small_models.py), and the network it keeps is the average of its weights over
#: about the last thousand steps, which holds the target in the last epochs where the weights of
#: the step alone wobble around it (its runs per seed in bench/results/seeds.jsonl).
FINAL_RECIPE = replace(SMALL_RECIPE, batch_size=128, lr=0.2, ema_decay=0.999)
#: The recipe of the chapter's answer (``networks.ANSWER``): the last step's, its last five
#: epochs on the digits as they are, so that the network ends on digits like those it is tested
#: on (every seed's run in bench/results/seeds.jsonl).
ANSWER_RECIPE = replace(FINAL_RECIPE, clean_last_epochs=5)


@dataclass(frozen=True)
class Step:
    """One step of the chapter: a model trained with a recipe, aiming at a target."""

    title: str
    model: str  #: a name of ``nnbook.mnist.networks.MODELS``
    recipe: Recipe
    target: str  #: what this step sets out to show, in a sentence
    #: whether the book's build trains it; else its chapter reads its runs from the seeds record
    trained_by_build: bool = True


STEPS = (
    Step(
        "The skeleton",
        "skeleton",
        PLAIN_RECIPE,
        "a network under the course's parameter budget, of the shape the next step keeps",
    ),
    Step(
        "Batch normalisation",
        "normalised",
        PLAIN_RECIPE,
        "the same network, each 3×3 convolution followed by batch normalisation",
    ),
    Step(
        "Below the smallest published network",
        "tiny",
        FINAL_RECIPE,
        "at most the chapter's final parameter budget, trained on augmented digits",
        trained_by_build=False,  # the answer's run takes its place in the build
    ),
    Step(
        "The answer",
        ANSWER,
        ANSWER_RECIPE,
        "the course's target held in each of the last epochs of every run, within the same budget",
    ),
)
#: The steps the book's build trains, with the book's seed: the first two and the answer.
BUILT_STEPS = tuple(step for step in STEPS if step.trained_by_build)
#: Every run the book's chapters train, as (model, recipe), with the book's seed: ``net``
#: (the training chapter) and the built steps ("How small can it go").
#: ``nnbook.mnist.runs.train_together`` trains them before the build, two at a time.
BUILD_RUNS: tuple[tuple[str, Recipe], ...] = (
    (DEFAULT_MODEL, DEFAULT_RECIPE),
    *((step.model, step.recipe) for step in BUILT_STEPS),
)


def recipe_for(model: str, gpu: bool = False) -> Recipe:
    """The recipe the book trains ``model`` with: the default for ``net``, the answer's for the
    chapter's answer and its frontier, the last step's for Tiny's frontier and the other
    candidates for the last step, else its step's.

    ``gpu=True``: the one for a GPU's CUDA graphs, ``GPU_RECIPE`` for ``net`` and the step's
    recipe at a GPU's batch (``at_batch_size``) for the others.
    """
    check_model(model)
    if model == DEFAULT_MODEL:
        return GPU_RECIPE if gpu else DEFAULT_RECIPE
    if model == ANSWER or model in SEPARABLE_FRONTIER:
        recipe = ANSWER_RECIPE
    elif model in FRONTIER or model in CANDIDATES:
        recipe = FINAL_RECIPE
    else:
        recipe = next(step.recipe for step in STEPS if step.model == model)
    return at_batch_size(recipe, GPU_BATCH_SIZE) if gpu else recipe
