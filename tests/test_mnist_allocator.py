"""``keep_freed_memory``: training steps stop page-faulting, and no number changes."""

import platform
import sys

import pytest

from nnbook.mnist.allocator import keep_freed_memory, largest_activation, measure_steps
from nnbook.mnist.model import Net

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def test_reports_whether_it_could_tune():
    assert keep_freed_memory() is GLIBC
    assert keep_freed_memory() is GLIBC  # a second call is harmless


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's; elsewhere the tuning is a no-op")
def test_training_steps_stop_page_faulting_with_the_same_weights():
    plain, tuned = measure_steps(keep_freed=False), measure_steps(keep_freed=True)
    assert tuned.keep_freed and not plain.keep_freed
    # glibc as it comes: the largest activation, [128, 32, 28, 28] floats, spans 3,136 pages
    # of 4 KiB, and a step faults on more pages than that.
    assert plain.page_faults_per_step > 3_136
    assert tuned.page_faults_per_step < plain.page_faults_per_step / 4
    assert tuned.weights_sha256 == plain.weights_sha256  # where memory comes from changes nothing


def test_largest_activation_is_the_second_convolution_at_full_resolution():
    shape, size = largest_activation(Net(), batch_size=128)
    assert shape == (128, 32, 28, 28)
    assert size == 128 * 32 * 28 * 28 * 4 == 12_845_056  # float32: above glibc's mmap threshold
    with pytest.raises(ValueError, match="must be positive"):
        largest_activation(Net(), batch_size=0)


@pytest.mark.parametrize("batch_size, steps", [(0, 10), (128, 0), (-1, 1)])
def test_measure_steps_refuses_nonsense(batch_size, steps):
    with pytest.raises(ValueError, match="must be positive"):
        measure_steps(True, batch_size, steps)
