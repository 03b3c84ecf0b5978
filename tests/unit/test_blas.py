"""spaCy's layers on numpy's BLAS: the same products, the same analyses, one thread, nothing leaked.

Loads the model twice (blis and numpy, about 4 s).
"""

from __future__ import annotations

import numpy as np
import pytest
from spacy.attrs import DEP, ENT_IOB, ENT_TYPE, HEAD, LEMMA, TAG
from spacy.language import Language
from thinc.api import NumpyOps, get_current_ops
from threadpoolctl import threadpool_info

from pipeline.settings import Settings
from pipeline.stages.analysis import load_nlp
from pipeline.stages.analysis.blas import NumpyBlasOps, model_ops

_TEXTS = [
    "Chancellor Olaf Scholz told reporters in Berlin on Tuesday that the coalition would survive.",
    '"We will not raise taxes," Finance Minister Christian Lindner said, adding that the budget for '
    "2025 was balanced.",
    "Shares of Siemens AG fell 3.2 percent in Frankfurt after the company cut its forecast, according "
    "to Reuters.",
    "The storm left 40,000 homes without power across Devon and Cornwall, the Met Office said.",
]


@pytest.fixture(scope="module")
def pair() -> tuple[Language, Language]:
    model = Settings().spacy_model
    return load_nlp(model, blas="blis"), load_nlp(model, blas="numpy")


@pytest.mark.parametrize(("trans1", "trans2"), [(False, False), (True, False), (False, True), (True, True)])
def test_gemm_matches_thincs_own_product(trans1: bool, trans2: bool) -> None:
    """numpy's product equals thinc's blis product (to float32 rounding), transposes and ``out`` included."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 19) if not trans1 else (19, 37), dtype=np.float32)
    y = rng.standard_normal((19, 23) if not trans2 else (23, 19), dtype=np.float32)
    expected = NumpyOps().gemm(x, y, trans1=trans1, trans2=trans2)
    product = NumpyBlasOps().gemm(x, y, trans1=trans1, trans2=trans2)
    np.testing.assert_allclose(product, expected, rtol=1e-5, atol=1e-5)
    out = np.zeros((37, 23), dtype=np.float32)
    returned = NumpyBlasOps().gemm(x, y, out=out, trans1=trans1, trans2=trans2)
    assert returned is out
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_the_model_built_under_numpy_uses_it_and_nothing_else_does(pair: tuple[Language, Language]) -> None:
    """Only the model loaded with ``blas="numpy"`` gets the numpy ops; the current ops stay thinc's."""
    blis, numpy = pair
    assert isinstance(numpy.get_pipe("ner").model.ops, NumpyBlasOps)
    assert isinstance(numpy.get_pipe("tok2vec").model.ops, NumpyBlasOps)
    assert not isinstance(blis.get_pipe("ner").model.ops, NumpyBlasOps)
    assert not isinstance(get_current_ops(), NumpyBlasOps)


def test_numpy_blas_runs_on_one_thread(pair: tuple[Language, Language]) -> None:
    """After a model is loaded on numpy's BLAS, that BLAS uses one thread (one NLP process, one core)."""
    assert pair
    blas_pools = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas_pools
    assert all(pool["num_threads"] == 1 for pool in blas_pools)


def test_entities_tags_and_parse_are_the_same_as_on_blis(pair: tuple[Language, Language]) -> None:
    """The whole pipeline gives the same entities, tags, lemmas and dependencies on either BLAS."""
    blis, numpy = pair
    attrs: list[int | str] = [ENT_IOB, ENT_TYPE, TAG, LEMMA, DEP, HEAD]
    for a, b in zip(blis.pipe(_TEXTS), numpy.pipe(_TEXTS), strict=True):
        assert a.ents  # the texts are chosen to hold entities
        assert (a.to_array(attrs) == b.to_array(attrs)).all(), a.text


def test_an_unknown_blas_is_refused() -> None:
    """A BLAS name other than numpy or blis is an error, not a silent fallback."""
    with pytest.raises(ValueError, match="unknown BLAS"), model_ops("mkl"):  # type: ignore[arg-type]
        pass
