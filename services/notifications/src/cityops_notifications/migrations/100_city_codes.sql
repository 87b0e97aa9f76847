-- Subscription filters hold the city's codes (cities/<name>/city.yaml): categories "FLOOD" instead
-- of "CATEGORY_FLOOD", agencies "POLICE_113" instead of cityops.common.v1.Agency numbers. The codes
-- of the city that ran before codes existed are those enums' names, so old rows map by name.
UPDATE subscriptions SET categories = ARRAY(SELECT regexp_replace(c, '^CATEGORY_', '') FROM unnest(categories) c);

ALTER TABLE subscriptions ADD COLUMN agency_codes text[] NOT NULL DEFAULT '{}';
UPDATE subscriptions SET agency_codes = ARRAY(
    SELECT CASE a WHEN 1 THEN 'POLICE_113' WHEN 2 THEN 'FIRE_RESCUE_114' WHEN 3 THEN 'MEDICAL_115'
                  WHEN 4 THEN 'PUBLIC_WORKS' WHEN 5 THEN 'UTILITIES' WHEN 6 THEN 'ENVIRONMENT'
                  WHEN 7 THEN 'ADMIN_CENTER' END
    FROM unnest(agencies) a WHERE a BETWEEN 1 AND 7);
ALTER TABLE subscriptions DROP COLUMN agencies;
ALTER TABLE subscriptions RENAME COLUMN agency_codes TO agencies;

-- Languages are the city's (city.yaml `languages`, checked by the service): the table only keeps
-- the shape of a language code.
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_language_check;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_language_check CHECK (language ~ '^[a-z]{2,3}$');
ALTER TABLE subscriptions ALTER COLUMN language DROP DEFAULT;
