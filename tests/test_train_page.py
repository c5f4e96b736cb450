"""The backward passes in the page (``book/_static/layers.js``, ``window.nnbookTraining``) against
``torch.autograd`` and ``torch.optim.SGD`` in float64, and "Train it here" trained by a click, in
headless Chromium from ``file://`` with every other request blocked. Needs the built book.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from built_book import HTML, page_from_file
from page_gradients import (
    TOLERANCE,
    autograd_loss_and_gradients,
    input_gradients,
    largest_gradient_difference,
    normalisation,
    page_loss_and_gradients,
    random_masks,
    randomised,
)
from torch import nn

from nnbook.mnist.export import DRAWN_MODELS
from nnbook.mnist.manual import largest_relative_difference
from nnbook.mnist.networks import ANSWER, build_model
from nnbook.mnist.page_training import (
    TRAINED_MODELS,
    initial_network,
    one_cycle_defaults,
    page_recipe,
)
from nnbook.mnist.recipes import recipe_for
from nnbook.mnist.trainer import BOOK_HOOKS, start_run

pytestmark = pytest.mark.book  # reads the built book

PAGE = HTML / "book" / "part2" / "digits.html"
#: Steps within which a click on Train must lift the page's test accuracy above 90 %: one pass
#: over the page's training digits (Tiny with its first convolution padded took 250 steps in a
#: CI run, the unpadded one under 200).
STEPS_TO_NINETY = page_recipe("tiny")["stepsPerPass"]
#: Every network the page knows: those it trains and those the build exported for drawing.
KNOWN = tuple(dict.fromkeys((*TRAINED_MODELS, *DRAWN_MODELS)))


@pytest.fixture(scope="module")
def tab():
    with page_from_file(PAGE, "window.nnbookTraining && window.nnbookTrainStart") as page:
        yield page


def random_network(name: str, seed: int) -> nn.Module:
    """``name`` with random weights and running statistics, float64."""
    return randomised(build_model(name), seed)


@pytest.mark.parametrize("name", KNOWN)
@pytest.mark.parametrize("seed", [1, 2])
def test_loss_and_gradients_are_autograds(tab, name, seed):
    difference = largest_gradient_difference(tab, name, build_model(name), seed)
    print(f"{name}, seed {seed}: largest relative difference from autograd {difference:.1e}")
    assert difference <= TOLERANCE


def test_without_masks_no_unit_is_dropped(tab):
    network = random_network("net", 3)
    rng = np.random.default_rng(3)
    pixels, labels = rng.random((2, 784)), rng.integers(0, 10, 2)
    ones = [torch.ones_like(mask) for mask in random_masks(network, 2, 3)]
    mean, std = normalisation(tab, "net")
    loss, ours = page_loss_and_gradients(tab, "net", network, pixels, labels, None)
    reference_loss, reference = autograd_loss_and_gradients(
        network, pixels, labels, ones, mean, std
    )
    assert abs(loss - reference_loss) <= TOLERANCE * reference_loss
    assert largest_relative_difference(ours, reference) <= TOLERANCE


def as_page_arrays(tensors: dict[str, torch.Tensor]) -> dict[str, dict]:
    return {
        key: {"shape": list(t.shape), "data": t.flatten().tolist()} for key, t in tensors.items()
    }


@pytest.mark.parametrize("nesterov", [True, False])
def test_sgd_steps_are_torch_optim_sgds(tab, nesterov):
    generator = torch.Generator().manual_seed(4)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=generator, dtype=torch.float64)

    weights = {"a": randn(3, 4), "b": randn(5)}
    steps = [{key: randn(*w.shape) for key, w in weights.items()} for _ in range(4)]
    options = {"lr": 0.05, "momentum": 0.9, "weightDecay": 1e-3, "nesterov": nesterov}
    ours = tab.evaluate(
        """([state, steps, options]) => {
             let buffers = null;
             for (const gradients of steps) {
               ({state, buffers} = nnbookTraining.sgdStep(state, gradients, buffers, options));
             }
             return Object.fromEntries(
               Object.entries(state).map(([k, v]) => [k, Array.from(v.data)]));
           }""",
        [as_page_arrays(weights), [as_page_arrays(step) for step in steps], options],
    )
    parameters = {key: nn.Parameter(w.clone()) for key, w in weights.items()}
    optimizer = torch.optim.SGD(
        parameters.values(), lr=0.05, momentum=0.9, weight_decay=1e-3, nesterov=nesterov
    )
    for step in steps:
        for key, parameter in parameters.items():
            parameter.grad = step[key].clone()
        optimizer.step()
    for key, parameter in parameters.items():
        np.testing.assert_allclose(
            np.array(ours[key]).reshape(parameter.shape),
            parameter.detach().numpy(),
            rtol=1e-13,
            atol=1e-15,
        )


def test_sgd_step_leaves_its_arguments_unchanged(tab):
    unchanged = tab.evaluate(
        """() => {
             const state = {w: {shape: [2], data: [1, 2]}};
             const gradients = {w: {shape: [2], data: [0.5, -0.5]}};
             const first = nnbookTraining.sgdStep(state, gradients, null,
               {lr: 0.1, momentum: 0.9, weightDecay: 0, nesterov: true});
             const buffers = JSON.stringify(Array.from(first.buffers.w.data));
             nnbookTraining.sgdStep(first.state, gradients, first.buffers,
               {lr: 0.1, momentum: 0.9, weightDecay: 0, nesterov: true});
             return JSON.stringify(state.w.data) === "[1,2]"
               && JSON.stringify(gradients.w.data) === "[0.5,-0.5]"
               && JSON.stringify(Array.from(first.buffers.w.data)) === buffers;
           }"""
    )
    assert unchanged


@pytest.mark.parametrize("name", DRAWN_MODELS)
def test_input_gradient_is_autograds(tab, mnist, name):
    """On the weights the build trained and a test digit."""
    digit_ink = (mnist.test.images[7, 0].double() * mnist.std + mnist.mean).clamp(0, 1)
    # a little noise: a blank region of a digit makes equal maxima in a pooling window, where
    # autograd's and the page's choices of one (both right) are decided by round-off
    noise = torch.rand(28, 28, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    ink = (0.9 * digit_ink + 0.1 * noise).flatten()
    ours, reference = input_gradients(tab, name, build_model(name), ink)
    assert np.abs(ours - reference).max() <= TOLERANCE * np.abs(reference).max()


BAD = {
    "unknown network": ("lossAndGradients('lenet', s, p, [1], null)", "no network named lenet"),
    "wrong length": ("lossAndGradients('tiny', s, p.slice(1), [1], null)", "pixels"),
    "label out of range": ("lossAndGradients('tiny', s, p, [10], null)", "label 0 is 10"),
    "not a whole label": ("lossAndGradients('tiny', s, p, [1.5], null)", "label 0 is 1.5"),
    "a NaN pixel": ("lossAndGradients('tiny', s, [NaN, ...p.slice(1)], [1], null)", "pixels"),
    "ink outside [0, 1]": ("lossAndGradients('tiny', s, [2, ...p.slice(1)], [1], null)", "[0, 1]"),
    "masks for no dropout": ("lossAndGradients('tiny', s, p, [1], [[1]])", "1 masks for the 0"),
    "a mask of the wrong shape": ("lossAndGradients('net', n, p, [1], [[0], [0]])", "must hold"),
    "a mask of other values": (
        "lossAndGradients('net', n, p, [1], [Array(1568).fill(0.5), Array(800).fill(0)])",
        "only 0 or 1/(1 − p)",
    ),
    "a state without an entry": (
        "lossAndGradients('tiny', {}, p, [1], null)",
        "state has no entry",
    ),
    "a negative rate": (
        "sgdStep(s, {}, null, {lr: -1, momentum: 0.9, weightDecay: 0, nesterov: true})",
        "lr must be",
    ),
    "a gradient of the wrong length": (
        "sgdStep({w: {shape: [2], data: [1, 2]}}, {w: {shape: [1], data: [1]}}, null, {lr: 0.1})",
        "gradient w.data must hold 2",
    ),
    "an input gradient for no digit": ("inputGradient('tiny', p, 11)", "digit is 11"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_an_error_that_names_it(tab, case):
    call, expected = BAD[case]
    message = tab.evaluate(
        f"""() => {{
              const s = nnbookDigits.stateDict('tiny');
              const n = nnbookDigits.stateDict('net');
              const p = Array(784).fill(0.5);
              try {{ nnbookTraining.{call}; return null; }}
              catch (error) {{ return error instanceof Error ? error.message : 'not an Error'; }}
            }}"""
    )
    assert message is not None and expected in message, message


@pytest.mark.parametrize("name", TRAINED_MODELS)
def test_the_start_is_the_weights_fit_starts_from(tab, mnist, name):
    start = tab.evaluate(
        """name => Object.fromEntries(Object.entries(
             nnbookLayers.decodeState(nnbookTrainStart.networks[name].state))
             .map(([k, v]) => [k, Array.from(v.data)]))""",
        name,
    )
    seed = tab.evaluate("nnbookTrainStart.seed")
    run = start_run(name, recipe_for(name), seed, mnist.train.subset(64), 1, BOOK_HOOKS)
    for key, value in run.network.state_dict().items():
        np.testing.assert_array_equal(np.float32(start[key]), value.flatten().float().numpy())
    recipe = tab.evaluate("name => nnbookTrainStart.networks[name].recipe", name)
    assert recipe == page_recipe(name)
    assert initial_network(name, seed).state_dict().keys() == start.keys()


def test_the_one_cycle_schedule_is_pytorchs(tab):
    recipe = page_recipe("tiny")
    total = recipe["stepsPerPass"]
    ours = tab.evaluate(
        "([r, n]) => Array.from({length: n}, (_, s) => nnbookLayers.oneCycle(r, s, n))",
        [recipe, total],
    )
    parameter = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=recipe["lr"], momentum=0.9, nesterov=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe["lr"], total_steps=total
    )
    for step in range(total):
        group = optimizer.param_groups[0]
        assert ours[step]["lr"] == pytest.approx(group["lr"], rel=1e-12)
        assert ours[step]["momentum"] == pytest.approx(group["momentum"], rel=1e-12)
        optimizer.step()
        schedule.step()
    assert one_cycle_defaults()["maxMomentum"] == ours[0]["momentum"]


def train_to_ninety(tab, name: str, timeout_ms: int) -> int:
    """Select ``name`` in "Train it here", press Train and wait until the page reports nine in
    ten of the shipped test digits right; the steps it took."""
    tab.select_option("#nnbook-train-model", name)
    tab.click('button[data-action="train"]')
    tab.wait_for_function(
        "() => Number(document.querySelector('[data-training-accuracy]').dataset"
        ".trainingAccuracy || 0) > 0.9",
        timeout=timeout_ms,
    )
    steps = int(tab.get_attribute("[data-training-steps]", "data-training-steps"))
    accuracy = float(tab.get_attribute("[data-training-accuracy]", "data-training-accuracy"))
    print(f"{name} in the page: {100 * accuracy:.1f} % of the test digits after {steps} steps")
    return steps


def test_clicking_train_teaches_the_network_and_pause_stops_it(tab):
    assert train_to_ninety(tab, "tiny", 180_000) <= STEPS_TO_NINETY
    # the page answers while the Worker trains: a click on Pause takes effect (how long the
    # page's own tasks take meanwhile is measured by bench/timing/train_page.py, not asserted here)
    tab.click('button[data-action="pause"]')
    # the Worker ends the step it is in, says so, and takes no further step
    tab.wait_for_selector("[data-training-paused]", state="attached")
    paused_at = tab.get_attribute("[data-training-steps]", "data-training-paused")
    assert tab.get_attribute("[data-training-steps]", "data-training-steps") == paused_at
    tab.wait_for_timeout(500)
    assert tab.get_attribute("[data-training-steps]", "data-training-steps") == paused_at
    assert tab.locator('button[data-action="train"]').is_enabled()
    # the network just trained reads a test digit on "Draw a digit", with its heat map
    tab.click('a[data-action="use-weights"]')
    tab.wait_for_function(
        "() => document.querySelector('#nnbook-digit-model').value === 'tiny-here'"
    )
    tab.click('button[data-action="sample"]')
    assert tab.locator("[data-prediction]").inner_text().strip() in "0123456789"
    painted = tab.evaluate(
        """() => {
             const canvas = document.querySelector('canvas.nnbook-digit-heat');
             const data = canvas.getContext('2d').getImageData(0, 0, 28, 28).data;
             let coloured = 0;
             for (let k = 0; k < data.length; k += 4) if (data[k] !== data[k + 2]) coloured++;
             return coloured;
           }"""
    )
    assert painted > 0
    tab.click('button[data-action="reset"]')
    assert tab.locator("[data-training-steps]").get_attribute("data-training-steps") == "0"


def test_a_pass_teaches_the_answer_in_the_page(tab):
    """The chapter's answer, trained in the page from its start, gets nine in ten of the shipped
    test digits right within one pass over the training digits (bench/timing/train_page.py: 96.4 %
    after the whole pass)."""
    assert train_to_ninety(tab, ANSWER, 300_000) <= page_recipe(ANSWER)["stepsPerPass"]
    tab.click('button[data-action="pause"]')
    tab.wait_for_selector("[data-training-paused]", state="attached")
    tab.click('button[data-action="reset"]')


@pytest.mark.parametrize("name", [n for n in TRAINED_MODELS if n not in ("tiny", "net")])
def test_the_depthwise_networks_train_in_the_worker_with_their_recipe(tab, name):
    """The answer and its frontier's network train in the page's Worker from their own start
    (neither needs to be drawn), at their recipe's rate: ten steps, a finite loss, no error (a
    whole pass is bench/timing/train_page.py's; ten steps of the one-cycle warm-up move little)."""
    tab.select_option("#nnbook-train-model", name)
    assert float(tab.input_value("#nnbook-train-rate")) == page_recipe(name)["lr"]
    tab.click('button[data-action="train"]')
    tab.wait_for_function(
        "() => Number(document.querySelector('[data-training-steps]').dataset"
        ".trainingSteps || 0) >= 10",
        timeout=120_000,
    )
    tab.click('button[data-action="pause"]')
    tab.wait_for_selector("[data-training-paused]", state="attached")
    loss = float(tab.locator("[data-training-loss]").inner_text())
    assert np.isfinite(loss) and loss > 0
    assert "stopped" not in tab.locator(".nnbook-train-status").inner_text()
    tab.click('button[data-action="reset"]')
