"""How long Part 1's computations take: the class runs, the symbolic derivation, the workbook.

Figures only, printed; nothing here is asserted (a loaded machine is slower, not wrong).

    python -m bench.timing.part1 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import positive_int
from nnbook import spreadsheet, symbolic
from nnbook.backprop import train_array
from nnbook.network import DEFAULT_ITERATIONS, LEARNING_RATES


def best_of(repeats: int, work: Callable[[], object]) -> tuple[float, float]:
    """(fastest, median) seconds of ``repeats`` calls of ``work``."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--skip-libreoffice", action="store_true")
    args = parser.parse_args()
    if args.repeats <= 0:
        parser.error("--repeats must be positive")
    rates, steps = LEARNING_RATES, DEFAULT_ITERATIONS
    started = time.perf_counter()
    symbolic.derivatives()
    print(
        f"SymPy derivation of the 8 gradients (first call): {time.perf_counter() - started:.2f} s"
    )
    train_array(rates, steps)  # warm-up
    fastest, median = best_of(args.repeats, lambda: train_array(rates, steps))
    print(
        f"{len(rates)} learning rates x {steps} updates (NumPy): "
        f"best {1000 * fastest:.2f} ms, median {1000 * median:.2f} ms"
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "backprop.xlsx"
        fastest, median = best_of(args.repeats, lambda: spreadsheet.write_workbook(path))
        print(f"workbook generation: best {fastest:.2f} s, median {median:.2f} s")
        if not args.skip_libreoffice:
            started = time.perf_counter()
            spreadsheet.recalculate(path, Path(folder) / "out")
            print(f"LibreOffice recalculation: {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
