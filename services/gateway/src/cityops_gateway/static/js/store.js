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
  milestones: new Map(),  // id -> {created, ack, onScene} (ms), from the loaded picture and the live stream
  loading: false,         // open incidents still being paged in
  loaded: 0,
};

// Surge: hundreds of events a second. Listeners see each change at once through onChange (cheap
// work: P1 announcements), but the screens repaint at most once per animation frame, with the set
// of incident ids that changed since the last frame (null = everything: a fresh load).
const listeners = new Map();
const immediate = [];
const pendingTopics = new Map(); // topic -> Set of changed ids, or null for "everything"
let frameRequested = false;
export function on(topic, fn) { (listeners.get(topic) ?? listeners.set(topic, []).get(topic)).push(fn); }
export function onChange(fn) { immediate.push(fn); }

function flush() {
  frameRequested = false;
  const topics = [...pendingTopics.entries()];
  pendingTopics.clear();
  for (const [topic, ids] of topics) (listeners.get(topic) ?? []).forEach((fn) => fn(ids));
}

function emit(topic, change, id) {
  if (change) immediate.forEach((fn) => fn(topic, change));
  if (!pendingTopics.has(topic)) pendingTopics.set(topic, id === undefined ? null : new Set([id]));
  else if (pendingTopics.get(topic) && id !== undefined) pendingTopics.get(topic).add(id);
  else pendingTopics.set(topic, null);
  if (!frameRequested) {
    frameRequested = true;
    // A hidden tab gets no animation frames: a timer keeps the picture current for when it returns.
    if (document.hidden) setTimeout(flush, 250); else requestAnimationFrame(flush);
  }
}

async function safe(promise, fallback) {
  try { return await promise; } catch (err) { console.warn("load failed", err); return fallback; }
}

const OPEN_QUERY = "/api/incidents?status=NEW,ACKNOWLEDGED,DISPATCHED,ON_SCENE,AWAITING_DOSSIER&page_size=500";
let loadGeneration = 0;
const closedVersions = new Map(); // id -> version at which the stream saw it close

// Every open incident, page by page (never capped): the first page paints at once, the rest
// follows while the operator already works; state.loading says how far it got.
async function loadIncidents(generation) {
  let token = "";
  const seen = new Map();
  const startedAt = Date.now();
  state.loading = true;
  do {
    const page = await safe(get(`${OPEN_QUERY}${token ? `&page_token=${encodeURIComponent(token)}` : ""}`), null);
    if (generation !== loadGeneration) return;
    if (!page) { state.loading = false; emit("incidents", null); return; } // keep the last picture
    for (const i of page.incidents) {
      seen.set(i.id, i);
      const current = state.incidents.get(i.id);
      if (Number(closedVersions.get(i.id)) >= Number(i.version)) continue; // closed live meanwhile
      if (!current || Number(current.version) <= Number(i.version)) state.incidents.set(i.id, i);
      noteMilestones(i);
    }
    token = page.next_page_token || "";
    state.loaded = seen.size;
    emit("incidents", null);
  } while (token);
  // What the stream closed meanwhile is gone from the picture; what it opened stays.
  for (const [id, i] of state.incidents) if (!seen.has(id) && !(i._liveAt >= startedAt)) state.incidents.delete(id);
  state.loading = false;
  emit("incidents", null);
}

let incidentsLoad = null;
let reloadAfter = false;

// A resync during a long load (a surge) does not restart it from page one (it would never end):
// the load in progress finishes, then one more follows.
function reloadIncidents() {
  if (incidentsLoad) { reloadAfter = true; return incidentsLoad; }
  const generation = ++loadGeneration;
  incidentsLoad = loadIncidents(generation).finally(() => {
    incidentsLoad = null;
    if (reloadAfter) { reloadAfter = false; reloadIncidents(); }
  });
  return incidentsLoad;
}

