"""MNIST loading: checked files, clear errors, training-set statistics, batch augmentation."""

import math
import shutil
import warnings

import numpy as np
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


def test_both_splits_are_scaled_alike(mnist_root):
    # a blank pixel (0) and full ink (255) in either split: (0 − mean)/std and (1 − mean)/std
    mnist = mnist_data.load(mnist_root, download=False)  # loaded here, not by a shared fixture
    for split in (mnist.train, mnist.test):
        assert split.images.amin().item() == pytest.approx(-mnist.mean / mnist.std, rel=1e-6)
        assert split.images.amax().item() == pytest.approx((1 - mnist.mean) / mnist.std, rel=1e-6)


def test_load_names_the_root_it_read(mnist_root, monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_ROOT", str(tmp_path / "not-here"))
    assert mnist_data.load(mnist_root, download=False).root == mnist_root


class FakeDownloads:
    """torchvision's MNIST in place of the network: records each call; raises ``error`` if set."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[tuple] = []
        self.error = error

    def __call__(self, root, **options):
        self.calls.append((root, options))
        if self.error is not None:
            raise self.error


@pytest.fixture
def downloads(monkeypatch):
    from torchvision import datasets

    fake = FakeDownloads()
    monkeypatch.setattr(datasets, "MNIST", fake)
    return fake


def test_download_false_never_downloads(tmp_path, downloads):
    with pytest.raises(mnist_data.MNISTDataError, match=r"is missing; set MNIST_ROOT"):
        mnist_data.load(tmp_path, download=False)
    assert downloads.calls == []


def test_present_files_are_not_downloaded_again(mnist_root, downloads):
    assert mnist_data.verify(mnist_root, download=True) == mnist_root
    assert downloads.calls == []


def test_missing_files_are_downloaded_both_splits_by_default(tmp_path, downloads):
    # the fake downloads nothing: the files are then still missing, which is said
    with pytest.raises(mnist_data.MNISTDataError) as error:
        mnist_data.read_raw(tmp_path)
    options = {"download": True}
    assert downloads.calls == [
        (tmp_path, {"train": True} | options),
        (tmp_path, {"train": False} | options),
    ]
    raw = tmp_path / "MNIST" / "raw"
    assert str(error.value) == (
        f"MNIST file {raw / 'train-images-idx3-ubyte'} is missing; set MNIST_ROOT to a folder "
        f"holding MNIST/raw/*-ubyte (now {tmp_path})"
    )


def test_a_failed_download_says_why_in_one_line(tmp_path, downloads):
    downloads.error = RuntimeError("no\n   network:  " + "x" * 300)
    with pytest.raises(mnist_data.MNISTDataError) as error:
        mnist_data.verify(tmp_path)
    reason = ("no network: " + "x" * 300)[:160]
    raw = tmp_path / "MNIST" / "raw"
    assert str(error.value) == (
        f"MNIST file {raw / 'train-images-idx3-ubyte'} is missing and could not be downloaded "
        f"(RuntimeError: {reason}); set MNIST_ROOT to a folder holding MNIST/raw/*-ubyte "
        f"(now {tmp_path})"
    )


def test_affine_matrices_rotate_scale_and_shift_within_their_limits():
    degrees, translate, scale_limit = 30.0, 0.1, 0.3
    generator = torch.Generator().manual_seed(0)
    theta = mnist_data.affine_matrices(20_000, degrees, translate, scale_limit, generator)
    assert theta.shape == (20_000, 2, 3)
    linear, shift = theta[:, :, :2].double(), theta[:, :, 2].double()
    # A = R(angle)/scale: A·Aᵀ = I/scale², a rotation and a uniform scale, no shear or flip
    scale = linear.det().rsqrt()
    gram = linear @ linear.transpose(1, 2) * scale[:, None, None] ** 2
    torch.testing.assert_close(gram, torch.eye(2, dtype=torch.float64).expand_as(gram))
    angle = torch.rad2deg(torch.atan2(linear[:, 1, 0], linear[:, 0, 0]))
    for values, limit, centre in ((angle, degrees, 0), (scale, scale_limit, 1)):
        low, high = (values - centre).aminmax()
        assert -limit <= low < -0.99 * limit and 0.99 * limit < high <= limit
    for axis in (0, 1):  # each shift up to translate of the image, 2·translate in grid units
        low, high = shift[:, axis].aminmax()
        assert (
            -2 * translate <= low < -1.98 * translate and 1.98 * translate < high <= 2 * translate
        )


def test_augmentation_warns_of_nothing(mnist):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mnist_data.random_affine(mnist.test.images[:4], 7, 0.05, 0.05)


def test_augmentation_draws_from_the_generator_it_is_given(mnist):
    images = mnist.test.images[:8]
    first = mnist_data.random_affine(images, 7, 0.05, 0.05, torch.Generator().manual_seed(5))
    torch.manual_seed(123)  # the global stream moves on; the batch's own does not depend on it
    torch.rand(10)
    again = mnist_data.random_affine(images, 7, 0.05, 0.05, torch.Generator().manual_seed(5))
    torch.testing.assert_close(first, again, rtol=0, atol=0)


def test_the_matrices_for_a_seed_are_the_documented_formula_of_its_draws():
    """Every kept run's augmentation depends on the matrices a seed gives: four draws u of the
    generator, in order angle, scale, shift x, shift y, each 2u − 1 times its limit, and the
    matrix [[cos/s, −sin/s, x], [sin/s, cos/s, y]] (s = 1 + the scale's draw). Another order,
    sign or formula of the same distribution would change every trained figure."""
    count, degrees, translate, scale_limit = 5, 20.0, 0.08, 0.15
    generator = torch.Generator().manual_seed(42)
    u = [torch.rand(count, generator=generator).double().tolist() for _ in range(4)]
    expected = []
    for a, s, x, y in zip(*u, strict=True):
        angle = math.radians(degrees) * (2 * a - 1)
        scale = 1 + scale_limit * (2 * s - 1)
        shift_x, shift_y = 2 * translate * (2 * x - 1), 2 * translate * (2 * y - 1)
        cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
        expected.append([[cos, -sin, shift_x], [sin, cos, shift_y]])
    theta = mnist_data.affine_matrices(
        count, degrees, translate, scale_limit, torch.Generator().manual_seed(42)
    )
    np.testing.assert_allclose(theta.double().numpy(), expected, rtol=1e-6, atol=1e-7)


def test_augmentation_is_drawn_on_the_images_device():
    """On a GPU the batch's matrices are drawn there, not on the CPU (and copied, or refused):
    the ``meta`` device stands for the GPU, a device that is not the default."""
    assert mnist_data.affine_matrices(3, 10, 0.1, 0.1, device="meta").device.type == "meta"
    images = torch.zeros(2, 1, 28, 28, device="meta")
    assert mnist_data.random_affine(images, 10, 0.1, 0.1).device.type == "meta"
