"""The dedup key of one clean article: exact fingerprint, LSH band hashes and a 1-bit MinHash sketch.

``dedup_key`` runs where the article is cleaned; the key is small and JSON-serialisable, so it travels
to the single dedup partition instead of the article. ``similarity`` estimates the word-5-shingle
Jaccard of two articles from their sketches.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import xxhash
from datasketch import MinHash

from pipeline.models import CleanArticle

SHINGLE_WORDS = 5
DEFAULT_SKETCH_BITS = 2048
DEFAULT_BANDS = 10
DEFAULT_ROWS = 3
DEFAULT_SEED = 1

_WORD = re.compile(r"\w+")
# Multiplying by an odd constant and keeping the top bit mixes all 32 bits of a minimum. The low bit
# of datasketch's affine32 values would not do: (a*h + b) mod 2 depends only on the low bit of h, so
# the low bits of two sketches agree far more often than chance on short texts.
_MIX = np.uint32(0x9E3779B1)


@dataclass(frozen=True)
class DedupKey:
    """What dedup needs of one article; small, so it travels over Kafka as JSON (~550 bytes)."""

    uri: str
    fingerprint: str  # xxh3-64 of the normalised word sequence, hex
    bands: tuple[int, ...]  # one 32-bit hash per LSH band
    sketch: str  # base64 of the packed 1-bit MinHash sketch; "" when the text has no words

    def to_json(self) -> str:
        """Serialise to a compact JSON object."""
        return json.dumps(
            {
                "uri": self.uri,
                "fingerprint": self.fingerprint,
                "bands": list(self.bands),
                "sketch": self.sketch,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, data: str | bytes) -> DedupKey:
        """Parse what ``to_json`` wrote; raises ``ValueError`` on anything else."""
        obj = json.loads(data)
        if not isinstance(obj, dict):
            raise ValueError("a DedupKey is a JSON object")
        uri, fingerprint = obj.get("uri"), obj.get("fingerprint")
        bands, sketch = obj.get("bands"), obj.get("sketch")
        if not (isinstance(uri, str) and uri and isinstance(fingerprint, str) and isinstance(sketch, str)):
            raise ValueError("DedupKey needs string uri, fingerprint and sketch")
        if not isinstance(bands, list) or not all(type(b) is int and b >= 0 for b in bands):
            raise ValueError("DedupKey bands must be a list of integers")
        try:
            base64.b64decode(sketch, validate=True)
        except binascii.Error as exc:
            raise ValueError("DedupKey sketch is not base64") from exc
        return cls(uri=uri, fingerprint=fingerprint, bands=tuple(bands), sketch=sketch)


def normalised_words(article: CleanArticle) -> list[str]:
    """Lower-cased words of headline, dateline and body: the text that decides duplication."""
    parts = [article.headline or "", article.dateline.text if article.dateline else "", article.body]
    return _WORD.findall("\n".join(parts).lower())


def shingles(words: list[str], n: int = SHINGLE_WORDS) -> set[bytes]:
    """Word n-grams as bytes; a text shorter than n words is one shingle (as the evaluation counts)."""
    if not words:
        return set()
    return {" ".join(words[i : i + n]).encode() for i in range(max(1, len(words) - n + 1))}


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> npt.NDArray[np.uint32]:
    # Building permutations costs more than hashing an article: make them once per process.
    perms: npt.NDArray[np.uint32] = MinHash(num_perm=num_perm, seed=seed).permutations
    return perms


def dedup_key(
    article: CleanArticle,
    *,
    sketch_bits: int = DEFAULT_SKETCH_BITS,
    bands: int = DEFAULT_BANDS,
    rows: int = DEFAULT_ROWS,
    seed: int = DEFAULT_SEED,
) -> DedupKey:
    """Hash an article: exact fingerprint, ``bands`` LSH band hashes of ``rows`` minima, and a sketch.

    Band and sketch minima come from disjoint permutations, so a pair selected because its bands
    agree does not get an inflated similarity estimate.
    """
    if sketch_bits <= 0 or sketch_bits % 8:
        raise ValueError("sketch_bits must be a positive multiple of 8")
    words = normalised_words(article)
    fingerprint = xxhash.xxh3_64_hexdigest(" ".join(words).encode())
    shingle_set = shingles(words)
    if not shingle_set:
        return DedupKey(uri=article.uri, fingerprint=fingerprint, bands=(), sketch="")
    num_perm = bands * rows + sketch_bits
    mh = MinHash(
        num_perm=num_perm,
        hashfunc=xxhash.xxh32_intdigest,
        permutations=_permutations(num_perm, seed),
        scheme="affine32",
    )
    mh.update_batch(shingle_set)
    hv = mh.hashvalues.astype("<u4")
    band_hashes = tuple(xxhash.xxh32_intdigest(hv[i * rows : (i + 1) * rows].tobytes()) for i in range(bands))
    bits = ((hv[bands * rows :] * _MIX) >> np.uint32(31)).astype(np.uint8)
    sketch = base64.b64encode(np.packbits(bits).tobytes()).decode("ascii")
    return DedupKey(uri=article.uri, fingerprint=fingerprint, bands=band_hashes, sketch=sketch)


def similarity(sketch_a: str, sketch_b: str) -> float:
    """Estimated Jaccard of two 1-bit sketches: bits agree with probability (1 + J) / 2.

    Sketches of different lengths (another configuration) are not comparable: 0.0.
    """
    a = np.frombuffer(base64.b64decode(sketch_a), dtype=np.uint8)
    b = np.frombuffer(base64.b64decode(sketch_b), dtype=np.uint8)
    if a.size == 0 or a.size != b.size:
        return 0.0
    agree = 1.0 - int(np.unpackbits(a ^ b).sum()) / (8 * a.size)
    return min(1.0, max(0.0, 2.0 * agree - 1.0))
