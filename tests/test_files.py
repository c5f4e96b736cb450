"""Files written through ``atomic_write`` get a plain write's permissions, and never half."""

import os
import stat

import pytest
from cli_runner import run_nnbook

from nnbook.files import atomic_write


@pytest.fixture
def umask():
    """Set the process umask for one test (a subprocess inherits it), then restore it."""
    old = os.umask(0o022)
    os.umask(old)

    def set_umask(value: int) -> None:
        os.umask(value)

    yield set_umask
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_file_gets_the_umask_mode(tmp_path, umask, mask, expected):
    umask(mask)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what a plain write gives, as the reference
    path = atomic_write(tmp_path / "atomic.txt", lambda t: t.write_text("hello"))
    assert path.read_text() == "hello"
    assert mode(path) == mode(plain) == expected


def test_replacing_keeps_the_mode_of_the_file(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "shared.txt"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write(target, lambda t: t.write_text("new"))
    assert target.read_text() == "new" and mode(target) == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("keep me")

    def half_then_fail(temporary):
        temporary.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_a_writer_that_moved_its_file_away_fails_with_its_own_error(tmp_path):
    """A writer may replace its file (LibreOffice converts into a new one): when it fails after
    the temporary is gone, its own error comes out, not the clean-up's."""
    target = tmp_path / "sheet.xlsx"

    def remove_then_fail(temporary):
        temporary.unlink()
        raise RuntimeError("conversion failed")

    with pytest.raises(RuntimeError, match="conversion failed"):
        atomic_write(target, remove_then_fail)
    assert list(tmp_path.iterdir()) == []


def test_the_cli_workbook_is_readable_by_others(tmp_path, umask):
    umask(0o022)
    out = tmp_path / "class.xlsx"
    result = run_nnbook("spreadsheet", str(out), "--iterations", "2", timeout=300)
    assert result.returncode == 0, result.stderr
    assert mode(out) == 0o644


def test_training_files_are_readable_by_others(tmp_path, umask, mnist):
    from dataclasses import replace

    from nnbook.mnist.checkpoints import CHECKPOINT, HISTORY, MODEL
    from nnbook.mnist.trainer import DEFAULT_RECIPE, FitOptions, fit

    umask(0o022)
    recipe = replace(DEFAULT_RECIPE, epochs=1, batch_size=64)
    fit(
        mnist.train.subset(128),
        mnist.test.subset(64),
        recipe,
        options=FitOptions(device="cpu", out=tmp_path),
    )
    assert {p.name: mode(p) for p in tmp_path.iterdir()} == {
        CHECKPOINT: 0o644,
        HISTORY: 0o644,
        MODEL: 0o644,
    }
