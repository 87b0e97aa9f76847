-- Issue 18: subscriptions filter by commune-level unit (phường/xã codes of the city's registry).
-- `districts` stays as the client sent it (deprecated); rows from before this migration are read
-- with their district names expanded to today's units (subscriptions/store.py).
ALTER TABLE subscriptions ADD COLUMN ward_codes text[] NOT NULL DEFAULT '{}';
