"""Keep freed memory for reuse, so CPU training does not page-fault on every batch.

A training step allocates and frees the same large activations (``[128, 32, 28, 28]`` floats are
12.8 MB) again and again. glibc's ``malloc`` hands blocks that large to ``mmap`` and gives them
back to the kernel when they are freed, so every step touches fresh pages, and each first touch
is a page fault. On this book's 2-core virtual machines that made a step of batch 128 take 1.5
to 2.7 times as long (batch 64: 1.3 to 1.6 times).

``keep_freed_memory`` sets two ``mallopt`` parameters: blocks up to 32 MB come from the heap, not
``mmap``, and the heap is never trimmed, so freed blocks are reused. This is what PyTorch's
performance guide gets by preloading jemalloc or tcmalloc, done in-process so that a notebook
kernel gets it too. It changes no numbers, only where memory comes from.
``bench/timing/allocator.py`` measures what it saves; the book's appendix on performance shows the
figures.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: ``mallopt`` parameter numbers from glibc's ``<malloc.h>``.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: glibc accepts at most HEAP_MAX_SIZE / 2 = 32 MB for the mmap threshold on 64-bit systems.
MMAP_THRESHOLD = 32 * 1024 * 1024
#: The largest value ``mallopt`` takes (a C int): trimming the heap then never happens.
NEVER_TRIM = 2**31 - 1

_applied = False


def keep_freed_memory() -> bool:
    """Tune glibc ``malloc`` to reuse freed blocks; True when it is (now or already) tuned.

    Returns False, changing nothing, where the C library is not glibc (macOS, Windows, musl).
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success and 0 on failure.
    _applied = bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, NEVER_TRIM)
    )
    return _applied
