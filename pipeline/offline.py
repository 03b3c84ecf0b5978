"""The whole pipeline in one process, with its state in memory: ``wirepipe enrich`` and the evals.

The same functions as the worker's agents, in the same order (``pipeline/process.py``), with a dict where
the worker has a table: the versions of each story, the dedup index, each story's last published version.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pipeline.enricher import Enricher
from pipeline.envelope import Envelope, Limits, Source, dead_letter, internal_error
from pipeline.errors import Stage, StageError
from pipeline.process import article_outcome, check_duplicate, finish, ingest, is_duplicate, is_retraction
from pipeline.stages.changes import StorySnapshot
from pipeline.stages.dedup import forget
from schemas.records import DeadLetter, EnrichedArticle


@dataclass
class OfflinePipeline:
    """The whole pipeline in one process with in-memory state: ``wirepipe enrich`` and the evals."""

    enricher: Enricher
    limits: Limits = field(default_factory=Limits)
    versions: dict[str, Any] = field(default_factory=dict)
    dedup_store: dict[str, Any] = field(default_factory=dict)
    #: The last published version of each story (what the next version's ``changes`` are measured against).
    stories: dict[str, StorySnapshot] = field(default_factory=dict)
    #: False for measuring quality on labelled sets, where two similar texts are two separate test items.
    dedup: bool = True

    def run(self, values: Iterable[bytes], batch_size: int = 16) -> Iterator[EnrichedArticle | DeadLetter]:
        """One outcome per input value, in input order (NLP runs per batch of unique articles)."""
        pending: list[EnrichedArticle | DeadLetter | Envelope] = []
        for offset, value in enumerate(values):
            pending.append(self._prepare(Source(value=value, topic="stdin", offset=offset)))
            if sum(isinstance(p, Envelope) for p in pending) >= batch_size:
                yield from self._flush(pending)
                pending = []
        yield from self._flush(pending)

    def _prepare(self, source: Source) -> EnrichedArticle | DeadLetter | Envelope:
        try:
            step = ingest(source, self.versions, self.limits)
            if is_retraction(step):
                forget(self.dedup_store, step.id)
            if isinstance(step, Envelope) and self.dedup:
                step = check_duplicate(step, self.dedup_store, self.limits)
                if is_duplicate(step):
                    return article_outcome(step)
            return step
        except StageError as exc:
            return dead_letter(exc, source)
        except Exception as exc:  # a bug must become data, not a stopped run
            return dead_letter(internal_error(exc, Stage.CLEAN), source)

    def _flush(
        self, pending: list[EnrichedArticle | DeadLetter | Envelope]
    ) -> Iterator[EnrichedArticle | DeadLetter]:
        # As the worker's nlp step: snapshots as they stand before the batch go in, the batch's new ones
        # are kept (and a withdrawn story's dropped) in message order.
        envelopes = [p for p in pending if isinstance(p, Envelope)]
        previous = [self.stories.get(e.article.uri) for e in envelopes]
        finished = iter(finish(envelopes, self.enricher, previous)) if envelopes else iter(())
        for item in pending:
            if not isinstance(item, Envelope):
                if isinstance(item, EnrichedArticle) and is_retraction(item):
                    self.stories.pop(item.id, None)
                yield item
                continue
            done = next(finished)
            if done.story is not None:
                self.stories[done.story.snapshot.uri] = done.story.snapshot
            yield done.outcome
