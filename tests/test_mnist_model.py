"""The MNIST network: 17,466 parameters and the class notes' layer shapes."""

import copy

import pytest
import torch
import torchinfo

from nnbook.mnist import Net
from nnbook.mnist.layer_report import layer_table, receptive_fields, square_size
from nnbook.mnist.networks import MODELS, build_model


def test_parameter_count():
    assert sum(p.numel() for p in Net().parameters() if p.requires_grad) == 17_466


def test_layer_output_shapes():
    stats = torchinfo.summary(Net(), input_size=(1, 1, 28, 28), verbose=0)
    shapes = [
        tuple(layer.output_size[1:])
        for layer in stats.summary_list
        if isinstance(layer.module, torch.nn.Conv2d | torch.nn.MaxPool2d | torch.nn.AvgPool2d)
    ]
    assert shapes == [
        (16, 28, 28), (32, 28, 28), (32, 14, 14), (8, 14, 14), (16, 12, 12), (32, 10, 10),
        (8, 10, 10), (16, 8, 8), (32, 6, 6), (10, 6, 6), (10, 1, 1),
    ]  # fmt: skip
    assert stats.trainable_params == 17_466


def test_output_is_log_probabilities():
    model = Net().eval()
    out = model(torch.randn(5, 1, 28, 28))
    assert out.shape == (5, 10)
    torch.testing.assert_close(out.exp().sum(1), torch.ones(5))


def test_square_size_is_one_number_or_refused():
    assert square_size(3) == 3
    assert square_size((5, 5)) == 5
    with pytest.raises(ValueError, match=r"not square: \(3, 5\)"):
        square_size((3, 5))


def test_receptive_field_of_a_padded_strided_layer():
    # r = 1 + (5 − 1)·1 = 5, j = 2; the first field's centre: (5 − 1)/2 − 2 = 0
    strided = torch.nn.Sequential(torch.nn.Conv2d(1, 1, (5, 5), stride=(2, 2), padding=(2, 2)))
    (field,) = receptive_fields(strided)
    assert (field.receptive_field, field.jump, field.start) == (5, 2, 0.0)


def test_receptive_fields():
    fields = receptive_fields(Net())
    assert [f.receptive_field for f in fields][:3] == [3, 5, 6]
    assert fields[-1].receptive_field >= 28  # global average pooling sees the whole image
    assert len(layer_table(Net())) == len(fields)


@pytest.mark.parametrize("name", list(MODELS))
def test_relu_in_place_changes_no_gradient(name):
    """Every network's ReLUs overwrite their input; the same network with ReLUs that allocate
    their output computes exactly the same loss and gradients."""
    torch.manual_seed(0)
    in_place = build_model(name).train()
    copying = copy.deepcopy(in_place)
    relus = [m for m in copying.modules() if isinstance(m, torch.nn.ReLU)]
    assert relus and all(m.inplace for m in relus)
    for relu in relus:
        relu.inplace = False
    images, labels = torch.randn(8, 1, 28, 28), torch.arange(8)
    losses = []
    for network in (in_place, copying):
        torch.manual_seed(1)  # the same dropout masks
        loss = torch.nn.functional.nll_loss(network(images), labels)
        loss.backward()
        losses.append(loss)
    assert torch.equal(losses[0], losses[1])
    for ours, theirs in zip(in_place.parameters(), copying.parameters(), strict=True):
        assert torch.equal(ours.grad, theirs.grad)
