"""The matrix products of spaCy's layers through numpy's BLAS rather than thinc's bundled blis.

thinc multiplies every layer's matrices with blis (``NumpyOps.gemm``). The blis that PyPI's wheels ship
can fall back to its portable "generic" kernels on a CPU it does not recognise: on the AMD EPYC VMs
this project runs on it does (``BLIS_ARCH_DEBUG=1`` prints ``selecting sub-configuration 'generic'``),
and a product of spaCy's shapes (2,000 x 288 by 288 x 288, float32) then takes 3.5-4 times what numpy's
OpenBLAS takes on one thread. About a third of the small English model's time on wire text is those
products (``tok2vec``'s and ``ner``'s convolutions, the parser's precomputed layer).

``NumpyBlasOps`` is ``NumpyOps`` with ``gemm`` done by ``numpy.matmul``; every other kernel is thinc's.
``model_ops("numpy")`` makes it the ops of the models built inside it (thinc gives a model the current
ops when it is built, so the choice is made at ``spacy.load`` and does not leak to models loaded
elsewhere in the process, such as the bench's bare baseline). It also limits numpy's BLAS to one thread
for the whole process, so that one NLP process stays on one core, as spaCy with blis does. The greedy
transition loop of ``ner`` and ``parser`` calls blis from Cython through its own pointer and keeps it.
The products differ from blis's in the last bits of float32; ``tests/unit/test_blas.py`` checks that the
entities and parses come out the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np
from thinc.api import NumpyOps, get_current_ops, set_current_ops
from threadpoolctl import threadpool_limits

#: ``numpy``: numpy's BLAS (the default); ``blis``: thinc's own, as bare spaCy runs.
Blas = Literal["numpy", "blis"]
BLAS_CHOICES: tuple[Blas, ...] = ("numpy", "blis")


class NumpyBlasOps(NumpyOps):  # type: ignore[misc]  # thinc's Cython class is untyped
    """thinc's CPU ops with matrix products by ``numpy.matmul`` (float32 only; others stay with blis)."""

    name = "numpy-blas"

    def gemm(
        self,
        x: Any,
        y: Any,
        *,
        out: Any = None,
        trans1: bool = False,
        trans2: bool = False,
    ) -> Any:
        if x.dtype != np.float32 or y.dtype != np.float32 or x.ndim != 2 or y.ndim != 2:
            return super().gemm(x, y, out=out, trans1=trans1, trans2=trans2)
        a = x.T if trans1 else x
        b = y.T if trans2 else y
        if out is None:
            return np.matmul(a, b)
        np.matmul(a, b, out=out)
        return out


def one_blas_thread() -> None:
    """Limit numpy's BLAS to one thread in this process (it would otherwise take every core)."""
    threadpool_limits(limits=1, user_api="blas")


@contextmanager
def model_ops(blas: Blas) -> Iterator[None]:
    """Models built inside get ``blas``'s ops; the current ops are restored after."""
    if blas == "blis":
        yield
        return
    if blas != "numpy":
        raise ValueError(f"unknown BLAS {blas!r}: one of {', '.join(BLAS_CHOICES)}")
    one_blas_thread()
    previous = get_current_ops()
    set_current_ops(NumpyBlasOps())
    try:
        yield
    finally:
        set_current_ops(previous)
