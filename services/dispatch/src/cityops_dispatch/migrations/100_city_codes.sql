-- Agencies and categories are the city's codes (cities/<name>/city.yaml), no longer protobuf enum
-- numbers, so a city with its own agencies needs no code change. Rows written before this migration
-- hold cityops.common.v1.Agency / cityops.incidents.v1.Category numbers; the codes of the city that
-- ran before codes existed are those enums' names, so the numbers map by name.

DROP TABLE agencies;
CREATE TABLE agencies (
    code text PRIMARY KEY,                  -- the city's agency code, e.g. MEDICAL_115
    names jsonb NOT NULL,                   -- language -> name
    phone text NOT NULL DEFAULT ''
);

ALTER TABLE stations ALTER COLUMN agency TYPE text USING (CASE agency WHEN 1 THEN 'POLICE_113' WHEN 2 THEN 'FIRE_RESCUE_114' WHEN 3 THEN 'MEDICAL_115' WHEN 4 THEN 'PUBLIC_WORKS' WHEN 5 THEN 'UTILITIES' WHEN 6 THEN 'ENVIRONMENT' WHEN 7 THEN 'ADMIN_CENTER' ELSE '' END);
ALTER TABLE units ALTER COLUMN agency TYPE text USING (CASE agency WHEN 1 THEN 'POLICE_113' WHEN 2 THEN 'FIRE_RESCUE_114' WHEN 3 THEN 'MEDICAL_115' WHEN 4 THEN 'PUBLIC_WORKS' WHEN 5 THEN 'UTILITIES' WHEN 6 THEN 'ENVIRONMENT' WHEN 7 THEN 'ADMIN_CENTER' ELSE '' END);
ALTER TABLE incidents_view ALTER COLUMN agency DROP DEFAULT;
ALTER TABLE incidents_view ALTER COLUMN agency TYPE text USING (CASE agency WHEN 1 THEN 'POLICE_113' WHEN 2 THEN 'FIRE_RESCUE_114' WHEN 3 THEN 'MEDICAL_115' WHEN 4 THEN 'PUBLIC_WORKS' WHEN 5 THEN 'UTILITIES' WHEN 6 THEN 'ENVIRONMENT' WHEN 7 THEN 'ADMIN_CENTER' ELSE '' END);
ALTER TABLE incidents_view ALTER COLUMN agency SET DEFAULT '';
ALTER TABLE incidents_view ALTER COLUMN category DROP DEFAULT;
ALTER TABLE incidents_view ALTER COLUMN category TYPE text USING (
    CASE category WHEN 1 THEN 'ADMINISTRATIVE_PROCEDURE' WHEN 2 THEN 'FIELD_REPORT' WHEN 3 THEN 'EMERGENCY_MEDICAL'
                  WHEN 4 THEN 'SECURITY' WHEN 5 THEN 'FIRE' WHEN 6 THEN 'TRAFFIC_ACCIDENT' WHEN 7 THEN 'FLOOD'
                  WHEN 8 THEN 'ENVIRONMENT' WHEN 9 THEN 'UTILITY_OUTAGE' WHEN 10 THEN 'OTHER' ELSE '' END);
ALTER TABLE incidents_view ALTER COLUMN category SET DEFAULT '';
