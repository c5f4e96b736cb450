"""``keep_freed_memory`` and ``bench/timing/allocator.py``: fewer page faults, and no number
changes."""

import json
import platform
import subprocess
import sys

import pytest
from built_book import ROOT

from nnbook.mnist.allocator import keep_freed_memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def run_bench(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "bench.timing.allocator", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_reports_whether_it_could_tune():
    assert keep_freed_memory() is GLIBC
    assert keep_freed_memory() is GLIBC  # a second call is harmless


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    record = tmp_path_factory.mktemp("allocator") / "allocator.jsonl"
    done = run_bench("--batch-size", "128", "--steps", "4", "--record", str(record))
    assert done.returncode == 0, done.stderr
    (line,) = record.read_text().splitlines()  # one line, with where it ran
    figures = json.loads(line)
    assert figures["command"].startswith("python -m bench.timing.allocator --batch-size 128")
    return figures


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


@pytest.fixture
def untuned(monkeypatch):
    """The allocator as a fresh process finds it (this one may have tuned it already)."""
    from nnbook.mnist import allocator

    monkeypatch.setattr(allocator, "_applied", False)
    return allocator


def test_elsewhere_than_linux_nothing_is_tuned(untuned, monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert untuned.keep_freed_memory() is False


def test_a_c_library_that_cannot_be_loaded_tunes_nothing(untuned, monkeypatch):
    def missing(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(untuned.ctypes, "CDLL", missing)
    assert untuned.keep_freed_memory() is False


@pytest.mark.skipif(not GLIBC, reason="glibc's soname")
def test_glibc_is_found_by_its_name_where_the_linker_cache_cannot_say(untuned, monkeypatch):
    monkeypatch.setattr(untuned.ctypes.util, "find_library", lambda name: None)
    assert untuned.keep_freed_memory() is True


class RecordingLibc:
    """A C library whose ``mallopt`` records its calls and answers ``answers`` in turn."""

    def __init__(self, answers):
        self.calls, answers = [], list(answers)

        def mallopt(parameter, value):  # a function: ctypes' argtypes are set on it
            self.calls.append((parameter, value))
            return answers.pop(0)

        self.mallopt = mallopt


@pytest.mark.parametrize(("answers", "tuned", "calls"), [([1, 1], True, 2), ([0, 1], False, 1),
                                                         ([1, 0], False, 2)])  # fmt: skip
def test_both_thresholds_are_set_and_a_refusal_is_reported(untuned, monkeypatch, answers, tuned,
                                                           calls):  # fmt: skip
    libc = RecordingLibc(answers)
    monkeypatch.setattr(untuned.ctypes, "CDLL", lambda name: libc)
    monkeypatch.setattr(sys, "platform", "linux")
    assert untuned.keep_freed_memory() is tuned
    expected = [(untuned.M_MMAP_THRESHOLD, untuned.MMAP_THRESHOLD),
                (untuned.M_TRIM_THRESHOLD, untuned.NEVER_TRIM)]  # fmt: skip
    assert libc.calls == expected[:calls]
