"""Apache Kafka from its Maven jars, started locally: for the tests, `make run` and `wirepipe broker`."""
