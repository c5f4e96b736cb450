"""Shared fixtures: the MNIST root (``$MNIST_ROOT``, as CI sets it) and the loaded data."""

import pytest

from nnbook.mnist import data as mnist_data


@pytest.fixture(scope="session")
def mnist_root():
    root = mnist_data.data_root()
    try:
        return mnist_data.verify(root, download=False)
    except mnist_data.MNISTDataError as error:
        pytest.fail(f"the MNIST tests need the data: {error}")


@pytest.fixture(scope="session")
def mnist(mnist_root):
    return mnist_data.load(mnist_root, download=False)
