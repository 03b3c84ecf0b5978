"""The worker's agents, one per module, each registered on the app by ``register(wiring)``.

    raw (N partitions, key uri)  --ingest-->  <app>.dedup (1 partition)  --dedup-->  <app>.nlp (N, key uri)
        versions table (by uri)                 dedup-index table               stories table
    <app>.nlp  --nlp (spaCy in a child process)-->  enriched, quotes
    any failure at any step  --> deadletter

- ``ingest``: decode, check the version, clean and hash; a finished outcome, or an envelope for dedup
- ``dedup``: the one partition that holds the duplicate index; a duplicate's outcome, or on to nlp
- ``nlp``: entities and quotes in batches, in the NLP process; the outcome and its quote records

Every agent takes its input in batches (``take_events``) and settles them only after the broker has
acknowledged every output sent for them (``Publisher.settling``): a crash re-delivers, never loses.
"""
