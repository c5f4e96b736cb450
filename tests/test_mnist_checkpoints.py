"""A run's files (``nnbook.mnist.checkpoints``): read back as written, refused with a clear error
when they are not what a run writes, and a checkpoint that carries the GPU's random numbers
exactly where a run needs them."""

import datetime
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from nnbook.mnist.checkpoints import (
    RunFileError,
    checkpoint,
    load_run_file,
    restore,
    save_run_file,
)


def test_a_run_file_reads_back_as_it_was_written(tmp_path):
    rows = [{"epoch": 1, "test_accuracy": 0.97}]
    save_run_file(rows, tmp_path / "history.json")
    assert load_run_file(tmp_path / "history.json") == rows
    weights = {"w": torch.arange(3.0)}
    save_run_file(weights, tmp_path / "model.pt")
    assert torch.equal(load_run_file(tmp_path / "model.pt")["w"], weights["w"])


def test_a_run_file_that_holds_more_than_tensors_and_numbers_is_refused(tmp_path):
    """A kept folder may come from elsewhere: a file whose unpickling would build an object of
    any class (here a date) is refused, not loaded (PyTorch's ``weights_only``)."""
    torch.save({"written": datetime.date(2026, 12, 7)}, tmp_path / "model.pt")
    with pytest.raises(RunFileError, match=r"model\.pt is truncated or corrupt \(Unpickling"):
        load_run_file(tmp_path / "model.pt")


def test_a_broken_run_file_names_itself_its_error_and_what_to_do(tmp_path):
    (tmp_path / "history.json").write_text('[{"epoch": 1, "test_acc')
    with pytest.raises(RunFileError) as raised:
        load_run_file(tmp_path / "history.json")
    message = str(raised.value)
    assert "history.json is truncated or corrupt (JSONDecodeError)" in message
    assert "copy it again from where it was written, or delete the run's folder" in message
    with pytest.raises(FileNotFoundError):  # a file that is not there is not a broken one
        load_run_file(tmp_path / "model.pt")


class OnDevice(nn.Module):
    """A network whose parameters say they are on ``device`` (no such device is needed: the
    checkpoint only asks where they are)."""

    def __init__(self, device: str) -> None:
        super().__init__()
        self.device = torch.device(device)

    def parameters(self, recurse: bool = True):
        yield SimpleNamespace(device=self.device)


@pytest.fixture
def training_state():
    real = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(real.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    return optimizer, scheduler, torch.Generator()


@pytest.fixture
def gpu_random_numbers(monkeypatch):
    """The GPU's random state, as a test double: what ``get_rng_state`` gives, and every state
    ``set_rng_state`` was given."""
    state = torch.arange(16, dtype=torch.uint8)
    given = []
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda: state.clone())
    monkeypatch.setattr(torch.cuda, "set_rng_state", given.append)
    return state, given


def test_a_gpu_runs_checkpoint_keeps_and_restores_the_gpus_random_numbers(
    training_state, gpu_random_numbers
):
    state, given = gpu_random_numbers
    saved = checkpoint(OnDevice("cuda"), *training_state, history=[])
    assert torch.equal(saved["cuda_rng"], state)
    assert restore(saved, OnDevice("cuda"), *training_state) == []
    assert len(given) == 1 and torch.equal(given[0], state)


def test_a_cpu_run_neither_keeps_nor_restores_the_gpus_random_numbers(
    training_state, gpu_random_numbers
):
    """A CPU run's checkpoint holds none (an empty tensor), so resuming it on a GPU sets none;
    a GPU run's checkpoint resumed on the CPU leaves the GPU's alone."""
    _, given = gpu_random_numbers
    on_cpu = checkpoint(OnDevice("cpu"), *training_state, history=[])
    assert on_cpu["cuda_rng"].numel() == 0
    restore(on_cpu, OnDevice("cuda"), *training_state)
    on_gpu = checkpoint(OnDevice("cuda"), *training_state, history=[])
    restore(on_gpu, OnDevice("cpu"), *training_state)
    assert given == []
