"""``nnbook.mnist.page_training``: what the build writes for "Train it here" — the starting
weights fit starts from, the recipe scaled to the page's batch, the shipped digits."""

from __future__ import annotations

import base64
import gzip
import json
import math
import re

import pytest
import torch
from built_book import ROOT

from nnbook.mnist import page_training
from nnbook.mnist.export import STATIC_VARIABLE, layer_plan
from nnbook.mnist.recipes import recipe_for


def test_the_page_recipe_scales_the_books_rate_by_the_square_root_of_the_batches():
    for name in page_training.TRAINED_MODELS:
        book = recipe_for(name)
        page = page_training.page_recipe(name)
        assert page["batchSize"] == page_training.PAGE_BATCH_SIZE
        ratio = page_training.PAGE_BATCH_SIZE / book.batch_size
        assert page["lr"] == pytest.approx(book.lr * math.sqrt(ratio), abs=1e-4)
        assert (page["nesterov"], page["weightDecay"]) == (book.nesterov, book.weight_decay)
        assert page["stepsPerPass"] * page["batchSize"] >= page_training.TRAIN_DIGITS
        assert (page["stepsPerPass"] - 1) * page["batchSize"] < page_training.TRAIN_DIGITS
        assert page["batchNormMomentum"] == torch.nn.BatchNorm2d(1).momentum


def test_the_one_cycle_defaults_are_what_the_trainers_schedule_does():
    defaults = page_training.one_cycle_defaults()
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0, momentum=0.9)
    torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1.0, total_steps=100)
    group = optimizer.param_groups[0]
    assert group["lr"] == pytest.approx(1.0 / defaults["divFactor"])
    assert group["momentum"] == defaults["maxMomentum"]
    assert 0 < defaults["pctStart"] < 1 and defaults["baseMomentum"] < defaults["maxMomentum"]


def test_the_same_seed_gives_the_same_start_and_another_seed_another():
    first = page_training.initial_network("tiny", 1).state_dict()
    again = page_training.initial_network("tiny", 1).state_dict()
    other = page_training.initial_network("tiny", 2).state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["features.0.0.weight"], other["features.0.0.weight"])


def unpacked(split: dict) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = gzip.decompress(base64.b64decode(split["pixels"]))
    labels = base64.b64decode(split["labels"])
    images = torch.frombuffer(bytearray(pixels), dtype=torch.uint8).reshape(-1, 28, 28)
    return images, torch.frombuffer(bytearray(labels), dtype=torch.uint8)


def test_the_shipped_digits_are_mnists_first_ones_byte_for_byte(mnist_root):
    from nnbook.mnist.data import read_raw

    value = page_training.digits_value(mnist_root)
    train_x, train_y, test_x, test_y = read_raw(mnist_root, download=False)
    images, labels = unpacked(value["train"])
    assert value["train"]["count"] == page_training.TRAIN_DIGITS == len(images)
    assert torch.equal(images, train_x[: page_training.TRAIN_DIGITS])
    assert torch.equal(labels.long(), train_y[: page_training.TRAIN_DIGITS])
    images, labels = unpacked(value["test"])
    assert torch.equal(images, test_x[: page_training.TEST_DIGITS])
    assert torch.equal(labels.long(), test_y[: page_training.TEST_DIGITS])


def test_nothing_is_written_outside_a_build(monkeypatch, tmp_path):
    monkeypatch.delenv(STATIC_VARIABLE, raising=False)
    assert page_training.write_training_start(1) is None
    assert page_training.write_training_digits() is None
    assert list(tmp_path.iterdir()) == []


def test_a_build_gets_the_start_as_a_script(monkeypatch, tmp_path, mnist):
    monkeypatch.setenv(STATIC_VARIABLE, str(tmp_path / "_static"))
    path = page_training.write_training_start(3)
    prefix = "window.nnbookTrainStart = "
    text = path.read_text(encoding="utf-8")
    assert path.name == page_training.START_SCRIPT and text.startswith(prefix)
    value = json.loads(text[len(prefix) :].rstrip().rstrip(";"))
    assert value["seed"] == 3 and list(value["networks"]) == list(page_training.TRAINED_MODELS)
    for name, network in value["networks"].items():  # what the page needs to train it
        assert network["layers"] == layer_plan(page_training.initial_network(name, 3))
        assert (network["mean"], network["std"]) == (mnist.mean, mnist.std)
    state = page_training.initial_network("tiny", 3).state_dict()
    entry = value["networks"]["tiny"]["state"]["features.1.0.weight"]
    weights = torch.frombuffer(bytearray(base64.b64decode(entry["data"])), dtype=torch.float32)
    assert torch.equal(weights.reshape(entry["shape"]), state["features.1.0.weight"])


def test_the_shipped_digits_are_gzip_without_a_date(mnist_root):
    """The gzip header's time stamp is 0, so a build writes the same bytes every time."""
    value = page_training.digits_value(mnist_root)
    for split in value.values():
        header = base64.b64decode(split["pixels"])[:10]
        assert header[:2] == b"\x1f\x8b" and header[4:8] == b"\0\0\0\0"


