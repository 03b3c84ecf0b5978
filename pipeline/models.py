"""Internal models passed between stages (not part of the published contract)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.records import Dateline, Paragraph, RemovedText


class CleanArticle(BaseModel):
    """What cleaning leaves: one body string, its paragraphs as offsets, and the structure pulled out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uri: str
    version: int
    headline: str | None = None
    # The re-send markers cut from the front of the headline ("REFILE-UPDATE 1-"): a "CORRECTED" one
    # flags a correction in the story's changes. Left out of the JSON when None, as ``flash`` below.
    headline_slug: str | None = Field(default=None, exclude_if=lambda slug: slug is None)
    byline: str | None = None
    dateline: Dateline | None = None
    body: str
    paragraphs: list[Paragraph] = Field(default_factory=list)
    removed: list[RemovedText] = Field(default_factory=list)
    language: str | None = None
    # Left out of the JSON when false, so the envelopes of every other article stay as they were: a worker
    # of the previous release (a rolling update runs both) still reads them (extra fields are refused).
    flash: bool = Field(default=False, exclude_if=lambda flash: not flash)

    def paragraph_texts(self) -> list[str]:
        """The text of each paragraph."""
        return [self.body[p.start : p.end] for p in self.paragraphs]
