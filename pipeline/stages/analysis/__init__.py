"""The spaCy pass: the shared model, loaded once, and the selective analysis of a batch of bodies.

``model.py`` loads the model (``load_nlp``) and checks it has what the stages read; ``blas.py`` makes its
layers multiply on numpy's BLAS; ``selective.py`` runs NER everywhere and the parse only where a quote
can be; ``cache.py`` answers the attribute ruler and lemmatizer from caches.
"""

from pipeline.stages.analysis.blas import Blas
from pipeline.stages.analysis.model import ModelError, load_nlp
from pipeline.stages.analysis.selective import Coverage, SelectiveAnalysis

__all__ = ["Blas", "Coverage", "ModelError", "SelectiveAnalysis", "load_nlp"]
