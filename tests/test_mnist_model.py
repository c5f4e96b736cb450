"""The MNIST network: 17,466 parameters and the class notes' layer shapes."""

import torch
import torchinfo

from nnbook.mnist import Net
from nnbook.mnist.model import layer_table, receptive_fields


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


def test_receptive_fields():
    fields = receptive_fields(Net())
    assert [f.receptive_field for f in fields][:3] == [3, 5, 6]
    assert fields[-1].receptive_field >= 28  # global average pooling sees the whole image
    assert len(layer_table(Net())) == len(fields)
