"""Named entities: the model's spans repaired, then mentions grouped into canonical entities per article.

``groups.py`` is the stage (``extract_entities``): "Joe Biden", "Biden" and "President Biden" are one
``PERSON:joe-biden``, over headline, dateline, byline and body. ``keys.py`` normalises names and reads
the alias table; ``trimmer.py`` is the spaCy component that trims the model's spans after ``ner``.
"""

from pipeline.stages.entities.groups import NUMERIC_LABELS, body_entities, entity_for_span, extract_entities
from pipeline.stages.entities.keys import AliasTable, canonical_key, load_aliases
from pipeline.stages.entities.trimmer import TRIM_COMPONENT, EntityTrimmer, trim_entity_spans

__all__ = [
    "NUMERIC_LABELS",
    "TRIM_COMPONENT",
    "AliasTable",
    "EntityTrimmer",
    "body_entities",
    "canonical_key",
    "entity_for_span",
    "extract_entities",
    "load_aliases",
    "trim_entity_spans",
]
