"""The MNIST network: 17,466 parameters and the class notes' layer shapes."""

import copy
import inspect
import re

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


def _field_by_autograd(layers: torch.nn.Sequential) -> tuple[int, float]:
    """The side and the centre (in input rows) of the input that output pixel (0, 0) depends
    on: where the gradient of that pixel with respect to the input is not zero."""
    image = torch.rand(1, 1, 40, 40, requires_grad=True)
    layers(image)[0, 0, 0, 0].backward()
    rows = torch.nonzero(image.grad[0, 0].abs().sum(dim=1)).flatten()
    first, last = int(rows.min()), int(rows.max())
    return last - first + 1, (first + last) / 2


def test_receptive_fields_and_their_centres_are_the_inputs_a_pixel_depends_on():
    layers = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.AvgPool2d(2), torch.nn.Conv2d(2, 1, 3),
        torch.nn.AvgPool2d(2), torch.nn.Conv2d(1, 1, 5),
    )  # fmt: skip
    for module in layers:
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.constant_(module.weight, 1.0)  # every input counts, with one sign
    fields = receptive_fields(layers)
    assert [field.layer for field in fields] == [type(m).__name__ for m in layers]
    assert [field.name for field in fields] == ["0", "1", "2", "3", "4"]
    for count, field in enumerate(fields, start=1):
        side, centre = _field_by_autograd(layers[:count])
        assert (field.receptive_field, field.start) == (side, centre), field.name
    assert [field.jump for field in fields] == [1, 2, 2, 4, 4]


def test_the_layer_table_is_what_a_forward_pass_gives_each_layer(capsys):
    model = build_model("net").eval()
    shapes = {}

    def note(module, inputs, output):
        shapes[names[module]] = tuple(output.shape)

    kinds = torch.nn.Conv2d | torch.nn.MaxPool2d | torch.nn.AvgPool2d
    names = {m: name for name, m in model.named_modules() if isinstance(m, kinds)}
    hooks = [module.register_forward_hook(note) for module in names]
    model(torch.zeros(1, 1, 32, 32))  # not MNIST's size: the table follows its input
    for hook in hooks:
        hook.remove()
    table = layer_table(model, input_size=(1, 1, 32, 32))
    assert capsys.readouterr().out == ""  # a report to glue, not a print
    assert list(table.columns) == ["type", "output shape", "parameters", "receptive field", "jump"]
    assert list(table.index) == list(shapes)
    modules = dict(model.named_modules())
    for name, row in table.iterrows():
        assert row["output shape"] == "×".join(map(str, shapes[name][1:]))  # C×H×W
        assert row["type"] == type(modules[name]).__name__
        assert row["parameters"] == sum(p.numel() for p in modules[name].parameters())
    fields = {field.name: field for field in receptive_fields(model)}
    assert list(table["receptive field"]) == [fields[n].receptive_field for n in table.index]
    assert list(table["jump"]) == [fields[n].jump for n in table.index]


def test_the_layer_table_reaches_layers_nested_four_deep():
    deep = torch.nn.Sequential(
        torch.nn.Sequential(torch.nn.Sequential(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3))))
    )
    table = layer_table(deep, input_size=(1, 1, 8, 8))
    assert list(table.index) == ["0.0.0.0"] and table.loc["0.0.0.0", "output shape"] == "2×6×6"


def test_nets_dropout_layers_drop_the_share_it_is_given():
    from nnbook.mnist.networks.net import DROPOUT

    for given, expected in ((None, DROPOUT), (0.1, 0.1)):
        net = Net() if given is None else Net(dropout=given)
        rates = [m.p for m in net.modules() if isinstance(m, torch.nn.Dropout)]
        assert rates == [expected, expected]  # one after each block's 1 × 1 transition


def test_the_shapes_and_receptive_fields_in_nets_comments_are_the_real_ones():
    """The chapter shows Net's source and says its comments give each layer's output and
    receptive field: each comment against torchinfo's shapes and the RF formula."""
    source = inspect.getsource(Net.__init__)
    network = Net()
    stats = torchinfo.summary(network, input_size=(1, 1, 28, 28), verbose=0, depth=2)
    outputs = {id(s.module): tuple(s.output_size[1:]) for s in stats.summary_list}
    fields = {f.name.rsplit(".", 1)[0] if f.name.count(".") > 1 else f.name: f.receptive_field
              for f in receptive_fields(network)}  # fmt: skip
    for block in ("block1", "block2", "head"):
        start = source.index(f"self.{block} = nn.Sequential(")
        lines = source[start : source.index("\n        )", start)].splitlines()[1:]
        children = list(getattr(network, block).children())
        for k, (line, child) in enumerate(zip(lines, children, strict=True)):
            shape = re.search(r"# (\d+)×(\d+)×(\d+)", line)
            assert shape or isinstance(child, torch.nn.Dropout), line  # dropout: shape unchanged
            if shape:  # every layer but dropout says its output
                assert tuple(map(int, shape.groups())) == outputs[id(child)], line
            field = re.search(r"(?:RF|receptive field) (\d+)", line)
            if field:
                assert int(field.group(1)) == fields[f"{block}.{k}"], line