export async function loadAll() {
  const first = reloadIncidents();
  const [units, sensors, alerts] = await Promise.all([
    safe(get("/api/units?page_size=1000"), { units: [] }),
    safe(get("/api/sensors?status=ALERTING,OFFLINE&page_size=1000"), { sensors: [] }),
    safe(get("/api/sensors/alerts?active_only=true&page_size=500"), { alerts: [] }),
  ]);
  state.units = new Map(units.units.map((u) => [u.id, u]));
  state.sensors = new Map(sensors.sensors.map((s) => [s.id, s]));
  state.alerts = new Map(alerts.alerts.filter((a) => a.state === "ALERT_STATE_RAISED").map((a) => [a.alert_id, a]));
  for (const u of state.units.values()) {
    if (u.active_incident_id) state.unitByIncident.set(u.active_incident_id, u.call_sign);
  }
  emit("units", null); emit("sensors", null);
  await first;
}

// The operator KPIs' raw facts: when each incident was reported, acknowledged and reached on scene.
function noteMilestones(incident, eventType) {
  const m = state.milestones.get(incident.id) ?? {};
  if (incident.created_at) m.created = Date.parse(incident.created_at);
  if (incident.acknowledged_at) m.ack = Date.parse(incident.acknowledged_at);
  if (eventType === "IncidentTransitioned" && incident.status === "STATUS_ON_SCENE" && !m.onScene) {
    m.onScene = Date.parse(incident.updated_at || new Date().toISOString());
  }
  state.milestones.set(incident.id, m);
  if (state.milestones.size > 60000) state.milestones.delete(state.milestones.keys().next().value);
}

function upsertIncident(incident, eventType = "") {
  if (!incident?.id) return;
  noteMilestones(incident, eventType);
  const current = state.incidents.get(incident.id);
  if (current && Number(current.version) > Number(incident.version)) return; // an older snapshot arrived late
  if (OPEN.has(incident.status)) state.incidents.set(incident.id, { ...incident, _liveAt: Date.now() });
  else { state.incidents.delete(incident.id); closedVersions.set(incident.id, incident.version); }
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
    upsertIncident(data.incident, event.type);
    emit("incidents", { type: event.type, incident: data.incident, before }, data.incident_id);
  } else if (kind === "dispatch") {
    if (data.unit?.id) upsertUnit(data.unit);
    if (event.type === "UnitAssigned" && data.incident_id) {
      state.unitByIncident.set(data.incident_id, data.unit_assigned?.call_sign || data.unit?.call_sign);
    }
    emit("units", event); emit("incidents", null, data.incident_id || "");
  } else if (kind === "unit") {
    if (event.type === "UnitRemoved") state.units.delete(data.unit_id); else upsertUnit(data.unit);
    emit("units", event);
  } else if (kind === "alert") {
    if (data.state === "ALERT_STATE_RAISED") state.alerts.set(data.alert_id, data);
    else state.alerts.delete(data.alert_id);
    emit("sensors", event);
  }
}

// The live stream's events wait here and are applied in slices of at most INBOX_SLICE_MS, with a
// yield to the browser between slices: a burst of a few hundred events (one network read) is then
// never one long task that a click would queue behind. Order is kept.
const inbox = [];
const INBOX_SLICE_MS = 8;
let draining = false;
const yieldToInput = () => (globalThis.scheduler?.yield ? globalThis.scheduler.yield()
  : new Promise((resolve) => setTimeout(resolve, 0)));

export function receive(kind, raw) {
  inbox.push([kind, raw]);
  // Applied in a task of its own: the network read that brought the events stays short.
  if (!draining) { draining = true; setTimeout(drainInbox, 0); }
}

async function drainInbox() {
  try {
    let head = 0;
    while (head < inbox.length) {
      const until = performance.now() + INBOX_SLICE_MS;
      while (head < inbox.length && performance.now() < until) {
        const [kind, raw] = inbox[head];
        head += 1;
        // One bad event must not stop the others (reported as an uncaught error would be).
        try { applyEvent(kind, JSON.parse(raw)); } catch (err) { globalThis.reportError ? reportError(err) : console.error(err); }
      }
      if (head < inbox.length) await yieldToInput();
      if (head > 1024) { inbox.splice(0, head); head = 0; }
    }
    inbox.length = 0;
  } finally { draining = false; }
}

export function incidentUpdated(incident) {
  upsertIncident(incident);
  emit("incidents", { type: "Local", incident }, incident.id);
}
