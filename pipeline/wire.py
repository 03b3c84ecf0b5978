"""An envelope on an internal topic, read without parsing its article.

``Envelope.to_wire`` writes a header line (every field but the article, plus the uri) and then the
article's JSON. The dedup step reads only the header (the dedup key), adds its verdict and forwards the
article bytes untouched; only the nlp step (and a duplicate's outcome) parses the article.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.envelope import HEADER_END, Envelope, Limits, Source
from pipeline.models import CleanArticle
from pipeline.process import judge_duplicate


class NotAnEnvelopeError(ValueError):
    """Bytes on an internal topic that ``Envelope.to_wire`` did not write."""


@dataclass(frozen=True)
class WireEnvelope:
    """An envelope as it travels: the header parsed, the article still its JSON bytes."""

    header: dict[str, Any]
    article_json: bytes

    @classmethod
    def parse(cls, value: bytes) -> WireEnvelope:
        """Split ``Envelope.to_wire`` bytes; raises ``NotAnEnvelopeError`` on anything else."""
        head, sep, article = value.partition(HEADER_END)
        try:
            header = orjson.loads(head)
        except orjson.JSONDecodeError as exc:
            raise NotAnEnvelopeError(f"not an envelope: the header is not JSON ({exc})") from None
        if not sep or not isinstance(header, dict) or not isinstance(header.get("uri"), str):
            raise NotAnEnvelopeError("not an envelope: no header line with a uri")
        return cls(header, article)

    @property
    def uri(self) -> str:
        return str(self.header["uri"])

    @property
    def is_duplicate(self) -> bool:
        """True when the dedup step found another article with this content (exact or near copy)."""
        verdict = self.header.get("verdict")
        return isinstance(verdict, dict) and verdict.get("status") != "unique"

    def source(self) -> Source:
        """Where the original message is (its value is read back from there for a dead letter)."""
        h = self.header
        return Source(
            value=None,
            key=self.uri.encode(),
            topic=h.get("source_topic"),
            partition=h.get("source_partition"),
            offset=h.get("source_offset"),
        )

    def envelope(self) -> Envelope:
        """The whole envelope, article parsed and validated."""
        fields = {k: v for k, v in self.header.items() if k != "uri"}
        article = CleanArticle.model_validate_json(self.article_json)
        return Envelope.model_validate({**fields, "article": article})

    def to_wire(self) -> bytes:
        return orjson.dumps(self.header) + HEADER_END + self.article_json


def check_duplicate_wire(hop: WireEnvelope, store: MutableMapping[str, Any], limits: Limits) -> WireEnvelope:
    """``process.check_duplicate`` on an envelope from the wire, without parsing its article. The dedup
    key is dropped from what goes on: nothing after this step reads it (a third of the header's bytes)."""
    verdict, timings = judge_duplicate(str(hop.header["key"]), hop.header["timings_ms"], store, limits)
    header = {k: v for k, v in hop.header.items() if k != "key"}
    header |= {"verdict": verdict.model_dump(mode="json"), "timings_ms": timings}
    return WireEnvelope(header, hop.article_json)
