"""Deduplication: exact and near-duplicate verdicts, before any NLP is spent on an article.

``key.py`` hashes a clean article (``dedup_key``: fingerprint, LSH bands, a 1-bit MinHash sketch) where it
is cleaned; ``index.py`` decides the verdict against an index the caller owns (``dedup``) and keeps it
bounded (``forget``, ``expire``); ``store.py`` keeps only the articles durable and derives the rest.
"""

from pipeline.stages.dedup.index import MAX_BUCKET, dedup, expire, forget, handle, state_bytes
from pipeline.stages.dedup.key import DedupKey, dedup_key, normalised_words, shingles, similarity
from pipeline.stages.dedup.store import DerivedIndexStore

__all__ = [
    "MAX_BUCKET",
    "DedupKey",
    "DerivedIndexStore",
    "dedup",
    "dedup_key",
    "expire",
    "forget",
    "handle",
    "normalised_words",
    "shingles",
    "similarity",
    "state_bytes",
]
