"""The Faust shell: the app (topics, tables, agents), the consumer that commits only settled offsets,
client and topic configuration, metrics, and dead-letter replay."""
