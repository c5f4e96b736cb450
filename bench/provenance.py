"""Where a measurement came from: every line a bench script appends to ``bench/results/*.jsonl``
starts with these fields, so that the book can say what it reads and anyone can run it again.

    command    the command line, as run from the repository's root (``python -m bench.…``)
    commit     ``git rev-parse HEAD``, with ``+changes`` when tracked files besides the records
               themselves differed from it
    date       the day, ISO 8601
    cpu, vector instructions, threads   the machine (and ``gpu`` when CUDA was used)
    instruction limits   only when set: the environment variables that kept PyTorch, oneDNN
               and MKL below the CPU's own instructions (``INSTRUCTION_LIMITS``)
    python, torch, numpy                the versions that computed it
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
#: What every record must name (``tests/test_records.py`` checks each line of every file).
FIELDS = ("command", "commit", "date", "python", "torch", "numpy")


#: The environment variables that limit the vector instructions of PyTorch's own kernels, of
#: oneDNN's and of MKL's: ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
#: MKL_ENABLE_INSTRUCTIONS=AVX2`` runs on an AVX-512 CPU the kernels an AVX2-only one runs.
INSTRUCTION_LIMITS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def commit() -> str:
    """The checked-out commit, ``+changes`` appended when tracked files were modified (the
    records of ``bench/results/``, which a measurement appends to, do not count)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results")
    return head + ("+changes" if changed else "")


def program() -> list[str]:
    """How this process was started, as run from the repository's root: ``python -m
    bench.timing.speed`` for a module of ``bench`` (they run only so), else ``python`` and the
    script's path."""
    script = Path(sys.argv[0]).resolve()
    if script.is_relative_to(ROOT / "bench") and script.suffix == ".py":
        return ["python", "-m", ".".join(script.relative_to(ROOT).with_suffix("").parts)]
    return ["python", str(script.relative_to(ROOT) if script.is_relative_to(ROOT) else script)]


def provenance(device: torch.device | str = "cpu") -> dict[str, object]:
    """The fields above for a measurement made now, by this process, on ``device``."""
    fields: dict[str, object] = {
        "command": shlex.join([*program(), *sys.argv[1:]]),
        "commit": commit(),
        "date": datetime.date.today().isoformat(),
        "cpu": cpu_name(),
        "vector instructions": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    limits = {name: os.environ[name] for name in INSTRUCTION_LIMITS if os.environ.get(name)}
    if limits:
        fields["instruction limits"] = limits
    if torch.device(device).type == "cuda":
        fields["gpu"] = torch.cuda.get_device_name()
        fields["cudnn"] = torch.backends.cudnn.version()
    return fields


def append_record(path: str | Path, record: dict[str, object]) -> None:
    """Append ``record`` as one JSON line, with a newline, to ``path`` (created if missing)."""
    missing = [field for field in FIELDS if field not in record]
    if missing:
        raise ValueError(f"a record must name {', '.join(missing)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:
        file.write(json.dumps(record) + "\n")
