"""``keep_freed_memory`` and ``bench/allocator.py``: fewer page faults, and no number changes."""

import json
import platform
import subprocess
import sys

import pytest
from built_book import ROOT

from nnbook.mnist.allocator import keep_freed_memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
BENCH = ROOT / "bench" / "allocator.py"


def run_bench(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(BENCH), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def test_reports_whether_it_could_tune():
    assert keep_freed_memory() is GLIBC
    assert keep_freed_memory() is GLIBC  # a second call is harmless


@pytest.fixture(scope="module")
def figures():
    done = run_bench("--json", "--batch-size", "128", "--steps", "4")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_setting_changes_no_weight(figures):
    assert figures["tuned"]["weights_sha256"] == figures["plain"]["weights_sha256"]
    assert figures["tuned"]["keep_freed"] is GLIBC and figures["plain"]["keep_freed"] is False


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's; elsewhere the tuning is a no-op")
def test_training_steps_stop_page_faulting(figures):
    # glibc as it comes: the largest activation, [128, 32, 28, 28] floats, spans 3,136 pages
    # of 4 KiB, and a step faults on more pages than that.
    assert figures["plain"]["page_faults_per_step"] > 3_136
    assert figures["tuned"]["page_faults_per_step"] < figures["plain"]["page_faults_per_step"] / 4


def test_largest_activation_is_the_second_convolution_at_full_resolution(figures):
    assert figures["largest_activation_shape"] == [128, 32, 28, 28]
    # float32: 12.8 MB, above glibc's default mmap threshold
    assert figures["largest_activation_bytes"] == 128 * 32 * 28 * 28 * 4 == 12_845_056


@pytest.mark.parametrize("args", [["--batch-size", "0"], ["--steps", "-1"], ["--steps", "x"]])
def test_the_benchmark_refuses_nonsense(args):
    done = run_bench(*args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
