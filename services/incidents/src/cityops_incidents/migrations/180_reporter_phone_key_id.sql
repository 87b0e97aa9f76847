-- Which key made reporter_phone_hash: a fingerprint of it (text.phone_key_id, never the key), so that
-- after a rotation (CITYOPS_INCIDENTS_PHONE_HASH_KEY_PREVIOUS) `cityops phone-keys status` can count the
-- reports still findable only with the previous key. Empty: no phone, or a row hashed before this
-- migration (the key is not in the database, so those rows are counted as "unknown key").
ALTER TABLE reports ADD COLUMN reporter_phone_key_id text NOT NULL DEFAULT '';
