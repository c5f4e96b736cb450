"""``python -m nnbook backprop``: rows as CSV or JSON, and clear errors with status 2."""

import csv
import io
import json
import subprocess
import sys

import pytest
from cli_runner import run_nnbook
from test_backprop import huge_gradients

from nnbook.backprop import train
from nnbook.network import COLUMNS


def run(*args: str):
    return run_nnbook(*args, timeout=120)


def test_csv_defaults_are_the_class_run():
    result = run("backprop", "--iterations", "3")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == list(COLUMNS)
    assert len(rows) == 4
    expected = train(0.5, 3)
    for k, row in enumerate(rows):
        for name in COLUMNS:
            assert float(row[name]) == expected.loc[k, name]  # full precision round trip


def test_json():
    result = run("backprop", "--lr", "2.0", "--iterations", "2", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["iteration"] for row in rows] == [0, 1, 2]
    assert set(rows[0]) == set(COLUMNS)
    assert rows[2]["E_total"] == train(2.0, 2).loc[2, "E_total"]


def test_custom_weights():
    weights = ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8"]
    result = run("backprop", "--iterations", "0", "--weights", *weights, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["w8"] == 0.8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "0"], "learning rate must be a finite positive number"),
        (["--lr", "nan"], "learning rate must be a finite positive number"),
        (["--lr", "abc"], "invalid float value"),
        (["--iterations", "-4"], "iteration count must be 0 or more"),
        (["--weights", "0.1", "0.2"], "expected 8 weights"),
        (["--format", "xml"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_a_message(args, message):
    result = run("backprop", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_biases_inputs_and_targets():
    numbers = ["--inputs", "0.05", "0.1", "--targets", "0.01", "0.99", "--biases", "0.35", "0.6"]
    result = run("backprop", "--iterations", "2", *numbers, "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    expected = train(0.5, 2, inputs=(0.05, 0.1), targets=(0.01, 0.99), biases=(0.35, 0.6))
    assert [[row[name] for name in COLUMNS] for row in rows] == expected.to_numpy().tolist()
    assert rows[2]["b1"] == 0.35  # fixed by default
    trained = json.loads(run("backprop", "--iterations", "2", *numbers, "--train-biases",
                             "--format", "json").stdout)  # fmt: skip
    assert trained[2]["b1"] == trained[1]["b1"] - 0.5 * trained[1]["dE_db1"]


@pytest.mark.parametrize("command", ["backprop", "spreadsheet"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--inputs", "0.1"], "expected 2 values (i1, i2), got 1"),
        (["--targets", "0.1", "0.2", "0.3"], "expected 2 values (t1, t2), got 3"),
        (["--biases", "1"], "expected 2 values (b1, b2), got 1"),
        (["--biases", "inf", "0"], "b1, b2 must be finite numbers"),
        (["--inputs", "nan", "0"], "i1, i2 must be finite numbers"),
        (["--targets", "x", "0"], "invalid float value: 'x'"),
    ],
)
def test_bad_numbers_exit_2(command, args, message, tmp_path):
    out = [str(tmp_path / "sheet.xlsx")] if command == "spreadsheet" else []
    result = run_nnbook(command, *out, *args, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


def test_divergence_exits_2(monkeypatch, capsys):
    from nnbook.cli import main

    monkeypatch.setattr("nnbook.backprop.gradients", huge_gradients)
    with pytest.raises(SystemExit) as exit_info:
        main(["backprop", "--lr", "10"])
    assert exit_info.value.code == 2
    assert "diverged at iteration 1" in capsys.readouterr().err


def test_the_commands_of_part_1_do_not_load_pytorch():
    """``backprop`` (and building the parser for every command) stays light: Part 1's readers
    wait for no deep-learning library, and the chapters call it as a subprocess."""
    script = (
        "import sys; from nnbook.cli import main; "
        "main(['backprop', '--iterations', '1']); "
        "assert 'torch' not in sys.modules, 'the command loaded torch'"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_the_train_commands_default_network_is_the_registrys():
    from nnbook.cli import DEFAULT_MODEL
    from nnbook.mnist import networks

    assert DEFAULT_MODEL == networks.DEFAULT_MODEL
