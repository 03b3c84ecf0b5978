"""The pure stages of the pipeline: no Faust, no Kafka, no settings; plain values in, models out.

- ``clean/``: a raw ninjs item to a clean, paragraphed body with its headline, byline and dateline
- ``versions.py``: which version of a story this is (new, update, stale, withdrawn, withheld)
- ``dedup/``: exact and near-duplicate verdicts against an index the caller owns
- ``analysis/``: the spaCy model and the one selective pass over a batch of bodies
- ``entities/``: entity mentions grouped into canonical entities
- ``quotes/``: direct, mixed and reported quotes with their speakers
"""
