"""Deliveries: one job per (event, subscription), sent with retries, rate limits and a dead-letter path."""
