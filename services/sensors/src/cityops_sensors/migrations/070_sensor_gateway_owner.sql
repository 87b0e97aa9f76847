-- Object-level authorization: a sensor registered by a sensor gateway belongs to that gateway
-- (the token's gateway_id claim). NULL: registered by staff/integration, no gateway may touch it.
ALTER TABLE sensors ADD COLUMN gateway_id text;
