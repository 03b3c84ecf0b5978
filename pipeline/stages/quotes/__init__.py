"""Quotes: direct and mixed quotes from quote marks, reported speech from the parse, and their speakers.

``extract.py`` is the stage (``extract_quotes``) and joins the pieces: ``marks.py`` pairs quote marks,
``text.py`` holds a body's geometry, ``attribution.py`` finds who a quoted stretch is attributed to,
``reported.py`` finds indirect quotes, ``speakers.py`` resolves a speaker, ``verbs.py`` loads the verb
lists, ``confidence.py`` scores how sure a quote is.
"""

from pipeline.stages.quotes.confidence import confident
from pipeline.stages.quotes.extract import extract_quotes, usable_paragraphs
from pipeline.stages.quotes.verbs import VerbLexicon, load_verbs

__all__ = ["VerbLexicon", "confident", "extract_quotes", "load_verbs", "usable_paragraphs"]
