"""Run ``python -m nnbook`` as a user would, in a subprocess."""

from __future__ import annotations

import subprocess
import sys


def run_nnbook(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nnbook", *args], capture_output=True, text=True, timeout=timeout
    )
