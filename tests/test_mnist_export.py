"""``nnbook.mnist.export``: what the page "Draw a digit" is given of a trained network."""

import base64
import copy
import json
import math
import re

import numpy as np
import pytest
import torch

from nnbook.mnist import export
from nnbook.mnist.manual import network_layers
from nnbook.mnist.networks import ANSWER, build_model


def decoded(entry: dict) -> np.ndarray:
    dtype = "<i8" if entry["dtype"] == "int64" else "<f4"
    return np.frombuffer(base64.b64decode(entry["data"]), dtype=dtype).reshape(entry["shape"])


@pytest.mark.parametrize("name", export.PAGE_MODELS)
def test_the_export_holds_the_whole_state_dict_exactly(name):
    torch.manual_seed(0)
    network = build_model(name)
    exported = export.model_export(network, mean=0.13, std=0.31, test_accuracy=0.99)
    state = network.state_dict()
    assert list(exported["state"]) == list(state)  # BatchNorm's running statistics too
    for key, value in state.items():
        np.testing.assert_array_equal(decoded(exported["state"][key]), value.numpy())
    layers = exported["layers"]
    assert [layer["name"] for layer in layers] == [name for name, _ in network_layers(network)]
    keys = {
        layer[k] for layer in layers for k in ("weight", "bias", "mean", "var") if layer.get(k)
    }
    assert keys == {k for k in state if not k.endswith("num_batches_tracked")}


