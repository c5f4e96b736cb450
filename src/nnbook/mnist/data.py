"""MNIST as whole tensors: checked, normalised once, augmented a batch at a time.

The root comes from ``MNIST_ROOT`` (or an explicit argument), default ``data/`` in the repository.
Files are in torchvision's layout (``MNIST/raw/*-ubyte``) and are checked against SHA-256 digests
before use, so a missing or corrupt file is one clear ``MNISTDataError``, not a stack trace.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

#: SHA-256 of the four uncompressed files, as torchvision stores them under ``MNIST/raw``.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
DEFAULT_ROOT = Path(__file__).resolve().parents[3] / "data"


class MNISTDataError(RuntimeError):
    """The MNIST files are missing, unreadable or corrupt."""


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``root`` if given, else ``$MNIST_ROOT``, else ``data/`` in the repository."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get("MNIST_ROOT") or DEFAULT_ROOT)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(root: str | os.PathLike[str] | None = None, download: bool = True) -> Path:
    """Check the four files under ``root/MNIST/raw``; download them first if missing and allowed.

    Returns the root. Raises ``MNISTDataError`` naming the file and ``MNIST_ROOT`` otherwise.
    """
    base = data_root(root)
    raw = base / "MNIST" / "raw"
    missing = [name for name in SHA256 if not (raw / name).is_file()]
    if missing and download:
        try:
            from torchvision import datasets

            datasets.MNIST(base, train=True, download=True)
            datasets.MNIST(base, train=False, download=True)
        except Exception as error:  # no network, a proxy, a full disk: all end the same way
            reason = " ".join(str(error).split())[:160]
            raise MNISTDataError(
                f"MNIST file {raw / missing[0]} is missing and could not be downloaded "
                f"({type(error).__name__}: {reason}); "
                f"set MNIST_ROOT to a folder holding MNIST/raw/*-ubyte (now {base})"
            ) from None
        missing = [name for name in SHA256 if not (raw / name).is_file()]
    if missing:
        raise MNISTDataError(
            f"MNIST file {raw / missing[0]} is missing; set MNIST_ROOT to a folder holding "
            f"MNIST/raw/*-ubyte (now {base})"
        )
    for name, expected in SHA256.items():
        if _sha256(raw / name) != expected:
            raise MNISTDataError(
                f"MNIST file {raw / name} is corrupt (SHA-256 differs from the published digest); "
                f"replace it or point MNIST_ROOT elsewhere (now {base})"
            )
    return base


@dataclass(frozen=True)
class MNISTTensors:
    """One split as tensors: ``images`` N×1×28×28 float, normalised; ``labels`` N int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device | str) -> MNISTTensors:
        return MNISTTensors(self.images.to(device), self.labels.to(device))

    def subset(self, count: int) -> MNISTTensors:
        """The first ``count`` examples (for quick runs and tests)."""
        return MNISTTensors(self.images[:count], self.labels[:count])


@dataclass(frozen=True)
class MNIST:
    """Both splits, normalised with the training set's mean and standard deviation."""

    train: MNISTTensors
    test: MNISTTensors
    mean: float
    std: float
    root: Path


def read_raw(root: str | os.PathLike[str] | None = None, download: bool = True) -> tuple:
    """The verified files as uint8 tensors: (train images, train labels, test images, labels)."""
    from torchvision import datasets

    base = verify(root, download=download)
    train = datasets.MNIST(base, train=True, download=False)
    test = datasets.MNIST(base, train=False, download=False)
    return train.data, train.targets, test.data, test.targets


def load(root: str | os.PathLike[str] | None = None, download: bool = True) -> MNIST:
    """Load, verify and normalise MNIST; statistics come from the training images only."""
    train_x, train_y, test_x, test_y = read_raw(root, download)
    train_images = train_x.float().div_(255).unsqueeze(1)
    mean, std = train_images.mean().item(), train_images.std().item()
    test_images = test_x.float().div_(255).unsqueeze(1)

    def normalise(images: torch.Tensor) -> torch.Tensor:
        return images.sub_(mean).div_(std).contiguous(memory_format=torch.channels_last)

    return MNIST(
        train=MNISTTensors(normalise(train_images), train_y.long()),
        test=MNISTTensors(normalise(test_images), test_y.long()),
        mean=mean,
        std=std,
        root=data_root(root),
    )


def affine_matrices(
    count: int,
    max_degrees: float,
    max_translate: float,
    max_scale: float,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """``count`` random 2 × 3 matrices of ``F.affine_grid`` (output → input coordinates, which
    run from −1 to 1 across the image): a rotation by an angle uniform in ±``max_degrees``, a
    scale uniform in 1 ± ``max_scale`` and a shift uniform in ±``max_translate`` of the image's
    size (±2·``max_translate`` in those coordinates)."""

    def uniform(limit: float) -> torch.Tensor:
        return (torch.rand(count, generator=generator, device=device) * 2 - 1) * limit

    angle = uniform(math.radians(max_degrees))
    scale = 1 + uniform(max_scale)
    shift_x, shift_y = uniform(2 * max_translate), uniform(2 * max_translate)
    # the grid samples the input at A·p + shift: A = R(angle) / scale magnifies by scale
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    return torch.stack(
        [torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1
    )


def random_affine(
    images: torch.Tensor,
    max_degrees: float,
    max_translate: float,
    max_scale: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Rotate, shift and scale each image of a batch at random (``affine_matrices``), in one
    ``grid_sample`` call; the background (normalised zero ink) stays the background because the
    batch is padded with its own minimum value.
    """
    theta = affine_matrices(
        images.shape[0], max_degrees, max_translate, max_scale, generator, images.device
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    background = images.amin()
    warped = F.grid_sample(images - background, grid, align_corners=False, padding_mode="zeros")
    return (warped + background).contiguous(memory_format=torch.channels_last)
