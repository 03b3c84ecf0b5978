"""Process memory settings shared by the worker and its NLP process."""

from __future__ import annotations

import ctypes

# glibc mallopt() parameters (malloc.h) and the values the worker sets.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MALLOC_THRESHOLDS = ((_M_TRIM_THRESHOLD, 256 << 20), (_M_TOP_PAD, 64 << 20), (_M_MMAP_THRESHOLD, 32 << 20))


def tune_malloc() -> bool:
    """Let glibc keep freed memory for the next spaCy batch instead of returning it to the system.

    Measured when the worker ran spaCy in an executor thread: with glibc's default (dynamic) thresholds,
    the arrays of each batch were unmapped or trimmed when it ended and page-faulted back in by the next
    one: about 400 page faults per article, against 100 for the same spaCy on a main thread: 0.3 to 1.5
    CPU ms per article, the most on a loaded machine. spaCy now runs on the main thread of the worker's
    NLP process, which sets the same thresholds (pipeline/stream/nlp_process.py; not re-measured there).
    Fixed thresholds keep up to 256 MiB of freed heap for reuse; peak RSS did not change in the bench.
    Returns False where there is no glibc.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    accepted = [mallopt(param, value) == 1 for param, value in _MALLOC_THRESHOLDS]
    return all(accepted)
