"""The records of what the build does not compute: where they lie and what they hold.

A figure the build cannot compute — a measurement on another CPU, on a GPU, over many seeds —
comes from a record that a script of ``bench/`` wrote: ``bench/results/NAME.jsonl``, one JSON
object a line, each naming its command, commit, date, hardware and versions
(``bench/provenance.py``). The chapters read them here, and only here.

The folder is linked into the package as ``nnbook/records`` and shipped with it
(``pyproject.toml``'s package data), so the same call finds them in the repository, in an
installed package, and in a chapter opened in Colab.
"""

from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable

#: Each record, and the script of ``bench/`` that writes it.
RECORDS = {
    "backprop": "bench/timing/manual_backward.py",
    "digits_page": "bench/timing/digits_page.py",
    "gpu": "bench/timing/gpu.py",
    "halve": "bench/experiments/halve.py",
    "mutation": "bench/mutation.py",
    "seeds": "bench/experiments/seeds.py and bench/experiments/frontier.py",
    "speed": "bench/timing/speed.py",
    "train_page": "bench/timing/train_page.py",
}


def record_file(name: str) -> Traversable:
    """The file of the record ``name`` (one of ``RECORDS``)."""
    if name not in RECORDS:
        raise ValueError(f"no record {name!r}: the records are {', '.join(RECORDS)}")
    return files("nnbook") / "records" / f"{name}.jsonl"


def read(name: str) -> list[dict]:
    """Every line of the record ``name``, oldest first, each a dict. A ValueError names the
    file and the line when a line is not a JSON object, and the script to run when the record
    is missing."""
    path = record_file(name)
    if not path.is_file():
        raise ValueError(f"{name}.jsonl is missing: {RECORDS[name]} writes it")
    lines = []
    # bytes: json.loads reads UTF-8 (and the ASCII json.dumps writes) without an encoding named
    for number, text in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            line = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{name}.jsonl, line {number}: not JSON ({error.msg})") from None
        if not isinstance(line, dict):
            raise ValueError(f"{name}.jsonl, line {number}: not a JSON object")
        lines.append(line)
    if not lines:
        raise ValueError(f"{name}.jsonl holds no line: {RECORDS[name]} writes it")
    return lines


def latest(name: str) -> dict:
    """The last line of the record ``name``: its latest measurement."""
    return read(name)[-1]
