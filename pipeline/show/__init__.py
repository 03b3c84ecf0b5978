"""`wirepipe show`: one enriched article as an HTML page (render_page), and where the record comes from."""

from pipeline.show.page import render_page

__all__ = ["render_page"]
