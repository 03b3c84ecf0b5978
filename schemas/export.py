"""Write the JSON Schema files consumers read: ``python -m schemas.export`` (``make schema``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from schemas.ninjs import RawArticle
from schemas.records import DeadLetter, EnrichedArticle, QuoteRecord

SCHEMA_DIR = Path(__file__).parent

MODELS: dict[str, type[BaseModel]] = {
    "enriched_article.v1.schema.json": EnrichedArticle,
    "quote_record.v1.schema.json": QuoteRecord,
    "dead_letter.v1.schema.json": DeadLetter,
    "raw_article.normalised.schema.json": RawArticle,
}


def render(model: type[BaseModel]) -> str:
    """The committed text of one model's schema (stable key order, trailing newline)."""
    schema = model.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    """Regenerate every schema file; print which ones changed."""
    for name, model in MODELS.items():
        path = SCHEMA_DIR / name
        text = render(model)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
