"""`make bench`: throughput, duplicate cost, latency and memory of the pipeline (see bench/README.md)."""
