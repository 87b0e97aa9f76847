"""Kafka: topic catalog, client configuration, producer, headers, dead letters."""
