// The console's live picture of the city: loaded once over the JSON API, then kept current by SSE.
import { get } from "./api.js";

// AWAITING_DOSSIER (chờ bổ sung hồ sơ) stays in the queue, its clock stopped (no due time: it sorts last).
export const OPEN = new Set(["STATUS_NEW", "STATUS_ACKNOWLEDGED", "STATUS_DISPATCHED", "STATUS_ON_SCENE",
                             "STATUS_AWAITING_DOSSIER"]);

export const state = {
  incidents: new Map(),   // id -> Incident (open ones only)
  units: new Map(),       // id -> Unit
  sensors: new Map(),     // id -> Sensor (alerting or offline)
  alerts: new Map(),      // alert_id -> SensorAlert (raised)
  unitByIncident: new Map(), // incident id -> call signs assigned
};

const listeners = new Map();
export function on(topic, fn) { (listeners.get(topic) ?? listeners.set(topic, []).get(topic)).push(fn); }
function emit(topic, payload) { (listeners.get(topic) ?? []).forEach((fn) => fn(payload)); }

async function safe(promise, fallback) {
  try { return await promise; } catch (err) { console.warn("load failed", err); return fallback; }
}

export async function loadAll() {
  const [inc, units, sensors, alerts] = await Promise.all([
    safe(get("/api/incidents?status=NEW,ACKNOWLEDGED,DISPATCHED,ON_SCENE,AWAITING_DOSSIER&page_size=500"), { incidents: [] }),
    safe(get("/api/units?page_size=1000"), { units: [] }),
    safe(get("/api/sensors?status=ALERTING,OFFLINE&page_size=1000"), { sensors: [] }),
    safe(get("/api/sensors/alerts?active_only=true&page_size=500"), { alerts: [] }),
  ]);
  state.incidents = new Map(inc.incidents.map((i) => [i.id, i]));
  state.units = new Map(units.units.map((u) => [u.id, u]));
  state.sensors = new Map(sensors.sensors.map((s) => [s.id, s]));
  state.alerts = new Map(alerts.alerts.filter((a) => a.state === "ALERT_STATE_RAISED").map((a) => [a.alert_id, a]));
  for (const u of state.units.values()) {
    if (u.active_incident_id) state.unitByIncident.set(u.active_incident_id, u.call_sign);
  }
  emit("incidents", null); emit("units", null); emit("sensors", null);
}

function upsertIncident(incident) {
  if (!incident?.id) return;
  const current = state.incidents.get(incident.id);
  if (current && Number(current.version) > Number(incident.version)) return; // an older snapshot arrived late
  if (OPEN.has(incident.status)) state.incidents.set(incident.id, incident);
  else state.incidents.delete(incident.id);
}

function upsertUnit(unit) {
  if (!unit?.id) return;
  state.units.set(unit.id, unit);
  if (unit.active_incident_id) state.unitByIncident.set(unit.active_incident_id, unit.call_sign);
}

export function applyEvent(kind, event) {
  const data = event.data;
  if (kind === "incident") {
    const before = state.incidents.get(data.incident_id);
    upsertIncident(data.incident);
    emit("incidents", { type: event.type, incident: data.incident, before });
  } else if (kind === "dispatch") {
    if (data.unit?.id) upsertUnit(data.unit);
    if (event.type === "UnitAssigned" && data.incident_id) {
      state.unitByIncident.set(data.incident_id, data.unit_assigned?.call_sign || data.unit?.call_sign);
    }
    emit("units", event); emit("incidents", null);
  } else if (kind === "unit") {
    if (event.type === "UnitRemoved") state.units.delete(data.unit_id); else upsertUnit(data.unit);
    emit("units", event);
  } else if (kind === "alert") {
    if (data.state === "ALERT_STATE_RAISED") state.alerts.set(data.alert_id, data);
    else state.alerts.delete(data.alert_id);
    emit("sensors", event);
  }
}

export function incidentUpdated(incident) {
  upsertIncident(incident);
  emit("incidents", { type: "Local", incident });
}
