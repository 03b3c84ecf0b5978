"""Unit tests for pipeline.stages.dedup: exact and near-duplicate verdicts over a plain-dict store."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.models import CleanArticle
from pipeline.stages.dedup import (
    MAX_BUCKET,
    DedupKey,
    DerivedIndexStore,
    dedup,
    dedup_key,
    expire,
    forget,
    handle,
    shingles,
    similarity,
    state_bytes,
)

DAY = 86400.0
T0 = 1_700_000_000.0
_VOCAB = [f"w{i}" for i in range(5000)]


def _text(seed: int, words: int = 200) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(_VOCAB) for _ in range(words))


def _article(uri: str, body: str, headline: str = "A headline") -> CleanArticle:
    return CleanArticle(uri=uri, version=1, headline=headline, body=body)


def _jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a.lower().split()), shingles(b.lower().split())
    return len(sa & sb) / len(sa | sb)


class _OnlyItemAccess(MutableMapping[str, Any]):
    """A store allowing only what a Faust table allows the stage: get/set/del/contains, JSON values."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        return json.loads(json.dumps(self.data[key]))

    def __setitem__(self, key: str, value: Any) -> None:
        assert isinstance(key, str)
        self.data[key] = json.loads(json.dumps(value))  # raises on anything that is not JSON

    def __delitem__(self, key: str) -> None:
        del self.data[key]

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("the stage must not iterate the store")

    def __len__(self) -> int:
        raise AssertionError("the stage must not size the store")


def test_second_article_with_same_text_is_exact_duplicate_of_first() -> None:
    store: dict[str, Any] = {}
    body = _text(1)
    first = dedup(store, dedup_key(_article("u:1", body)), now=T0)
    second = dedup(store, dedup_key(_article("u:2", body)), now=T0 + 1)
    assert first.status == "unique"
    assert (second.status, second.duplicate_of, second.similarity) == ("duplicate", "u:1", 1.0)


def test_case_punctuation_and_whitespace_do_not_change_the_fingerprint() -> None:
    body = _text(2, 50)
    variant = "  " + body.upper().replace(" ", " ,\n ") + "!"
    assert dedup_key(_article("u:1", body)).fingerprint == dedup_key(_article("u:2", variant)).fingerprint


def test_copy_with_one_sentence_changed_is_near_duplicate_of_original() -> None:
    store: dict[str, Any] = {}
    body = _text(3, 400)
    words = body.split()
    words[200:205] = _text(99, 5).split()
    edited = " ".join(words)
    assert _jaccard(body, edited) > 0.9
    dedup(store, dedup_key(_article("u:orig", body)), now=T0)
    verdict = dedup(store, dedup_key(_article("u:copy", edited)), now=T0 + 1)
    assert verdict.status == "near_duplicate"
    assert verdict.duplicate_of == "u:orig"
    assert verdict.similarity is not None and verdict.similarity >= 0.8


def test_unrelated_articles_are_unique() -> None:
    store: dict[str, Any] = {}
    verdicts = [dedup(store, dedup_key(_article(f"u:{i}", _text(100 + i))), now=T0 + i) for i in range(30)]
    assert {v.status for v in verdicts} == {"unique"}


def test_pair_below_threshold_is_not_reported() -> None:
    store: dict[str, Any] = {}
    body = _text(4, 300)
    words = body.split()
    half = " ".join(words[:150] + _text(98, 150).split())
    assert _jaccard(body, half) < 0.5
    dedup(store, dedup_key(_article("u:a", body)), now=T0)
    assert dedup(store, dedup_key(_article("u:b", half)), now=T0 + 1).status == "unique"


def test_redelivery_of_same_uri_and_content_repeats_first_verdict_and_is_never_its_own_duplicate() -> None:
    store: dict[str, Any] = {}
    body = _text(5)
    key = dedup_key(_article("u:1", body))
    first = dedup(store, key, now=T0)
    again = dedup(store, key, now=T0 + 60)
    assert first == again
    assert again.duplicate_of is None


