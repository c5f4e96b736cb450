"""MNIST loading: checked files, clear errors, training-set statistics, batch augmentation."""

import shutil

import pytest
import torch

from nnbook.mnist import data as mnist_data


def copy_raw(source, destination):
    raw = destination / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in mnist_data.SHA256:
        shutil.copy(source / "MNIST" / "raw" / name, raw / name)
    return raw


def test_shapes_and_normalisation(mnist):
    assert mnist.train.images.shape == (60000, 1, 28, 28)
    assert mnist.test.images.shape == (10000, 1, 28, 28)
    assert mnist.train.labels.dtype == torch.int64
    assert mnist.mean == pytest.approx(0.1307, abs=1e-4)  # the well-known MNIST statistics
    assert mnist.std == pytest.approx(0.3081, abs=1e-4)
    assert mnist.train.images.mean().item() == pytest.approx(0, abs=1e-4)
    assert mnist.train.images.std().item() == pytest.approx(1, abs=1e-4)
    assert torch.bincount(mnist.test.labels).tolist()[:3] == [980, 1135, 1032]


def test_missing_file_without_network(tmp_path, mnist_root, monkeypatch):
    raw = copy_raw(mnist_root, tmp_path)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    monkeypatch.setenv("MNIST_ROOT", str(tmp_path))
    with pytest.raises(mnist_data.MNISTDataError) as error:
        mnist_data.verify(download=False)
    assert "t10k-labels-idx1-ubyte is missing" in str(error.value)
    assert "MNIST_ROOT" in str(error.value)


def test_failed_download_is_one_clear_error(tmp_path, monkeypatch):
    from torchvision import datasets

    def no_network(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(datasets.MNIST, "download", no_network)
    with pytest.raises(mnist_data.MNISTDataError, match=r"could not be downloaded.*MNIST_ROOT"):
        mnist_data.load(tmp_path / "empty")


def test_corrupt_file(tmp_path, mnist_root):
    raw = copy_raw(mnist_root, tmp_path)
    target = raw / "train-labels-idx1-ubyte"
    content = bytearray(target.read_bytes())
    content[100] ^= 1
    target.write_bytes(bytes(content))
    with pytest.raises(mnist_data.MNISTDataError, match="train-labels-idx1-ubyte is corrupt"):
        mnist_data.load(tmp_path, download=False)


def test_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_ROOT", str(tmp_path))
    assert mnist_data.data_root() == tmp_path
    assert mnist_data.data_root("elsewhere") == mnist_data.Path("elsewhere")


def test_affine_identity_and_randomness(mnist):
    images = mnist.test.images[:16]
    same = mnist_data.random_affine(images, 0, 0, 0)
    torch.testing.assert_close(same, images, atol=1e-5, rtol=0)
    generator = torch.Generator().manual_seed(0)
    moved = mnist_data.random_affine(images, 10, 0.1, 0.1, generator=generator)
    assert moved.shape == images.shape
    assert not torch.allclose(moved, images)
    # the background stays the background, and the ink stays roughly as much ink
    assert moved.amin().item() == pytest.approx(images.amin().item(), abs=1e-5)
    assert moved.mean().item() == pytest.approx(images.mean().item(), rel=0.2)
