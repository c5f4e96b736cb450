"""``book/_static/layers.js`` from the sources, without a build: a page of its own (``file://``,
headless Chromium, every other request blocked) that loads it and registers networks exported
by ``nnbook.mnist.export`` with random weights. Each network's loss, gradients and input
gradient against ``torch.autograd`` in float64 — the book's networks, the answer's depthwise
convolutions among them, and a made-up network whose grouped convolutions take the paths the
book's do not (a 5 × 5 kernel, groups of several channels, a bias) — and bad layers refused by
name. ``test_train_page`` checks the same on the built page."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from built_book import ROOT, page_from_file
from page_gradients import (
    TOLERANCE,
    input_gradients,
    largest_gradient_difference,
    randomised,
)
from torch import nn

from nnbook.mnist import export
from nnbook.mnist.networks import ANSWER, SEPARABLE_FRONTIER, build_model
from nnbook.mnist.networks.base import SequentialClassifier
from nnbook.mnist.page_training import TRAINED_MODELS

MEAN, STD = 0.1307, 0.3081  # MNIST's, near enough: any normalisation checks the same


class Grouped(SequentialClassifier):
    """Grouped convolutions the book's networks do not have: a 5 × 5 kernel in two groups with a
    bias and padding, a depthwise 3 × 3 one, a 1 × 1 one in three groups of two channels."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1, bias=False),  # 4×28×28
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Conv2d(4, 6, 5, padding=2, groups=2),  # 6×28×28: outputs 0-2 see inputs 0-1
            nn.ReLU(),
            nn.MaxPool2d(2),  # 6×14×14
            nn.Conv2d(6, 6, 3, groups=6, bias=False),  # 6×12×12: depthwise
            nn.Dropout(0.3),
            nn.Conv2d(6, 12, 1, groups=3),  # 12×12×12
            nn.AvgPool2d(12),  # 12×1×1
            nn.Conv2d(12, 10, 1),  # 10×1×1
        )


#: The networks checked: the page's, those it trains, the answer's frontier, the made-up one.
NETWORKS = dict.fromkeys((*export.PAGE_MODELS, *TRAINED_MODELS, *SEPARABLE_FRONTIER))
NETWORKS = {name: (lambda name=name: build_model(name)) for name in NETWORKS}
NETWORKS["grouped"] = Grouped


def exported_network(name: str) -> nn.Module:
    """``name`` with random weights (seed 0) rounded to float32, as the export keeps them."""
    return randomised(NETWORKS[name](), seed=0).float().double()


@pytest.fixture(scope="module")
def tab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("page")
    shutil.copy(ROOT / "book" / "_static" / "layers.js", folder / "layers.js")
    scripts = [
        export.javascript(
            "nnbookDigitModels", name, export.model_export(exported_network(name), MEAN, STD, 0)
        )
        for name in NETWORKS
    ]
    (folder / "networks.js").write_text("".join(scripts), encoding="utf-8")
    (folder / "index.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>layers.js</title>'
        '<script src="layers.js"></script><script src="networks.js"></script></head>'
        "<body></body></html>",
        encoding="utf-8",
    )
    with page_from_file(folder / "index.html", "window.nnbookTraining") as page:
        yield page


def test_the_depthwise_networks_have_grouped_convolutions():
    """What the checks below are about: the answer's 3 × 3 convolutions after the first are one
    group per channel, and the export says so."""
    plan = export.layer_plan(build_model(ANSWER))
    groups = [(layer["groups"], layer["name"]) for layer in plan if layer["kind"] == "conv"]
    assert groups[0][0] == 1 and any(g > 1 for g, _ in groups)
    modules = dict(build_model(ANSWER).named_modules())
    for count, name in groups:
        assert count == modules[name].groups


@pytest.mark.parametrize("name", list(NETWORKS))
@pytest.mark.parametrize("seed", [1, 2])
def test_loss_and_gradients_are_autograds(tab, name, seed):
    difference = largest_gradient_difference(tab, name, NETWORKS[name](), seed)
    print(f"{name}, seed {seed}: largest relative difference from autograd {difference:.1e}")
    assert difference <= TOLERANCE


@pytest.mark.parametrize("name", list(NETWORKS))
def test_input_gradient_is_autograds(tab, name):
    noise = torch.rand(784, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    ours, reference = input_gradients(tab, name, NETWORKS[name](), noise)
    difference = np.abs(ours - reference).max() / np.abs(reference).max()
    print(f"{name}: input gradient, largest relative difference from autograd {difference:.1e}")
    assert difference <= TOLERANCE


MISSING = object()  #: a number the layer is exported without


def altered(name: str, layer_name: str, **numbers: object) -> str:
    """A script that registers ``name``'s export again as ``bad``, layer ``layer_name`` given
    ``numbers`` (or without those that are ``MISSING``)."""
    value = export.model_export(exported_network(name), MEAN, STD, 0)
    for layer in value["layers"]:
        if layer["name"] == layer_name:
            layer.update(numbers)
            for key in [key for key, number in numbers.items() if number is MISSING]:
                del layer[key]
    return f"nnbookDigitModels.bad = {json.dumps(value)};"


BAD_LAYERS = {
    "groups that do not divide the channels": (
        ("grouped", "features.3", {"groups": 3}),
        "layer features.3: groups = 3 does not divide its 4 input channels",
    ),
    "groups that divide the channels but not the weight's": (
        ("grouped", "features.8", {"groups": 2}),
        "its weight sees 2 input channels per output, but 6 channels in 2 groups are 3",
    ),
    "groups that are not a number": (
        (ANSWER, "features.1.0", {"groups": None}),
        "layer features.1.0: groups must be a whole number ≥ 1, not null",
    ),
    "no groups at all": (
        ("tiny", "features.0.0", {"groups": 0}),
        "groups must be a whole number ≥ 1, not 0",
    ),
    "a depthwise convolution exported without its groups (one group, as before groups were)": (
        (ANSWER, "features.1.0", {"groups": MISSING}),
        "layer features.1.0: its weight sees 1 input channels per output, but 12 channels in 1",
    ),
}


@pytest.mark.parametrize("case", list(BAD_LAYERS))
def test_a_bad_convolution_is_an_error_that_names_it(tab, case):
    (name, layer_name, numbers), expected = BAD_LAYERS[case]
    message = tab.evaluate(
        f"""() => {{
              {altered(name, layer_name, **numbers)}
              try {{
                nnbookTraining.inputGradient('bad', Array(784).fill(0.5), 1);
                return null;
              }} catch (error) {{
                return error instanceof Error ? error.message : 'not an Error';
              }} finally {{ delete nnbookDigitModels.bad; }}
            }}"""
    )
    assert message is not None and expected in message, message
