"""The GPU path's training step, checked on the CPU: the written-out SGD against torch.optim.SGD,
the recorded step (run eagerly) against ``train_epoch``; the GPU itself where there is one."""

import json
import warnings
from dataclasses import asdict, replace

import pytest
import torch
from cli_runner import run_nnbook

from nnbook.mnist import graphed
from nnbook.mnist.checkpoints import HISTORY
from nnbook.mnist.data import MNISTTensors
from nnbook.mnist.environment import seed_everything
from nnbook.mnist.graphed import CapturedStep
from nnbook.mnist.networks import MODELS, build_model
from nnbook.mnist.recipes import (
    DEFAULT_RECIPE,
    GPU_RECIPE,
    TWELVE_EPOCH_RECIPE,
    at_batch_size,
    recipe_for,
)
from nnbook.mnist.trainer import FitOptions, fit, make_optimizer, train_epoch

SMALL = replace(TWELVE_EPOCH_RECIPE, epochs=2, batch_size=64, augment=False)


@pytest.mark.parametrize(
    ("nesterov", "weight_decay", "momentum"), [(True, 1e-4, 0.9), (False, 0.0, 0.9), (False, 0, 0)]
)
def test_sgd_update_is_torch_sgd(nesterov, weight_decay, momentum):
    assert difference_from_sgd(6, nesterov, weight_decay, momentum) < 1e-6


def test_a_wrong_update_is_seen(monkeypatch):
    written_out = graphed.sgd_update_

    def without_nesterov(params, grads, momenta, lr, momentum, weight_decay, nesterov):
        written_out(params, grads, momenta, lr, momentum, weight_decay, False)

    monkeypatch.setattr(graphed, "sgd_update_", without_nesterov)
    assert difference_from_sgd(6, True, 1e-4, 0.9) > 1e-2


def difference_from_sgd(steps: int, nesterov: bool, weight_decay: float, momentum: float):
    """Largest difference between ``sgd_update_`` and ``torch.optim.SGD`` after ``steps`` steps
    on the same random weights and gradients, with a rate and a momentum that change every step
    as the one-cycle schedule's do."""
    torch.manual_seed(0)
    ours = [torch.randn(4, 3), torch.randn(5)]
    theirs = [p.clone().requires_grad_() for p in ours]
    optimizer = torch.optim.SGD(
        theirs, lr=0.1, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay
    )
    momenta = [torch.zeros_like(p) for p in ours]
    for step in range(steps):
        lr, mu = 0.05 * (step + 1), momentum * (1 - 0.03 * step)
        for group in optimizer.param_groups:
            group["lr"], group["momentum"] = lr, mu
        grads = [torch.randn_like(p) for p in ours]
        for p, g in zip(theirs, grads, strict=True):
            p.grad = g.clone()
        optimizer.step()
        rate, mu_tensor = torch.tensor(lr), torch.tensor(mu)
        graphed.sgd_update_(ours, grads, momenta, rate, mu_tensor, weight_decay, nesterov)
    assert not torch.equal(ours[0], theirs[0].new_zeros(4, 3))
    return max((a - b.detach()).abs().max().item() for a, b in zip(ours, theirs, strict=True))


def run_epochs(data, recipe, captured: bool):
    """Epochs of the recorded step (run eagerly) or of ``train_epoch``, same seeds, in float64:
    in float32 round-off differences grow to 1e-3 in a few dozen steps, and hide real ones."""
    seed_everything(1)
    generator = torch.Generator().manual_seed(1)
    network = build_model("net", "cpu").double()
    data = MNISTTensors(data.images.double(), data.labels)
    optimizer, scheduler = make_optimizer(network, recipe, len(data) // recipe.batch_size)
    if captured:
        step = CapturedStep(
            network, optimizer, data, recipe.batch_size, recipe.augmentation(), capture=False
        )
        history = [step.train_epoch(scheduler, generator) for _ in range(recipe.epochs)]
    else:
        history = [
            train_epoch(network, data, optimizer, scheduler, recipe, generator)
            for _ in range(recipe.epochs)
        ]
    return network, history, scheduler.get_last_lr()


def test_the_recorded_step_trains_as_train_epoch(mnist):
    data = mnist.train.subset(640)  # whole batches: both see every example
    ours, our_history, our_lr = run_epochs(data, SMALL, captured=True)
    theirs, their_history, their_lr = run_epochs(data, SMALL, captured=False)
    assert our_lr == their_lr  # the schedule took as many steps
    for ours_row, theirs_row in zip(our_history, their_history, strict=True):
        assert ours_row == pytest.approx(theirs_row, rel=1e-9)
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=name)  # float64 round-off
    assert our_history[1][0] < our_history[0][0]  # and it learns


