"""Cleaning: wire HTML, scraped text or a whole web page in; paragraphs, headline, byline, dateline out.

``article.py`` is the stage (``clean``) and joins the pieces: ``html.py`` and ``page.py`` turn markup
into paragraphs, ``text.py`` plain text (and repairs Unicode), ``furniture.py`` sorts page furniture
out, ``dateline.py`` finds the dateline, ``flash.py`` keeps the one line of a flash (a body that only
repeats its headline). Nothing of the text vanishes: what leaves the body is listed.
"""

from pipeline.stages.clean.article import assemble, clean

__all__ = ["assemble", "clean"]
