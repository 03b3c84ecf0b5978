"""``track``: the stateful step, state in and (state, value) out. The caller keeps the snapshot per uri."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.stages.changes.compare import compute_changes
from pipeline.stages.changes.quotes import quote_fates, quote_retractions
from pipeline.stages.changes.snapshot import QuoteRetraction, StorySnapshot, quote_key, snapshot_of
from schemas.records import EnrichedArticle, QuoteStatus

_TRACKED = ("enriched", "update")


@dataclass(frozen=True)
class StoryUpdate:
    """What publishing one version of a story takes and leaves."""

    record: EnrichedArticle  # with ``changes`` on an update whose previous version is known
    snapshot: StorySnapshot  # to keep for the uri in place of the previous one
    quote_status: list[QuoteStatus]  # the ``status`` of each quote record of ``record``, in order
    retractions: list[QuoteRetraction]  # quote records to retract first, for the previous version's quotes


def track(previous: StorySnapshot | None, record: EnrichedArticle, now: float) -> StoryUpdate:
    """Compare a published version (outcome ``enriched`` or ``update``) with the story's last one.

    - no previous version (or an older snapshot of another story): no changes, every quote "added";
    - a previous, lower version: changes (on an ``update``), quote statuses and retractions computed;
    - the same version again (a re-delivery): what was published the first time, so the outcome is identical;
    - a higher version already kept (an old version arriving late): no changes, and the kept snapshot stays;
    - after the story was withdrawn (``previous.withdrawn``): its last version delivered again gets what it
      was first published with and the story stays withdrawn; any other version starts afresh.
    """
    if record.outcome not in _TRACKED:
        raise ValueError(f"only enriched and update outcomes are tracked, not {record.outcome!r}")
    keys = [quote_key(q, record.id) for q in record.quotes]
    if previous is not None and previous.uri != record.id:
        previous = None
    if previous is not None and previous.withdrawn and previous.version != record.version:
        previous = None  # its quotes were retracted with the story: nothing to compare with or retract
    if previous is not None and previous.version == record.version:
        status: list[QuoteStatus] = list(previous.quote_status)
        if len(status) != len(keys):
            status = ["added"] * len(keys)
        changes = previous.changes if record.outcome == "update" else None
        record = record.model_copy(update={"changes": changes})
        snapshot = (
            previous
            if previous.withdrawn
            else snapshot_of(record, keys, now, quote_status=status, retractions=previous.retractions)
        )
        return StoryUpdate(record, snapshot, status, list(previous.retractions))
    if previous is not None and previous.version > record.version:
        return StoryUpdate(record, previous, ["added"] * len(keys), [])
    changes = (
        compute_changes(previous, record) if previous is not None and record.outcome == "update" else None
    )
    record = record.model_copy(update={"changes": changes})
    status = quote_fates(previous, record).current
    retractions = quote_retractions(previous, record) if previous is not None else []
    return StoryUpdate(
        record,
        snapshot_of(record, keys, now, quote_status=status, retractions=retractions),
        status,
        retractions,
    )
