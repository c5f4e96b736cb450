"""What the page needs to train a network in the reader's browser ("Train it here").

The page trains with the layers of ``book/_static/layers.js`` — the backward passes of
``nnbook.mnist.manual``, written once more in JavaScript — from the weights PyTorch initialises
the network with for the book's seed, on the first ``TRAIN_DIGITS`` training digits, with the
book's recipe scaled to the page's batch. While the book is built, the chapter "Draw a digit"
writes two scripts into the built ``_static/`` (``$NNBOOK_STATIC``, as ``nnbook.mnist.export``
does):

- ``START_SCRIPT`` registers ``window.nnbookTrainStart = {seed, first, networks}``: for each
  network the page trains (``TRAINED_MODELS``) what ``nnbook.mnist.export`` writes of a trained
  one — its layers, its initial state dict, the training set's normalisation — and its recipe,
  and which one the page offers first. The page trains a network whether or not the build
  exported it for drawing;
- ``DIGITS_SCRIPT`` registers ``window.nnbookTrainDigits = {train, test}``, each
  ``{count, pixels, labels}``: MNIST's ink bytes (0-255, N × 28 × 28) gzip-compressed, then
  base64, and the labels as base64 bytes. The page loads it only when the reader asks to train.
"""

from __future__ import annotations

import base64
import gzip
import inspect
import json
import math
from pathlib import Path

import torch
from torch import nn

from nnbook.mnist.data import load, read_raw
from nnbook.mnist.environment import seed_everything
from nnbook.mnist.export import model_export, static_folder, write_static_script
from nnbook.mnist.networks import ANSWER, SEPARABLE_FRONTIER, build_model
from nnbook.mnist.recipes import at_batch_size, recipe_for

#: The page's batch: a step of ``tiny`` takes tens of milliseconds in JavaScript, so the loss
#: and the maps move several times a second.
PAGE_BATCH_SIZE = 32
#: Training digits shipped with the build: the first 10,000 of MNIST's training set (every digit
#: about a tenth of them), one pass of which takes well under a minute in the page.
TRAIN_DIGITS = 10_000
#: Test digits the page measures its accuracy on: the first 1,000 of the test set.
TEST_DIGITS = 1_000
#: Training steps between two measurements of the accuracy on the test digits in the page.
EVALUATE_EVERY = 50
#: The networks the page trains: ``tiny``, the chapter's answer and its frontier's first network
#: (depthwise-separable, a step a few times ``tiny``'s), and ``net`` (with dropout, slower).
TRAINED_MODELS = ("tiny", ANSWER, SEPARABLE_FRONTIER[0], "net")
#: The network the page offers first: the smallest, whose step takes tens of milliseconds.
FIRST_MODEL = "tiny"
START_SCRIPT = "nnbook-train-start.js"
DIGITS_SCRIPT = "nnbook-train-digits.js"


def initial_network(name: str, seed: int) -> nn.Module:
    """The network ``fit`` starts from for ``seed``: seeded once, then built (``start_run``)."""
    seed_everything(seed)
    return build_model(name)


def one_cycle_defaults() -> dict[str, float]:
    """PyTorch's one-cycle schedule as the trainer uses it (``OneCycleLR``'s defaults)."""
    defaults = inspect.signature(torch.optim.lr_scheduler.OneCycleLR).parameters
    names = {
        "pctStart": "pct_start",
        "divFactor": "div_factor",
        "finalDivFactor": "final_div_factor",
        "baseMomentum": "base_momentum",
        "maxMomentum": "max_momentum",
    }
    return {key: float(defaults[name].default) for key, name in names.items()}


def page_recipe(name: str) -> dict[str, object]:
    """The book's recipe for ``name`` scaled to the page's batch (``at_batch_size``'s square-root
    rule), for one pass over the shipped digits, as the page's trainer reads it. The page shows
    the weights it trains as they are: it keeps no average of them (``Recipe.ema_decay``)."""
    recipe = at_batch_size(recipe_for(name), PAGE_BATCH_SIZE)
    if recipe.schedule != "onecycle":
        raise ValueError(f"the page trains with a one-cycle schedule, not {recipe.schedule!r}")
    momenta = {m.momentum for m in build_model(name).modules() if isinstance(m, nn.BatchNorm2d)}
    return {
        "batchSize": recipe.batch_size,
        "lr": recipe.lr,
        "weightDecay": recipe.weight_decay,
        "nesterov": recipe.nesterov,
        "stepsPerPass": math.ceil(TRAIN_DIGITS / recipe.batch_size),
        "evaluateEvery": EVALUATE_EVERY,
        "batchNormMomentum": momenta.pop() if momenta else None,
        **one_cycle_defaults(),
    }


def normalisation(root: str | Path | None = None) -> tuple[float, float]:
    """The training set's mean and standard deviation of ink in [0, 1], those
    ``nnbook.mnist.data.load`` normalises with."""
    data = load(root, download=False)
    return data.mean, data.std


def start_value(seed: int, root: str | Path | None = None) -> dict[str, object]:
    """For each network of ``TRAINED_MODELS``: its layers and initial state dict for ``seed``
    (``model_export``, no test accuracy), the normalisation, and its recipe."""
    mean, std = normalisation(root)
    networks = {
        name: {
            **model_export(initial_network(name, seed), mean, std, None),
            "recipe": page_recipe(name),
        }
        for name in TRAINED_MODELS
    }
    return {"seed": seed, "first": FIRST_MODEL, "networks": networks}


def write_training_start(seed: int, root: str | Path | None = None) -> Path | None:
    """``START_SCRIPT`` in the built book; None outside a build (nothing is read then)."""
    if static_folder() is None:
        return None
    text = f"window.nnbookTrainStart = {json.dumps(start_value(seed, root))};\n"
    return write_static_script(START_SCRIPT, text)


def _packed(images: torch.Tensor, labels: torch.Tensor) -> dict[str, object]:
    ink = images.to(torch.uint8).numpy().tobytes()
    return {
        "count": len(labels),
        "pixels": base64.b64encode(gzip.compress(ink, compresslevel=9, mtime=0)).decode(),
        "labels": base64.b64encode(labels.to(torch.uint8).numpy().tobytes()).decode(),
    }


def digits_value(root: str | Path | None = None) -> dict[str, object]:
    """The shipped digits: the first ``TRAIN_DIGITS`` training and ``TEST_DIGITS`` test ones."""
    train_x, train_y, test_x, test_y = read_raw(root, download=False)
    return {
        "train": _packed(train_x[:TRAIN_DIGITS], train_y[:TRAIN_DIGITS]),
        "test": _packed(test_x[:TEST_DIGITS], test_y[:TEST_DIGITS]),
    }


def write_training_digits(root: str | Path | None = None) -> Path | None:
    """``DIGITS_SCRIPT`` in the built book; None outside a build (nothing is read then)."""
    if static_folder() is None:
        return None
    text = f"window.nnbookTrainDigits = {json.dumps(digits_value(root))};\n"
    return write_static_script(DIGITS_SCRIPT, text)