def seen_by_middle_unit(network: torch.nn.Module, name: str) -> tuple[int, int, int, int]:
    """The input pixels the middle unit of layer ``name``'s output depends on, found by autograd:
    every weight 1, biases 0, batch norm the identity, max pooling replaced by average pooling of
    the same windows, so that every path counts and nothing cancels. (top, bottom, left, right)"""
    probe = copy.deepcopy(network).double().eval()
    with torch.no_grad():
        for module in probe.modules():
            if isinstance(module, torch.nn.Conv2d | torch.nn.BatchNorm2d):
                module.weight.fill_(1.0)
                if module.bias is not None:
                    module.bias.zero_()
    for parent in probe.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, torch.nn.MaxPool2d):
                setattr(parent, child_name, torch.nn.AvgPool2d(child.kernel_size, child.stride))
    outputs = {}
    dict(probe.named_modules())[name].register_forward_hook(
        lambda module, inputs, output: outputs.update(y=output)  # returns None: output kept
    )
    image = torch.ones(1, 1, 28, 28, dtype=torch.float64, requires_grad=True)
    probe(image)
    y = outputs["y"]
    y[0, :, y.shape[2] // 2, y.shape[3] // 2].sum().backward()
    rows, columns = torch.nonzero(image.grad[0, 0], as_tuple=True)
    return int(rows.min()), int(rows.max()), int(columns.min()), int(columns.max())


@pytest.mark.parametrize("name", export.PAGE_MODELS)
def test_each_layer_carries_the_receptive_field_autograd_finds(name):
    network = build_model(name)
    shapes = {}
    for layer_name, module in network_layers(network):
        module.register_forward_hook(
            lambda m, i, o, key=layer_name: shapes.update({key: tuple(o.shape[2:])})
        )
    network.eval()(torch.zeros(1, 1, 28, 28))
    for layer in export.layer_plan(network):
        if layer["kind"] not in ("conv", "maxpool", "avgpool"):
            continue
        size, jump, start = (layer["field"][key] for key in ("size", "jump", "start"))
        row, column = (side // 2 for side in shapes[layer["name"]])
        half = (size - 1) / 2

        def clip(value: float) -> int:
            return min(27, max(0, int(value)))

        expected = (
            clip(math.ceil(start + row * jump - half)),
            clip(math.floor(start + row * jump + half)),
            clip(math.ceil(start + column * jump - half)),
            clip(math.floor(start + column * jump + half)),
        )
        assert seen_by_middle_unit(network, layer["name"]) == expected, layer["name"]


@pytest.mark.parametrize("name", export.PAGE_MODELS)
def test_each_convolution_carries_its_padding_and_groups(name):
    """The page computes a grouped (depthwise) convolution from its ``groups``; the answer's
    3 × 3 convolutions after the first have one group per channel."""
    network = build_model(name)
    modules = dict(network.named_modules())
    convolutions = [layer for layer in export.layer_plan(network) if layer["kind"] == "conv"]
    for layer in convolutions:
        module = modules[layer["name"]]
        assert (layer["padding"], layer["groups"]) == (module.padding[0], module.groups)
    depthwise = [layer for layer in convolutions if layer["groups"] > 1]
    assert bool(depthwise) == (name == ANSWER)
    assert all(modules[layer["name"]].in_channels == layer["groups"] for layer in depthwise)


def test_the_page_shows_the_networks_the_build_exports_and_names_the_answer(monkeypatch, tmp_path):
    assert set(export.DRAWN_MODELS) <= set(export.PAGE_MODELS)
    assert ANSWER in export.DRAWN_MODELS
    monkeypatch.setenv(export.STATIC_VARIABLE, str(tmp_path))
    labels = {}
    for name in (ANSWER, "tiny"):
        path = export.write_for_page(build_model(name), name, 0.1, 0.3, 0.99)
        text = path.read_text()
        labels[name] = json.loads(text[text.index("] = ") + 4 : -2])["label"]
    assert labels == {ANSWER: "the chapter's answer", "tiny": None}


def test_nothing_is_written_outside_a_build(monkeypatch):
    monkeypatch.delenv(export.STATIC_VARIABLE, raising=False)
    assert export.write_for_page(build_model("tiny"), "tiny", 0.1, 0.3, 0.99) is None


def test_a_build_gets_a_script_that_registers_the_network(monkeypatch, tmp_path):
    monkeypatch.setenv(export.STATIC_VARIABLE, str(tmp_path))
    path = export.write_for_page(build_model("tiny"), "tiny", 0.1, 0.3, 0.99)
    text = path.read_text()
    assert path.name == export.script_name("tiny")
    prefix = '(window.nnbookDigitModels = window.nnbookDigitModels || {})["tiny"] = '
    assert text.startswith(prefix) and text.endswith(";\n")
    value = json.loads(text[len(prefix) : -2])
    assert value["form"] == {"field": export.FIELD, "box": export.BOX}
    with pytest.raises(ValueError, match="not 'skeleton'"):
        export.write_for_page(build_model("skeleton"), "skeleton", 0.1, 0.3, 0.99)


def test_the_samples_are_mnists_own_bytes(monkeypatch, tmp_path, mnist):
    from nnbook.mnist.data import read_raw

    monkeypatch.setenv(export.STATIC_VARIABLE, str(tmp_path / "html" / "_static"))  # made
    text = export.write_samples(mnist).read_text()
    value = json.loads(re.match(r"window.nnbookDigitSamples = (.*);\n$", text).group(1))
    pixels = np.frombuffer(base64.b64decode(value["pixels"]), dtype=np.uint8)
    _, _, images, labels = read_raw(download=False)
    count = export.SAMPLE_DIGITS
    np.testing.assert_array_equal(pixels, images[:count].numpy().ravel())
    assert value["labels"] == labels[:count].tolist()


def test_tensors_are_encoded_with_their_kind_and_little_endian():
    floats = export.encode_tensor(torch.tensor([[1.5, -2.0]]))
    counts = export.encode_tensor(torch.tensor([3], dtype=torch.int64))
    small = export.encode_tensor(torch.tensor([7], dtype=torch.uint8))
    assert (floats["dtype"], floats["shape"]) == ("float32", [1, 2])
    assert counts["dtype"] == small["dtype"] == "int64"
    assert base64.b64decode(floats["data"]) == np.array([1.5, -2.0], "<f4").tobytes()
    assert base64.b64decode(small["data"]) == np.array([7], "<i8").tobytes()


def test_ink_bytes_undo_the_normalisation_and_stay_bytes():
    from types import SimpleNamespace

    data = SimpleNamespace(mean=0.5, std=0.25)
    # ink −1, 0, 0.5, 1, 2 as normalised images: (ink − mean) / std
    images = ((torch.tensor([-1.0, 0.0, 0.5, 1.0, 2.0]) - 0.5) / 0.25).reshape(1, 1, 1, 5)
    np.testing.assert_array_equal(export.ink_bytes(data, images), [[[0, 0, 128, 255, 255]]])


def test_the_export_carries_the_normalisation_and_the_accuracy_it_is_given():
    exported = export.model_export(build_model("tiny"), mean=0.13, std=0.31, test_accuracy=0.99)
    assert (exported["mean"], exported["std"], exported["testAccuracy"]) == (0.13, 0.31, 0.99)


def test_a_network_that_is_one_layer_and_one_that_starts_without_a_field():
    (conv,) = export.layer_plan(torch.nn.Conv2d(1, 2, 3))
    assert (conv["weight"], conv["bias"], conv["type"]) == ("weight", "bias", "Conv2d")
    relu, after = export.layer_plan(torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Conv2d(1, 1, 3)))
    assert relu["field"] == {"size": 1, "jump": 1, "start": 0.0}  # one pixel sees itself
    assert (relu["type"], after["type"], after["field"]["size"]) == ("ReLU", "Conv2d", 3)


def test_a_build_writes_the_networks_script_into_a_new_folder(monkeypatch, tmp_path):
    folder = tmp_path / "html" / "_static"
    monkeypatch.setenv(export.STATIC_VARIABLE, str(folder))
    path = export.write_for_page(build_model("tiny"), "tiny", 0.1, 0.3, 0.99)
    prefix = '(window.nnbookDigitModels = window.nnbookDigitModels || {})["tiny"] = '
    value = json.loads(path.read_text()[len(prefix) : -2])
    assert path.parent == folder and (value["mean"], value["std"], value["testAccuracy"]) == (
        0.1, 0.3, 0.99,
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"^the page shows net, tiny, separable-31, not 'skel"):
        export.write_for_page(build_model("skeleton"), "skeleton", 0.1, 0.3, 0.99)