def test_redelivery_of_near_duplicate_repeats_its_verdict() -> None:
    store: dict[str, Any] = {}
    body = _text(6, 400)
    edited = body + " " + _text(97, 10)
    dedup(store, dedup_key(_article("u:orig", body)), now=T0)
    key = dedup_key(_article("u:copy", edited))
    first = dedup(store, key, now=T0 + 1)
    assert first.status == "near_duplicate"
    assert dedup(store, key, now=T0 + 2) == first


def test_update_with_new_content_replaces_the_old_entries() -> None:
    store: dict[str, Any] = {}
    old, new = _text(7), _text(8)
    dedup(store, dedup_key(_article("u:1", old)), now=T0)
    assert dedup(store, dedup_key(_article("u:1", new)), now=T0 + 1).status == "unique"
    # The old text is no longer indexed: a copy of it elsewhere is an original now.
    assert dedup(store, dedup_key(_article("u:2", old)), now=T0 + 2).status == "unique"
    # The new text is indexed under the updated uri.
    assert dedup(store, dedup_key(_article("u:3", new)), now=T0 + 3).duplicate_of == "u:1"


def test_near_duplicate_of_a_near_duplicate_is_found_through_the_chain() -> None:
    store: dict[str, Any] = {}
    a = _text(9, 300)
    b = a + " " + _text(96, 40)
    c = b + " " + _text(95, 40)
    assert _jaccard(a, c) < 0.8 <= _jaccard(b, c)
    dedup(store, dedup_key(_article("u:a", a)), now=T0)
    assert dedup(store, dedup_key(_article("u:b", b)), now=T0 + 1).duplicate_of == "u:a"
    assert dedup(store, dedup_key(_article("u:c", c)), now=T0 + 2).duplicate_of == "u:b"


def test_entries_older_than_retention_are_ignored_and_removed_on_lookup() -> None:
    store: dict[str, Any] = {}
    body = _text(10)
    dedup(store, dedup_key(_article("u:1", body)), now=T0, retention_s=7 * DAY)
    late = dedup(store, dedup_key(_article("u:2", body)), now=T0 + 7 * DAY + 1, retention_s=7 * DAY)
    assert late.status == "unique"
    assert f"doc:{handle('u:1')}" not in store


def test_expire_removes_every_entry_of_expired_articles() -> None:
    store = _OnlyItemAccess()
    for i in range(150):  # more than one expiry chunk in a minute
        dedup(store, dedup_key(_article(f"u:{i}", _text(200 + i))), now=T0 + i * 0.1)
    removed = expire(store, T0 + 8 * DAY, retention_s=7 * DAY)
    assert removed == 150
    assert set(store.data) == {"exp:cursor"}


def test_expire_keeps_articles_inside_retention() -> None:
    store: dict[str, Any] = {}
    dedup(store, dedup_key(_article("u:old", _text(11))), now=T0)
    dedup(store, dedup_key(_article("u:new", _text(12))), now=T0 + 3 * DAY)
    assert expire(store, T0 + 7 * DAY + 120, retention_s=7 * DAY) == 1
    assert dedup(store, dedup_key(_article("u:x", _text(12))), now=T0 + 7 * DAY + 121).duplicate_of == "u:new"


def test_expire_skips_an_article_updated_after_its_first_minute() -> None:
    store: dict[str, Any] = {}
    dedup(store, dedup_key(_article("u:1", _text(13))), now=T0)
    dedup(store, dedup_key(_article("u:1", _text(14))), now=T0 + 2 * DAY)
    assert expire(store, T0 + 7 * DAY + 120, retention_s=7 * DAY) == 0
    assert f"doc:{handle('u:1')}" in store


def test_stage_uses_only_item_access_and_json_values() -> None:
    store = _OnlyItemAccess()
    body = _text(15, 300)
    for i, text in enumerate([body, body, body + " tail words here now", _text(16)]):
        dedup(store, dedup_key(_article(f"u:{i}", text)), now=T0 + i)
    assert all(isinstance(k, str) for k in store.data)


