-- Object-level authorization for EIDO: the CAD that created an incident by import (its token's
-- cad_id claim, else its subject). Only that CAD (or a supervisor/admin) may update it by import.
ALTER TABLE eido_imports ADD COLUMN cad text NOT NULL DEFAULT '';
CREATE INDEX eido_imports_incident ON eido_imports (incident_id);
