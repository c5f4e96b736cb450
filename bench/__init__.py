"""What the book measures and does not assert: scripts run from the repository's root as
modules (``python -m bench.experiments.seeds --help``), in three kinds.

- ``bench.experiments``: training runs whose accuracies the chapters quote (``seeds``,
  ``frontier``, ``halve``, ``small_models``);
- ``bench.timing``: how long things take, on this machine (``speed``, ``allocator``,
  ``pipeline``, ``part1``, ``manual_backward``, ``digits_page``, ``train_page``, ``gpu``);
- ``bench.mutation``: the quality tool, how strong the tests are (mutation testing).

They share ``bench.common`` (the flags ``--record/--seeds/--jobs/--threads``, the timing loop
and the training step, built on ``nnbook.mnist.trainer.train_step``) and ``bench.provenance``
(where a record came from). A script that writes a record appends one JSON line to the file
given as ``--record PATH``; the book reads ``bench/results/*.jsonl`` through
``nnbook.records``, and README's table says which script writes which and which chapter reads
it.
"""
