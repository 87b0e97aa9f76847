"""Postgres: pool, numbered SQL migrations, the transactional outbox and its relay."""
