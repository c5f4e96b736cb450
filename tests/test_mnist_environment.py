"""A run's set-up (``nnbook.mnist.environment``): one seed for every generator, and ``malloc``
tuned where the run computes on the CPU, and only when asked."""

import random

import numpy as np
import pytest
import torch

from nnbook.mnist import environment


def draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_one_seed_fixes_python_numpy_and_pytorch_alike():
    environment.seed_everything(3)
    first = draws()
    environment.seed_everything(3)
    assert draws() == first
    environment.seed_everything(4)
    assert all(a != b for a, b in zip(draws(), first, strict=True))


@pytest.mark.parametrize(
    ("device", "tune_malloc", "tuned"),
    [("cpu", True, 1), ("cpu", False, 0), ("cuda", True, 0), ("cuda", False, 0)],
)
def test_malloc_is_tuned_for_a_cpu_run_that_asks(monkeypatch, device, tune_malloc, tuned):
    calls = []
    monkeypatch.setattr(environment, "keep_freed_memory", lambda: calls.append(1))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # "cuda" is only named here
    target = environment.prepare_device(device, deterministic=False, tune_malloc=tune_malloc)
    assert target == torch.device(device)
    assert len(calls) == tuned