def test_exact_duplicate_adds_no_state() -> None:
    store: dict[str, Any] = {}
    body = _text(17)
    dedup(store, dedup_key(_article("u:1", body)), now=T0)
    before = json.dumps(store, sort_keys=True)
    dedup(store, dedup_key(_article("u:2", body)), now=T0 + 1)
    assert json.dumps(store, sort_keys=True) == before


def test_state_per_article_is_under_one_kilobyte() -> None:
    store: dict[str, Any] = {}
    n = 200
    for i in range(n):
        uri = f"urn:newsml:example.com:20240101:{i:012d}"  # a realistic 45-character uri
        dedup(store, dedup_key(_article(uri, _text(300 + i, 600))), now=T0 + i)
    assert state_bytes(store, list(store)) / n <= 1024


def test_text_without_words_is_unique_and_not_indexed() -> None:
    store: dict[str, Any] = {}
    for i in range(2):
        assert dedup(store, dedup_key(_article(f"u:{i}", "—", headline="")), now=T0).status == "unique"
    assert store == {}


def test_a_bucket_never_holds_more_than_max_bucket_articles() -> None:
    store: dict[str, Any] = {}
    body = _text(18, 300)
    for i in range(MAX_BUCKET + 10):  # one sentence changed per copy: all share most bands
        dedup(store, dedup_key(_article(f"u:{i}", body + f" w{i} w{i + 1}")), now=T0 + i)
    assert max(len(v) for k, v in store.items() if k.startswith("b:")) <= MAX_BUCKET


@pytest.mark.parametrize("target", [0.5, 0.7, 0.8, 0.9, 0.95])
def test_sketch_similarity_is_within_four_standard_deviations_of_exact_jaccard(target: float) -> None:
    base = _text(19, 1000).split()
    changed = int(len(base) * (1 - target) / 6)  # each changed word removes up to 5 shingles
    rng = random.Random(20)
    words = list(base)
    for i in rng.sample(range(len(words)), changed):
        words[i] = "zz" + str(i)
    a, b = " ".join(base), " ".join(words)
    exact = _jaccard(a, b)
    est = similarity(dedup_key(_article("u:a", a)).sketch, dedup_key(_article("u:b", b)).sketch)
    assert abs(est - exact) < 4 * (max(exact * (1 - exact), 0.01) / 2048 * 4) ** 0.5 + 0.01


def test_disjoint_short_texts_are_not_estimated_similar() -> None:
    """Pins the mixing of sketch bits: raw low bits of datasketch minima agree too often on short texts."""
    ests = [
        similarity(
            dedup_key(_article("u:a", _text(400 + i, 12), headline="")).sketch,
            dedup_key(_article("u:b", _text(500 + i, 12), headline="")).sketch,
        )
        for i in range(20)
    ]
    assert max(ests) < 0.15


def test_sketches_of_different_configurations_are_not_compared() -> None:
    art = _article("u:a", _text(21))
    assert similarity(dedup_key(art).sketch, dedup_key(art, sketch_bits=1024).sketch) == 0.0


@given(
    uri=st.text(min_size=1, max_size=60),
    fingerprint=st.text(alphabet="0123456789abcdef", min_size=16, max_size=16),
    bands=st.lists(st.integers(min_value=0, max_value=2**32 - 1), max_size=12),
    sketch=st.binary(max_size=64),
)
def test_dedup_key_survives_a_json_round_trip(
    uri: str, fingerprint: str, bands: list[int], sketch: bytes
) -> None:
    encoded = base64.b64encode(sketch).decode()
    key = DedupKey(uri=uri, fingerprint=fingerprint, bands=tuple(bands), sketch=encoded)
    assert DedupKey.from_json(key.to_json()) == key