def test_the_digits_come_from_the_folder_asked_for_and_are_never_downloaded(monkeypatch, tmp_path):
    from torchvision import datasets

    from nnbook.mnist.data import MNISTDataError

    def no_download(*args, **kwargs):
        raise AssertionError("MNIST was downloaded")

    monkeypatch.setattr(datasets.MNIST, "download", no_download)
    with pytest.raises(MNISTDataError, match=str(tmp_path)) as raised:
        page_training.digits_value(tmp_path)
    assert "downloaded" not in str(raised.value)  # nothing was tried


def test_the_start_reads_the_folder_asked_for_and_never_downloads(
    monkeypatch, tmp_path, mnist_root, mnist
):
    """The normalisation in the start comes from the root the build names, not from
    ``$MNIST_ROOT`` (empty here); a root without MNIST is a clear error, with no download."""
    from torchvision import datasets

    from nnbook.mnist.data import MNISTDataError

    def no_download(*args, **kwargs):
        raise AssertionError("MNIST was downloaded")

    monkeypatch.setattr(datasets.MNIST, "download", no_download)
    elsewhere = tmp_path / "data"
    (elsewhere / "MNIST").mkdir(parents=True)
    (elsewhere / "MNIST" / "raw").symlink_to(mnist_root / "MNIST" / "raw")
    monkeypatch.setenv("MNIST_ROOT", str(tmp_path / "empty"))
    monkeypatch.setenv(STATIC_VARIABLE, str(tmp_path / "_static"))
    text = page_training.write_training_start(2, elsewhere).read_text(encoding="utf-8")
    value = json.loads(text[len("window.nnbookTrainStart = ") :].rstrip().rstrip(";"))
    assert {(n["mean"], n["std"]) for n in value["networks"].values()} == {(mnist.mean, mnist.std)}
    with pytest.raises(MNISTDataError, match=str(tmp_path / "none")) as raised:
        page_training.normalisation(tmp_path / "none")
    assert "downloaded" not in str(raised.value)  # nothing was tried


def test_every_field_of_the_page_recipe_is_a_name_the_pages_scripts_read():
    """The recipe is written here and read by train.js and layers.js (``oneCycle``): a field
    the scripts do not name is one the page would never read."""
    static = ROOT / "book" / "_static"
    scripts = "".join((static / n).read_text(encoding="utf-8") for n in ("train.js", "layers.js"))
    recipe = page_training.page_recipe("tiny")
    del recipe["stepsPerPass"]  # for the page's tests: the page counts a pass at its own batch
    assert [key for key in recipe if not re.search(rf"\b{key}\b", scripts)] == []


def test_a_build_gets_the_digits_as_a_script_in_a_new_folder(monkeypatch, tmp_path, mnist_root):
    folder = tmp_path / "html" / "_static"  # neither exists yet
    monkeypatch.setenv(STATIC_VARIABLE, str(folder))
    elsewhere = tmp_path / "data"  # the data under another root than $MNIST_ROOT, which is empty
    (elsewhere / "MNIST").mkdir(parents=True)
    (elsewhere / "MNIST" / "raw").symlink_to(mnist_root / "MNIST" / "raw")
    monkeypatch.setenv("MNIST_ROOT", str(tmp_path / "empty"))
    for _ in range(2):  # the second build writes over the first
        path = page_training.write_training_digits(elsewhere)
    prefix = "window.nnbookTrainDigits = "
    text = path.read_text(encoding="utf-8")
    assert path == folder / page_training.DIGITS_SCRIPT and text.startswith(prefix)
    value = json.loads(text[len(prefix) :].rstrip().rstrip(";"))
    assert value == page_training.digits_value(mnist_root)


def test_the_start_names_each_networks_recipe_and_the_first_network():
    value = page_training.start_value(1)
    assert value["first"] == page_training.FIRST_MODEL in page_training.TRAINED_MODELS
    for name in page_training.TRAINED_MODELS:
        assert value["networks"][name]["recipe"] == page_training.page_recipe(name)


def test_the_schedule_the_page_reads_is_the_one_written():
    """layers.js reads the one-cycle numbers by these names: each one written is read, and each
    one read is written."""
    from built_book import ROOT

    script = (ROOT / "book" / "_static" / "layers.js").read_text(encoding="utf-8")
    read = set(re.findall(r"recipe\.(\w+)", script))
    written = set(page_training.page_recipe("tiny"))
    assert set(page_training.one_cycle_defaults()) <= read <= written


def test_a_network_without_batch_norm_has_no_batch_norm_momentum():
    assert page_training.page_recipe("skeleton")["batchNormMomentum"] is None


def test_only_a_one_cycle_recipe_is_scaled_for_the_page(monkeypatch):
    from nnbook.mnist.recipes import CLASS_RECIPE

    monkeypatch.setattr(page_training, "recipe_for", lambda name: CLASS_RECIPE)
    with pytest.raises(ValueError, match="one-cycle schedule, not 'constant'"):
        page_training.page_recipe("tiny")


def test_the_page_trains_tiny_the_answer_and_its_frontier_whether_drawn_or_not():
    from nnbook.mnist.export import DRAWN_MODELS
    from nnbook.mnist.networks import ANSWER, SEPARABLE_FRONTIER

    trained = page_training.TRAINED_MODELS
    assert {"tiny", ANSWER, SEPARABLE_FRONTIER[0]} <= set(trained)
    assert set(trained) - set(DRAWN_MODELS)  # some are trained here without a drawn export


def test_the_normalisation_is_the_loaded_datas(mnist, mnist_root):
    assert page_training.normalisation(mnist_root) == (mnist.mean, mnist.std)
