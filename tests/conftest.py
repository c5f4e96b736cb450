"""Shared fixtures: the MNIST root (``$MNIST_ROOT``, as CI sets it) and the loaded data.

Tests come in two tiers: those marked ``book`` read the built book (its HTML, the PDF, the pages
in Chromium) and fail plainly, naming the build command, when there is none; the others need
only the package and MNIST (``pytest -m "not book"`` runs them alone, before any build).

The tests run in two worker processes (pytest-xdist) on the two cores of the CI machines: each
worker, and every process it starts (the chapters' kernels, the command line, the benchmarks),
then computes with one thread, so that the two never wait on each other's threads (a third of
the suite's time). No test measures speed, and every result they compare is the same with one
thread or two. A run without workers (``-n 0``) keeps PyTorch's own choice.

The tests that draw examples (hypothesis) draw the same ones on every run of the README's test
command (profile ``repeatable``: derandomised, no example database), so that a fresh CI passes
or fails on the code alone. To look for new failures, draw fresh examples on each run:
``HYPOTHESIS_PROFILE=explore pytest -n 0 tests/test_mnist_manual.py`` (or any test file that
imports hypothesis); an example that fails is then added to its test with ``@example``.
"""

import os

import pytest
import torch
from hypothesis import settings

settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # kernels and subprocesses started from here
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(scope="session")
def mnist_root():
    # imported here, not at the top: bench/mutation.py imports the package afresh for each run
    # of the tests, and the data's class must be the one the tests then see (they pickle it)
    from nnbook.mnist import data as mnist_data

    root = mnist_data.data_root()
    try:
        return mnist_data.verify(root, download=False)
    except mnist_data.MNISTDataError as error:
        pytest.fail(f"the MNIST tests need the data: {error}")


@pytest.fixture(scope="session")
def mnist(mnist_root):
    from nnbook.mnist import data as mnist_data

    return mnist_data.load(mnist_root, download=False)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test of the built book fails before it starts, with the build command, without one."""
    from built_book import NO_BUILD, book_is_built

    if item.get_closest_marker("book") and not book_is_built():
        pytest.fail(NO_BUILD, pytrace=False)
