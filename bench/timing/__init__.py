"""How long the book's computations take: figures for ``bench/results/`` and the README, never
asserted by a test (a loaded machine is slower, not wrong)."""
