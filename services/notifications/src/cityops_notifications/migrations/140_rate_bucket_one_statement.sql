-- The token bucket is spent in ONE statement (deliveries/store.py, take_token): the upsert records
-- whether this message got a token, so the row lock is held for one statement instead of a
-- transaction of four round trips (every delivery to one recipient queued on that lock).
ALTER TABLE rate_buckets ADD COLUMN last_allowed boolean NOT NULL DEFAULT true;