@pytest.mark.parametrize(
    "payload",
    [
        '"a string"',
        '{"uri": "u"}',
        '{"uri": "u", "fingerprint": "f", "bands": ["x"], "sketch": ""}',
        '{"uri": "u", "fingerprint": "f", "bands": [], "sketch": "not base64!"}',
    ],
)
def test_malformed_dedup_key_json_is_rejected(payload: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  # the message varies by defect; the type is the contract
        DedupKey.from_json(payload)


def test_key_from_a_real_article_is_small_json() -> None:
    key = dedup_key(_article("urn:newsml:example.com:20240101:000000000001", _text(22, 800)))
    assert len(key.to_json()) < 700


def test_forgotten_article_is_no_longer_an_original() -> None:
    store: dict[str, Any] = {}
    body = _text(23)
    dedup(store, dedup_key(_article("u:withdrawn", body)), now=T0)
    assert forget(store, "u:withdrawn")
    assert dedup(store, dedup_key(_article("u:copy", body)), now=T0 + 1).status == "unique"


def test_forgetting_an_unknown_uri_changes_nothing() -> None:
    store: dict[str, Any] = {}
    dedup(store, dedup_key(_article("u:1", _text(24))), now=T0)
    before = json.dumps(store, sort_keys=True)
    assert not forget(store, "u:never-seen")
    assert json.dumps(store, sort_keys=True) == before


class _CountingStore(dict[str, Any]):
    """A dict that counts writes and deletes: what a changelog-backed table would send."""

    writes = 0

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes += 1
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.writes += 1
        super().__delitem__(key)


def _stream(n: int) -> list[CleanArticle]:
    """Unique stories, exact copies and one-sentence edits of earlier ones, mixed."""
    out = []
    for i in range(n):
        if i % 5 == 3:
            out.append(_article(f"copy:{i}", _text(500 + i - 3, 300)))
        elif i % 5 == 4:
            out.append(_article(f"edit:{i}", _text(500 + i - 4, 300) + f" w{i} w{i + 7} w{i + 9}"))
        else:
            out.append(_article(f"u:{i}", _text(500 + i, 300)))
    return out


def test_the_derived_index_store_writes_one_durable_entry_per_article_and_gives_the_same_verdicts() -> None:
    plain: dict[str, Any] = {}
    durable = _CountingStore()
    derived = DerivedIndexStore(durable)
    articles = _stream(60)
    for i, article in enumerate(articles):
        key = dedup_key(article)
        assert dedup(derived, key, now=T0 + i) == dedup(plain, key, now=T0 + i)
    unique_or_near = sum(1 for k in durable if k.startswith("doc:"))
    assert durable.writes == unique_or_near  # its doc, nothing else
    assert not any(k.startswith(("b:", "exp:", "fp:")) for k in durable)


def test_after_a_restore_the_rebuilt_index_finds_the_same_duplicates_and_expires_the_same_articles() -> None:
    durable: dict[str, Any] = {}
    articles = _stream(40)
    live = DerivedIndexStore(durable)
    plain: dict[str, Any] = {}
    for i, article in enumerate(articles[:30]):
        key = dedup_key(article)
        dedup(live, key, now=T0 + i * 30)
        dedup(plain, key, now=T0 + i * 30)
    restored = DerivedIndexStore(dict(durable))  # another worker, after the table's changelog is replayed
    assert restored.rebuild() == sum(1 for k in durable if k.startswith("doc:"))
    assert restored.derived == {k: v for k, v in plain.items() if k.startswith(("b:", "exp:", "fp:"))}
    for i, article in enumerate(articles[30:], start=30):
        key = dedup_key(article)
        assert dedup(restored, key, now=T0 + i * 30) == dedup(plain, key, now=T0 + i * 30)
    later = T0 + 40 * 30 + 7 * DAY - 600
    assert expire(restored, later, retention_s=7 * DAY) == expire(plain, later, retention_s=7 * DAY) > 0


def test_rebuild_drops_index_entries_an_older_version_kept_durable() -> None:
    durable: dict[str, Any] = {}
    dedup(durable, dedup_key(_article("u:1", _text(21))), now=T0)  # the old layout: all of it durable
    store = DerivedIndexStore(durable)
    assert store.rebuild() == 1
    assert set(durable) == {k for k in durable if k.startswith("doc:")}
    assert any(k.startswith("b:") for k in store.derived)
