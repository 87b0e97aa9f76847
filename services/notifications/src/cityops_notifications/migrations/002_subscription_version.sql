-- A counter bumped (in the same transaction) by every change to subscriptions: the worker keeps the
-- active subscriptions in memory and reloads them when the counter moved, so matching an event
-- needs one tiny read instead of a scan, and never sees a subscription list older than the event.

CREATE TABLE subscription_version (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint NOT NULL
);
INSERT INTO subscription_version (id, version) VALUES (true, 0);

CREATE FUNCTION bump_subscription_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE subscription_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER subscriptions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_subscription_version();