def test_a_recorded_step_leaves_the_remainder_out(mnist):
    data = mnist.train.subset(200)
    network = build_model("tiny", "cpu")
    optimizer, scheduler = make_optimizer(network, SMALL, 3)
    step = CapturedStep(network, optimizer, data, 64, None, capture=False)
    step.train_epoch(scheduler, torch.Generator().manual_seed(0))
    assert scheduler.last_epoch == 3  # 200 // 64 steps; 8 examples sat the epoch out
    assert step.index.shape == (64,)


def test_a_recorded_step_needs_a_whole_batch_and_plain_sgd(mnist):
    network = build_model("net", "cpu")
    optimizer, _ = make_optimizer(network, SMALL, 1)
    with pytest.raises(ValueError, match="at least one whole batch: 50 examples, batch size 64"):
        CapturedStep(network, optimizer, mnist.train.subset(50), 64, None, capture=False)
    plain = r"^a captured step takes SGD without dampening, minimising$"
    damped = torch.optim.SGD(network.parameters(), lr=0.1, momentum=0.9, dampening=0.5)
    with pytest.raises(ValueError, match=plain):
        CapturedStep(network, damped, mnist.train.subset(64), 64, None, capture=False)
    maximising = torch.optim.SGD(network.parameters(), lr=0.1, momentum=0.9, maximize=True)
    with pytest.raises(ValueError, match=plain):
        CapturedStep(network, maximising, mnist.train.subset(64), 64, None, capture=False)
    halves = list(network.parameters())
    two_groups = torch.optim.SGD([{"params": halves[:2]}, {"params": halves[2:]}], lr=0.1)
    with pytest.raises(ValueError, match=r"^a captured step takes an optimiser with one param"):
        CapturedStep(network, two_groups, mnist.train.subset(64), 64, None, capture=False)


def test_sgd_update_refuses_lists_of_other_lengths():
    weights = [torch.zeros(2), torch.zeros(3)]
    with pytest.raises(ValueError, match="shorter"):  # zip(strict=True): no weight left out
        graphed.sgd_update_(weights, [torch.ones(2)], [torch.zeros(2)] * 2, torch.tensor(0.1),
                            torch.tensor(0.9), 0.0, False)  # fmt: skip
    assert torch.equal(weights[1], torch.zeros(3))


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the step is recorded")
def test_a_step_is_recorded_by_default_which_needs_a_gpu(mnist):
    network = build_model("tiny", "cpu")
    optimizer, _ = make_optimizer(network, SMALL, 1)
    with pytest.raises((RuntimeError, AssertionError, ValueError)):
        CapturedStep(network, optimizer, mnist.train.subset(64), 64, None)


def test_the_recorded_step_updates_the_optimisers_own_momenta_and_the_average(mnist):
    """The momenta it updates are the optimiser's (so a checkpoint of the optimiser holds them),
    augmentation runs on its batches, the average takes in every step, and the scheduler's
    warning about a step it did not see (the update is ``sgd_update_``) is not raised."""
    from nnbook.mnist.trainer import average_of

    data = mnist.train.subset(192)
    recipe = replace(SMALL, augment=True)
    histories = {}
    for augment in (None, recipe.augmentation()):
        seed_everything(2)
        network = build_model("tiny", "cpu")
        optimizer, scheduler = make_optimizer(network, recipe, 3)
        averaged = average_of(network, 0.9)
        step = CapturedStep(network, optimizer, data, 64, augment, capture=False)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            histories[augment is None] = step.train_epoch(
                scheduler, torch.Generator().manual_seed(0), averaged
            )
        for weight, momentum in zip(step.params, step.momenta, strict=True):
            assert optimizer.state[weight]["momentum_buffer"] is momentum
        assert any(momentum.abs().sum() > 0 for momentum in step.momenta)
        assert int(averaged.n_averaged) == 3  # one average update per step
    assert histories[True] != histories[False]  # augmentation changed the batches


@pytest.mark.parametrize("model", list(MODELS))
def test_a_gpu_recipe_changes_the_batch_the_rate_and_the_averages_decay_alone(model):
    # net's GPU recipe is built on the twelve-epoch recipe, not on the CPU's halved default
    cpu = TWELVE_EPOCH_RECIPE if model == "net" else recipe_for(model)
    gpu = recipe_for(model, gpu=True)
    unchanged = {"batch_size": cpu.batch_size, "lr": cpu.lr, "ema_decay": cpu.ema_decay}
    if model == "net":
        unchanged["epochs"] = cpu.epochs  # the one recipe that also trains longer
    assert replace(gpu, **unchanged) == cpu
    ratio = gpu.batch_size / cpu.batch_size
    assert ratio > 1 and 1 < gpu.lr / cpu.lr < ratio  # a larger rate, less than in proportion
    # the average forgets as much per image: one step of the larger batch, `ratio` of the other
    assert gpu.ema_decay == pytest.approx(cpu.ema_decay**ratio, abs=1e-6)
    assert (gpu.ema_decay == 0) == (cpu.ema_decay == 0)


