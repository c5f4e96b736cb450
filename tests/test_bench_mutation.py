"""``bench/mutation.py``'s kept scratch copy: a long module is measured over several sittings,
each going on in the copy the last one left, and never in a copy of another version."""

import json

import pytest

from bench import mutation

MODULE = "nnbook.network"


@pytest.fixture
def copies(monkeypatch):
    """``scratch_copy`` that makes only the folder (the copy's contents are not what is tested
    here), counting its calls."""
    made = []

    def copy_folder(module, tests, folder):
        source = folder / mutation.module_file(module)
        source.parent.mkdir(parents=True)
        source.write_bytes((mutation.ROOT / mutation.module_file(module)).read_bytes())
        made.append((module, tests, folder))
        return folder

    monkeypatch.setattr(mutation, "scratch_copy", copy_folder)
    return made


def test_a_kept_copy_is_made_once_and_then_taken_up_where_it_was_left(tmp_path, copies):
    folder, notes = mutation.kept_copy(MODULE, tmp_path)
    assert folder == tmp_path / MODULE
    assert copies == [(MODULE, mutation.TESTS[MODULE], folder)]
    assert (notes["seconds"], notes["sittings"]) == (0.0, 0)
    assert notes["commit"] == mutation.commit()
    notes |= {"seconds": 12.5, "sittings": 1}
    (folder / "made-from.json").write_text(json.dumps(notes))
    assert mutation.kept_copy(MODULE, tmp_path) == (folder, notes)
    assert len(copies) == 1


def test_a_copy_made_at_another_commit_is_taken_up_while_its_module_is_the_same(tmp_path, copies):
    folder, notes = mutation.kept_copy(MODULE, tmp_path)
    (folder / "made-from.json").write_text(json.dumps(notes | {"commit": "abc123"}))
    assert mutation.kept_copy(MODULE, tmp_path) == (folder, notes | {"commit": "abc123"})


def test_a_copy_of_another_version_of_the_module_is_refused(tmp_path, copies):
    folder, notes = mutation.kept_copy(MODULE, tmp_path)
    (folder / "made-from.json").write_text(json.dumps(notes | {"commit": "abc123"}))
    copied = folder / mutation.module_file(MODULE)
    copied.write_text(copied.read_text() + "\n# another version\n")
    with pytest.raises(ValueError, match=r"copied from abc123, whose nnbook.network differs"):
        mutation.kept_copy(MODULE, tmp_path)


def test_a_folder_the_script_did_not_make_is_refused(tmp_path, copies):
    (tmp_path / MODULE).mkdir()
    with pytest.raises(ValueError, match="not a scratch copy this script made"):
        mutation.kept_copy(MODULE, tmp_path)
    assert copies == []
