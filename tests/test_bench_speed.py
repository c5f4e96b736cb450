"""``bench/timing/speed.py``: the work it counts, the convolutions it times, the profile it
groups."""

import subprocess
import sys

import pytest
import torch
from built_book import ROOT

from bench.timing import speed as speed_script
from nnbook.mnist.networks import MODELS
from nnbook.mnist.recipes import DEFAULT_RECIPE, TWELVE_EPOCH_RECIPE
from nnbook.mnist.summaries import model_summaries

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def speed():
    return speed_script


@pytest.mark.parametrize("model", list(MODELS))
def test_the_convolutions_found_are_the_work_torchinfo_counts(speed, model):
    """The convolutions the bench times, on the inputs it gives them, are the network's own, in
    order (their outputs are the shapes ``manual.layer_costs`` walks); their multiply-adds, as
    the package counts them, are torchinfo's less the biases' additions."""
    from nnbook.mnist.manual import layer_costs
    from nnbook.mnist.networks import build_model

    found = speed.convolution_inputs(model, CPU)
    assert found and found[0][1] == (1, 28, 28)  # the first sees the images
    rows = [r for r in layer_costs(build_model(model), (1, 1, 28, 28)) if r["kind"] == "Conv2d"]
    outputs = ["×".join(map(str, conv(torch.zeros(1, *shape)).shape[1:])) for conv, shape in found]
    assert outputs == [row["output"] for row in rows]
    ours = sum(row["forward MACs"] for row in rows)
    # torchinfo counts a bias's additions as multiply-adds, one per output number
    biases = sum(
        conv(torch.zeros(1, *shape)).numel() for conv, shape in found if conv.bias is not None
    )
    theirs = int(model_summaries().loc[model, "MACs per image"])
    assert 0 <= theirs - ours - biases < 0.001 * theirs  # the rest: BatchNorm's scale and shift


@pytest.mark.parametrize("model", ["net", "tiny"])
def test_the_epochs_work_is_what_pytorch_counts_in_its_steps(speed, model):
    """torch's own FLOP counter, on a training step (forward and backward) of a few images and a
    forward pass of a few test images, against ``epoch_flop`` from torchinfo's multiply-adds:
    an independent count (the first convolution needs no input gradient, so a little less)."""
    from torch.utils.flop_counter import FlopCounterMode

    from nnbook.mnist.networks import build_model

    network = build_model(model)
    train_images, test_images = 4, 3
    counter = FlopCounterMode(display=False)
    with counter:
        network.train()
        network(torch.randn(train_images, 1, 28, 28)).sum().backward()
        network.eval()
        with torch.no_grad():
            network(torch.randn(test_images, 1, 28, 28))
    counted = counter.get_total_flops()
    macs = int(model_summaries().loc[model, "MACs per image"])
    assert 0.9 < counted / speed.epoch_flop(macs, train_images, test_images) <= 1.0


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("aten::convolution_backward", "convolution"),
        ("aten::mkldnn_convolution", "convolution"),
        ("aten::native_batch_norm_backward", "batch norm"),
        ("aten::threshold_backward", "ReLU"),
        ("aten::max_pool2d_with_indices_backward", "pooling"),
        ("aten::bernoulli_", "dropout"),
        ("Optimizer.step#SGD.step", "update"),
        ("aten::nll_loss_forward", "other"),
    ],
)
def test_operators_are_grouped_by_what_they_do(speed, name, kind):
    assert speed.operator_kind(name) == kind


def test_a_profile_finds_no_dropout_or_batch_norm_where_there_is_none(speed):
    """Dropout is found where the network has it and its recipe keeps it (the twelve-epoch
    recipe), not where the recipe turns it off (the default) nor where there is none."""
    skeleton = speed.step_time_by_kind("skeleton", steps=2, batch_size=4, device=CPU)
    net = speed.step_time_by_kind("net", steps=2, batch_size=4, device=CPU)
    kept = speed.step_time_by_kind("net", 2, 4, CPU, recipe=TWELVE_EPOCH_RECIPE)
    assert set(skeleton) == {*speed.OPERATOR_KINDS, "other"}
    assert skeleton["convolution"] > 0 and skeleton["batch norm"] == skeleton["dropout"] == 0
    assert DEFAULT_RECIPE.dropout == 0 and net["batch norm"] > 0 and net["dropout"] == 0
    assert TWELVE_EPOCH_RECIPE.dropout is None and kept["dropout"] > 0


def test_timing_the_convolutions_alone_runs_forward_and_backward(speed, monkeypatch):
    """What is timed, not how long it takes: each convolution once forward alone, once forward
    and backward to its weights, its bias and (but the first layer's) its input."""
    asked = []
    real_grad = torch.autograd.grad

    def counting_grad(outputs, inputs, grad_outputs):
        asked.append(len(inputs))
        return real_grad(outputs, inputs, grad_outputs)

    def once(step, repeats, device):
        step()
        return 1.0  # one "second" per timing, so the sums count the timings

    monkeypatch.setattr(speed, "best_seconds", once)
    monkeypatch.setattr(torch.autograd, "grad", counting_grad)
    train, forward = speed.convolution_seconds("net", batch_size=2, device=CPU, repeats=1)
    convolutions = speed.convolution_inputs("net", CPU)
    assert train == forward == len(convolutions) == len(asked)
    parameters = [len(list(conv.parameters())) for conv, _ in convolutions]
    assert asked == [parameters[0], *(n + 1 for n in parameters[1:])]


def test_an_unknown_variant_is_refused(speed):
    with pytest.raises(ValueError, match="variant must be one of"):
        speed.step_seconds("skeleton", 1, 2, CPU, variant="float16")


def test_the_command_refuses_a_batch_of_none():
    command = [sys.executable, "-m", "bench.timing.speed", "--batch-size", "0"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "must be a positive whole number, got 0" in done.stderr


@pytest.mark.parametrize("model", ["skeleton", "tiny"])
def test_the_other_memory_format_is_the_one_the_class_does_not_name(speed, model):
    from nnbook.mnist.networks import build_model

    network = build_model(model)
    own = network.memory_format
    assert speed.variant_memory_format(network, "eager") == own
    other = speed.variant_memory_format(network, "other memory format")
    assert other != own and {own, other} == {torch.channels_last, torch.contiguous_format}
    weight = network.features[1][0].weight  # a 3×3 convolution's, moved into the other format
    assert weight.is_contiguous(memory_format=other)
    assert not weight.is_contiguous(memory_format=own)


def test_without_onednn_turns_it_off_only_inside(speed):
    assert torch.backends.mkldnn.enabled
    with speed.variant_kernels("without oneDNN"):
        assert not torch.backends.mkldnn.enabled
    assert torch.backends.mkldnn.enabled
    with speed.variant_kernels("eager"):
        assert torch.backends.mkldnn.enabled


@pytest.mark.parametrize("variant", ["other memory format", "without oneDNN"])
def test_every_variant_times_a_step(speed, variant):
    seconds, first = speed.step_seconds("skeleton", 2, 4, CPU, variant=variant)
    assert 0 < seconds and 0 < first
