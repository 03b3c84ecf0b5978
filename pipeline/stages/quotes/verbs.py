"""The attribution verbs: the packaged lists of speech and report verbs and nouns, and what is a cue.

``load_verbs`` reads ``pipeline/data/speech_verbs.txt`` and ``report_verbs.txt`` once per process into a
``VerbLexicon`` (exported by the package); ``is_cue`` says whether a token is one of its verbs (or a
phrasal one with its particle, or "according to").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from spacy.tokens import Token

_PARTICLE_DEPS = frozenset({"prt", "advmod", "prep"})


@dataclass(frozen=True)
class VerbLexicon:
    """Attribution verbs by lemma: ``speech`` introduce direct quotes; ``report`` also reported speech."""

    speech: frozenset[str]
    report: frozenset[str]
    with_object: frozenset[str]
    with_infinitive: frozenset[str]
    with_preposition: frozenset[str] = frozenset()
    # prepositions a '+prep' verb reports through when the list names others ("responded to X")
    prepositions: dict[str, frozenset[str]] = field(default_factory=dict)
    # nouns of saying and believing, with the prepositions they report through ("questions about X");
    # every one also reports a "that" clause ("the claim that ...")
    nouns: dict[str, frozenset[str]] = field(default_factory=dict)
    # verbs of appearance ("seems to"), or of belief in the passive ("is expected to"): the writer's
    # evaluation of their subject, reported as two pieces, the subject and what is said of it
    evidential: frozenset[str] = frozenset()
    # verbs whose quoted object or complement is the subject's own words ("called it “a disgrace”")
    naming: frozenset[str] = frozenset()
    # verbs that cue a quote only with a particle ("went on", "points out", "shot back")
    phrasal: dict[str, frozenset[str]] = field(default_factory=dict)


def _flag(words: list[str], name: str) -> list[str] | None:
    """The values of ``name`` among a line's flags: ``+prep=to,on`` -> ["to", "on"]; bare ``+prep`` -> []."""
    for word in words[1:]:
        flag, _, values = word.partition("=")
        if flag == name:
            return [v for v in values.split(",") if v]
    return None


@lru_cache(maxsize=1)
def load_verbs() -> VerbLexicon:
    """Read the packaged verb lists once per process."""
    data = resources.files("pipeline").joinpath("data")

    def lines(name: str) -> list[list[str]]:
        text = data.joinpath(name).read_text("utf-8")
        return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]

    speech_lines = lines("speech_verbs.txt")
    speech = frozenset(words[0] for words in speech_lines if len(words) == 1)
    phrasal: dict[str, set[str]] = {}
    for words in speech_lines:
        if len(words) > 1:
            phrasal.setdefault(words[0], set()).update(words[1:])
    all_lines = lines("report_verbs.txt")
    report_lines = [words for words in all_lines if _flag(words, "+noun") is None]
    return VerbLexicon(
        speech=speech,
        report=speech | frozenset(words[0] for words in report_lines),
        with_object=frozenset(words[0] for words in report_lines if "+obj" in words[1:]),
        with_infinitive=frozenset(words[0] for words in report_lines if "+to" in words[1:]),
        with_preposition=frozenset(words[0] for words in report_lines if _flag(words, "+prep") is not None),
        prepositions={words[0]: frozenset(flag) for words in report_lines if (flag := _flag(words, "+prep"))},
        nouns={
            words[0]: frozenset(_flag(words, "+noun") or ())
            for words in all_lines
            if words not in report_lines
        },
        naming=frozenset(words[0] for words in report_lines if "+quote" in words[1:]),
        evidential=frozenset(words[0] for words in report_lines if "+evident" in words[1:]),
        phrasal={verb: frozenset(particles) for verb, particles in phrasal.items()},
    )


def is_cue(tok: Token, verbs: frozenset[str]) -> bool:
    """Whether ``tok`` is a verb of ``verbs`` (a phrasal one with its particle), or "according to"."""
    if tok.lower_ == "according":
        nxt = tok.nbor(1) if tok.i + 1 < len(tok.doc) else None
        return nxt is not None and nxt.lower_ == "to"
    if tok.pos_ not in ("VERB", "AUX"):
        return False
    lemma = tok.lemma_.lower()
    if lemma in verbs:
        return True
    particles = load_verbs().phrasal.get(lemma)
    return particles is not None and any(
        c.lower_ in particles for c in tok.children if c.dep_ in _PARTICLE_DEPS
    )