def test_a_four_times_larger_batch_doubles_the_rate_and_keeps_the_rest():
    """The square-root rule in numbers: 4 × the batch, 2 × the rate (to 4 decimals)."""
    recipe = replace(TWELVE_EPOCH_RECIPE, lr=0.123456)  # no average: its decay changes too
    larger = at_batch_size(recipe, 4 * recipe.batch_size)
    assert (larger.batch_size, larger.lr) == (4 * recipe.batch_size, 0.2469)
    assert replace(larger, batch_size=recipe.batch_size, lr=recipe.lr) == recipe
    smaller = at_batch_size(recipe, recipe.batch_size // 4)
    assert (smaller.batch_size, smaller.lr) == (recipe.batch_size // 4, 0.0617)


def test_the_averages_decay_on_a_gpu_in_numbers():
    """Twice the batch: the decay squared, to six decimals (0.9993² = 0.99860049)."""
    recipe = replace(DEFAULT_RECIPE, ema_decay=0.9993)
    assert at_batch_size(recipe, 2 * recipe.batch_size).ema_decay == 0.9986


def test_scaling_the_batch_in_two_steps_is_scaling_it_in_one():
    """Square-root scaling composes: 64 → 128 → 256 gives the rate of 64 → 256."""
    two_steps = at_batch_size(at_batch_size(DEFAULT_RECIPE, 128), 256)
    assert two_steps.lr == pytest.approx(at_batch_size(DEFAULT_RECIPE, 256).lr, abs=1e-4)
    assert at_batch_size(DEFAULT_RECIPE, DEFAULT_RECIPE.batch_size) == DEFAULT_RECIPE


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
def test_gpu_path_is_repeatable_and_resumes_exactly(mnist, tmp_path):
    train, test = mnist.train.subset(4096), mnist.test.subset(1000)
    recipe = replace(GPU_RECIPE, epochs=3)
    seed, options = 2, FitOptions(device="cuda", deterministic=True)
    straight = fit(train, test, recipe, seed, options=options)
    again = fit(train, test, recipe, seed, options=options)
    rows = [{k: v for k, v in asdict(r).items() if k != "seconds"} for r in straight.history]
    assert rows == [{k: v for k, v in asdict(r).items() if k != "seconds"} for r in again.history]

    def stop_after_first(row):
        if row.epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cut = replace(options, out=tmp_path, on_epoch=stop_after_first)
        fit(train, test, recipe, seed, options=cut)
    assert len(json.loads((tmp_path / HISTORY).read_text())) == 1
    resumed = fit(train, test, recipe, seed, options=replace(options, out=tmp_path, resume=True))
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


@cuda
def test_gpu_path_records_a_step_without_augmentation_for_the_clean_epochs(mnist):
    """With clean last epochs the recorded graphs are two: the augmented run until then, then
    the unaugmented step (all epochs clean: the unaugmented recipe's run)."""
    train, test = mnist.train.subset(4096), mnist.test.subset(1000)
    recipe = replace(GPU_RECIPE, epochs=2)
    seed, options = 2, FitOptions(device="cuda", deterministic=True)

    def rows(run):
        return [{k: v for k, v in asdict(r).items() if k != "seconds"} for r in run.history]

    augmented = rows(fit(train, test, recipe, seed, options=options))
    last_clean = rows(
        fit(train, test, replace(recipe, clean_last_epochs=1), seed, options=options)
    )
    plain = rows(fit(train, test, replace(recipe, augment=False), seed, options=options))
    all_clean = rows(fit(train, test, replace(recipe, clean_last_epochs=2), seed, options=options))
    assert last_clean[0] == augmented[0] and last_clean[1] != augmented[1]
    assert all_clean == plain


def test_cli_takes_the_gpu_recipe(tmp_path, mnist_root):
    out = tmp_path / "run"
    result = run_nnbook(
        "train", "--recipe", "gpu", "--device", "cpu", "--epochs", "1", "--limit-train", "512",
        "--limit-test", "128", "--data", str(mnist_root), "--out", str(out), "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    saved = torch.load(out / "checkpoint.pt", weights_only=True)
    assert saved["recipe"] == asdict(replace(GPU_RECIPE, epochs=1))
