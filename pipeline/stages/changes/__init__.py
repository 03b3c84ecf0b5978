"""What changed between two versions of a story: paragraphs, numbers, quotes, entities, headline, corrections.

Pure: the caller keeps one ``StorySnapshot`` per uri (a dict offline, a changelog-backed table in the worker)
and passes it in; ``track`` returns the record with its ``changes``, the new snapshot, and each quote's fate.
"""

from pipeline.stages.changes.compare import compute_changes, summarise
from pipeline.stages.changes.quotes import QuoteFates, quote_fates, quote_retractions, quote_withdrawals
from pipeline.stages.changes.snapshot import (
    STORY_RETENTION_S,
    QuoteRetraction,
    SnapshotEntity,
    SnapshotQuote,
    StorySnapshot,
    expired,
    quote_key,
    snapshot_of,
)
from pipeline.stages.changes.text import EDIT_SIMILARITY, diff_paragraphs
from pipeline.stages.changes.track import StoryUpdate, track

__all__ = [
    "EDIT_SIMILARITY",
    "STORY_RETENTION_S",
    "QuoteFates",
    "QuoteRetraction",
    "SnapshotEntity",
    "SnapshotQuote",
    "StorySnapshot",
    "StoryUpdate",
    "compute_changes",
    "diff_paragraphs",
    "expired",
    "quote_fates",
    "quote_key",
    "quote_retractions",
    "quote_withdrawals",
    "snapshot_of",
    "summarise",
    "track",
]
