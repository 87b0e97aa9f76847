-- Callers are found by a keyed hash of their phone (HMAC-SHA256 of the national form, key
-- CITYOPS_INCIDENTS_PHONE_HASH_KEY), never by the number: new reports store only the hash and the
-- masked form ("09xx xxx 678"). Rows written before keep their number in reporter_phone until the
-- incidents api hashes them at start-up (report_store.hash_legacy_phones, needs the key) and empties it.
ALTER TABLE reports
    ADD COLUMN reporter_phone_hash text NOT NULL DEFAULT '',
    ADD COLUMN reporter_phone_masked text NOT NULL DEFAULT '';
CREATE INDEX reports_phone_hash ON reports (reporter_phone_hash, received_at DESC)
    WHERE reporter_phone_hash <> '';
