// The situation map: the bundled province outline works with no tiles (closed networks);
// a tile layer is added only when the gateway is configured with one.
import { agencyLabel, categoryLabel, getLang, label, strip, t } from "./i18n.js";
import { AGENCY_SHORT, PRIORITY_COLORS, UNIT_COLORS, escapeHtml, priority } from "./format.js";
import { state } from "./store.js";
import { cityMap } from "./city.js";

let map;
const layers = {};
const incidentMarkers = new Map();
const unitMarkers = new Map();
const alertMarkers = new Map();
let districtLabels = [];
let onSelect = () => {};

// Administrative units from whatever GeoJSON layers the city names (cityMap(): /api/city, or the
// bundled outline): a feature of kind "province" (or "city") is drawn as the outline, every other
// feature as a unit with its name (properties.name / name_en) at label_lat/label_lon or its centre.
async function drawAdminUnits(urls, tiled) {
  const outlines = [];
  const units = [];
  for (const url of urls) {
    const geo = await fetch(url).then((r) => r.json()).catch(() => null);
    for (const f of geo?.features ?? []) (["province", "city"].includes(f.properties?.kind) ? outlines : units).push(f);
  }
  L.geoJSON(units, { style: { color: "#3d5a78", weight: 1, fillColor: "#17283a", fillOpacity: tiled ? 0.1 : 0.9 } }).addTo(map);
  L.geoJSON(outlines, { style: { color: "#4fc3f7", weight: 2.5, fill: false } }).addTo(map);
  districtLabels = units.filter((f) => f.properties?.name).map((f) => {
    const p = f.properties;
    const at = p.label_lat != null ? [p.label_lat, p.label_lon] : L.geoJSON(f).getBounds().getCenter();
    const marker = L.marker(at, { opacity: 0, interactive: false, keyboard: false })
      .bindTooltip(wardName(p), { permanent: true, direction: "center", className: "district-label" })
      .addTo(map);
    marker.feature = f;
    return marker;
  });
  const all = L.geoJSON(outlines.length ? outlines : units);
  return all.getLayers().length ? all.getBounds() : null;
}

export async function initMap(config, select) {
  onSelect = select;
  const city = await cityMap();
  map = L.map("map", { zoomControl: true, attributionControl: Boolean(config.tile_url), zoomSnap: 0.25, maxZoom: 19 })
    .setView(city.center, city.zoom);
  // Incidents above units and alerts: a station full of units must never hide a new incident.
  map.createPane("incidents").style.zIndex = 650;
  if (config.tile_url) {
    L.tileLayer(config.tile_url, { attribution: config.tile_attribution || "", maxZoom: 19 }).addTo(map);
  }
  // The marker layers exist before anything is awaited: incidents stream in while the city's
  // unit boundaries are still loading (markers sit in their own panes, above the boundaries).
  layers.units = L.layerGroup().addTo(map);
  layers.alerts = L.layerGroup().addTo(map);
  // Incidents: one by one while few; clustered (leaflet.markercluster, vendored) once the map
  // would be crowded. A P1 is never hidden inside a cluster.
  layers.incidents = L.layerGroup().addTo(map);
  // No cluster animations: an animated split or merge forces a layout and runs CSS transitions
  // on every visible cluster, which at surge scale were the longest tasks after a click (the
  // profile in docs/console.md). Loading in chunks of at most ~16 ms (markercluster checks the
  // clock every 200 markers) so that a batch never holds the main thread for long.
  layers.clusters = L.markerClusterGroup({
    chunkedLoading: true, chunkInterval: 16, chunkDelay: 16, maxClusterRadius: 60, showCoverageOnHover: false,
    spiderfyOnMaxZoom: true, removeOutsideVisibleBounds: true, clusterPane: "incidents", animate: false,
    iconCreateFunction: clusterIcon,
  }).addTo(map);
  const bounds = await drawAdminUnits(city.layers, Boolean(config.tile_url));
  if (bounds) map.fitBounds(bounds, { padding: [4, 4] });
  renderLegend();
  // The wall keeps the whole city in view when the layout changes (P1 banner, window size),
  // until an operator pans the map themselves.
  let userMoved = false;
  map.on("dragstart", () => { userMoved = true; });
  new ResizeObserver(() => {
    map.invalidateSize();
    if (!userMoved && bounds) map.fitBounds(bounds, { padding: [4, 4] });
  }).observe(document.getElementById("map"));
}

// The highest priority inside a cluster, kept per cluster: markercluster raises a cluster's
// `_iconNeedsUpdate` (and its parents') whenever a marker inside it is added, removed, moved or
// refreshed; that flag also forgets the cluster's cached highest priority, so only the clusters on
// the path of a change are looked into again and the others answer from their cache. (Walking every
// child marker of the city-wide clusters once a second was the map's costliest step in a surge.)
if (window.L?.MarkerCluster && !Object.getOwnPropertyDescriptor(L.MarkerCluster.prototype, "_iconNeedsUpdate")) {
  Object.defineProperty(L.MarkerCluster.prototype, "_iconNeedsUpdate", {
    get() { return this._cityopsIconStale ?? true; },
    set(value) { this._cityopsIconStale = value; if (value) this._cityopsWorst = null; },
  });
}

function worstRank(cluster) {
  if (cluster._cityopsWorst != null) return cluster._cityopsWorst;
  let worst = 4;
  for (const m of cluster._markers) worst = Math.min(worst, m.options.rank ?? 4);
  for (const child of cluster._childClusters) {
    if (worst <= 1) break;
    worst = Math.min(worst, worstRank(child));
  }
  cluster._cityopsWorst = worst;
  return worst;
}

const clusterCount = new Intl.NumberFormat("vi-VN");
function clusterIcon(cluster) {
  const n = cluster.getChildCount();
  const worst = worstRank(cluster);
  const size = n < 10 ? 34 : n < 100 ? 42 : n < 1000 ? 50 : 58;
  return L.divIcon({
    html: `<div><span>${clusterCount.format(n)}</span></div>`,
    className: `incident-cluster worst-P${worst}`, iconSize: [size, size],
  });
}

// A ward's label on the map: its short name (without "Phường"/"Xã"), its English name in English.
function wardName(p) {
  return getLang() === "en" ? (p.name_en || p.short_name || p.name) : (p.short_name || p.name);
}

export function relabel() {
  districtLabels.forEach((m) => m.setTooltipContent(wardName(m.feature.properties)));
  renderLegend();
  renderIncidents(); renderUnits(); renderAlerts();
}

function renderLegend() {
  const p = ["P1", "P2", "P3", "P4"].map((k) => `<span><i style="background:${PRIORITY_COLORS[k]}"></i>${k}</span>`).join("");
  const u = ["AVAILABLE", "DISPATCHED", "ON_SCENE"].map((k) =>
    `<span><i class="sq" style="background:${UNIT_COLORS[k]}"></i>${label("unit", k)}</span>`).join("");
  document.getElementById("map-legend").innerHTML = `${p}${u}<span>▲ ${t("map.alert")}</span>`;
}

function incidentTooltip(i) {
  return `<b>${escapeHtml(i.number)}</b> · ${priority(i)} · ${escapeHtml(label("status", i.status))}<br>` +
    `${escapeHtml(categoryLabel(i))}<br>${escapeHtml(i.location?.address || "")}`;
}

const CLUSTER_FROM = 150;   // incidents on the map before markers cluster
const UNCLUSTER_BELOW = 100; // hysteresis: back to single markers
let clustering = false;

function container(marker) {
  return clustering && marker.options.rank !== 1 ? layers.clusters : layers.incidents;
}

function styleMarker(marker, incident) {
  const p = priority(incident);
  const status = strip("status", incident.status);
  marker.options.rank = Number(p.slice(1)) || 4;
  marker.options.status = status;
  marker.setStyle({ fillColor: PRIORITY_COLORS[p] || PRIORITY_COLORS.P4, dashArray: status === "NEW" ? null : "4 3",
                    radius: { P1: 13, P2: 11 }[p] ?? 9 });
  const el = marker.getElement();
  if (el) {
    el.classList.forEach((c) => c.startsWith("st-") && el.classList.remove(c));
    el.classList.add(`st-${status}`);
    el.classList.toggle("p1", p === "P1");
    el.setAttribute("data-status", status);
  }
}

function makeMarker(incident, lat, lon) {
  const marker = L.circleMarker([lat, lon], {
    color: "#fff", weight: 2.5, fillOpacity: 0.95, pane: "incidents", className: `incident-marker incident-${incident.id}`,
  }).on("click", () => onSelect(incident.id));
  // The status class and data attribute are set whenever the marker (re)enters the map.
  marker.on("add", () => styleMarker(marker, state.incidents.get(incident.id) || incident));
  marker.bindTooltip(() => incidentTooltip(state.incidents.get(incident.id) || incident));
  return marker;
}

// The markers follow the picture at most once a second (a surge changes hundreds of incidents a
// second; re-clustering is the costliest thing the console does), and never right after a click:
// the changed ids gather here until then. null: look at all of them.
const MAP_EVERY_MS = 1000;
const QUIET_AFTER_CLICK_MS = 400;
let pendingIds = new Set();
let pendingAll = false;
let mapTimer = null;
let lastMapPaint = 0;
let quietUntil = 0;

export function quiet(ms = QUIET_AFTER_CLICK_MS) { quietUntil = Math.max(quietUntil, performance.now() + ms); }

export function renderIncidents(ids = null) {
  if (!map) return;
  if (ids === null) pendingAll = true; else for (const id of ids) if (id) pendingIds.add(id);
  if (mapTimer) return;
  const now = performance.now();
  // A map of a few incidents (cheap) and the first picture are drawn at once; a crowded one once a second.
  const busy = state.incidents.size >= CLUSTER_FROM;
  const wait = !busy ? 0 : lastMapPaint === 0 ? quietUntil - now : Math.max(lastMapPaint + MAP_EVERY_MS, quietUntil) - now;
  if (wait <= 0) { flushIncidents(); return; }
  mapTimer = setTimeout(() => { mapTimer = null; renderIncidents([]); }, wait);
}

function flushIncidents() {
  if (state.incidents.size >= CLUSTER_FROM && performance.now() < quietUntil) { renderIncidents([]); return; }
  const ids = pendingAll ? null : pendingIds;
  pendingAll = false;
  pendingIds = new Set();
  paintIncidents(ids);
  lastMapPaint = incidentMarkers.size ? performance.now() : 0; // nothing drawn yet: the next draws at once
}

function paintIncidents(ids) {
  const wanted = state.incidents.size >= CLUSTER_FROM ? true : state.incidents.size < UNCLUSTER_BELOW ? false : clustering;
  if (wanted !== clustering) {
    // Switching: every marker moves to its new container in one batch.
    const all = [...incidentMarkers.values()];
    layers.clusters.clearLayers(); layers.incidents.clearLayers();
    clustering = wanted;
    // Crowded: only P1 markers pulse (hundreds of animated SVG paths would repaint every frame).
    document.getElementById("map").classList.toggle("crowded", clustering);
    all.forEach((m) => { m._cityopsIn = container(m); });
    layers.clusters.addLayers(all.filter((m) => m._cityopsIn === layers.clusters));
    all.filter((m) => m._cityopsIn === layers.incidents).forEach((m) => m.addTo(layers.incidents));
  }
  const toCluster = [];
  const fromCluster = [];
  const restyled = [];
  const look = ids === null ? [...new Set([...incidentMarkers.keys(), ...state.incidents.keys()])] : [...ids];
  for (const id of look) {
    const incident = state.incidents.get(id);
    let marker = incidentMarkers.get(id);
    const lat = incident?.location?.lat, lon = incident?.location?.lon;
    if (!incident || lat == null || lon == null) {
      if (marker) {
        if (marker._cityopsIn === layers.clusters) fromCluster.push(marker); else layers.incidents.removeLayer(marker);
        incidentMarkers.delete(id);
      }
      continue;
    }
    if (!marker) { marker = makeMarker(incident, lat, lon); incidentMarkers.set(id, marker); }
    else if (marker._cityopsVersion === incident.version && marker._cityopsIn === container(marker)) continue;
    else {
      // Moving a clustered marker takes it out of every zoom level's grid and puts it back: only
      // when it did move (a note or a status change keeps the place).
      const at = marker.getLatLng();
      if (at.lat !== lat || at.lng !== lon) marker.setLatLng([lat, lon]);
    }
    // Only what changed is restyled: a page of 500 more incidents costs 500, not everything loaded.
    marker._cityopsVersion = incident.version;
    const rankBefore = marker.options.rank;
    styleMarker(marker, incident);
    if (marker._cityopsIn === layers.clusters && rankBefore !== marker.options.rank) restyled.push(marker);
    const target = container(marker);
    if (marker._cityopsIn !== target) {
      if (marker._cityopsIn === layers.clusters) fromCluster.push(marker);
      else if (marker._cityopsIn) layers.incidents.removeLayer(marker);
      if (target === layers.clusters) toCluster.push(marker); else marker.addTo(layers.incidents);
    }
    marker._cityopsIn = target;
  }
  if (fromCluster.length) layers.clusters.removeLayers(fromCluster);
  if (toCluster.length) layers.clusters.addLayers(toCluster);
  if (restyled.length) layers.clusters.refreshClusters(restyled.filter((m) => m._cityopsIn === layers.clusters));
}

export function renderUnits() {
  if (!map) return;
  const seen = new Set();
  for (const unit of state.units.values()) {
    const lat = unit.location?.lat, lon = unit.location?.lon;
    if (!lat && !lon) continue;
    seen.add(unit.id);
    const status = strip("unit", unit.status);
    const agency = strip("agency", unit.agency_code || unit.agency);
    const short = AGENCY_SHORT[agency] || agency.slice(0, 2) || "?"; // a city code without an abbreviation: its first letters
    const html = `<div class="unit-icon" style="background:${UNIT_COLORS[status] || "#888"}">${escapeHtml(short)}</div>`;
    const icon = L.divIcon({ html, className: `unit-marker unit-${unit.id}`, iconSize: [16, 16] });
    let marker = unitMarkers.get(unit.id);
    if (!marker) {
      marker = L.marker([lat, lon], { icon, keyboard: false }).addTo(layers.units);
      unitMarkers.set(unit.id, marker);
    } else {
      marker.setLatLng([lat, lon]); marker.setIcon(icon);
    }
    marker.bindTooltip(`<b>${escapeHtml(unit.call_sign)}</b> · ${escapeHtml(label("unit", unit.status))}<br>${escapeHtml(agencyLabel(unit))}`);
  }
  for (const [id, marker] of unitMarkers) {
    if (!seen.has(id)) { layers.units.removeLayer(marker); unitMarkers.delete(id); }
  }
}

export function renderAlerts() {
  if (!map) return;
  for (const [id, marker] of alertMarkers) {
    if (!state.alerts.has(id)) { layers.alerts.removeLayer(marker); alertMarkers.delete(id); }
  }
  for (const alert of state.alerts.values()) {
    if (!alert.location?.lat) continue;
    const level = strip("level", alert.level);
    const icon = L.divIcon({ html: `<div class="alert-icon ${level}">▲</div>`, className: "alert-marker", iconSize: [22, 22] });
    let marker = alertMarkers.get(alert.alert_id);
    if (!marker) {
      marker = L.marker([alert.location.lat, alert.location.lon], { icon, keyboard: false }).addTo(layers.alerts);
      alertMarkers.set(alert.alert_id, marker);
    } else marker.setIcon(icon);
    marker.bindTooltip(`<b>${escapeHtml(alert.sensor_name || alert.sensor_id)}</b><br>` +
      `${escapeHtml(label("kind", alert.kind))}: ${alert.value} ${escapeHtml(alert.unit || "")} (${escapeHtml(label("level", alert.level))})`);
  }
}

export function focusIncident(incident) {
  if (!map || !incident?.location?.lat) return;
  const marker = incidentMarkers.get(incident.id);
  if (marker && marker._cityopsIn === layers.clusters) layers.clusters.zoomToShowLayer(marker);
  else map.panTo([incident.location.lat, incident.location.lon]);
}

// The call-taker's map click: where the caller is (the intake form's location).
let pickMarker = null;
export function pickFromMap(fn) {
  map?.on("click", (e) => fn(e.latlng.lat, e.latlng.lng));
  document.getElementById("map").classList.add("pickable");
}

export function showPick(lat, lon) {
  if (!map) return;
  if (lat == null) { pickMarker?.remove(); pickMarker = null; return; }
  const icon = L.divIcon({ html: '<div class="pick-icon" aria-hidden="true">✚</div>', className: "pick-marker", iconSize: [26, 26] });
  if (!pickMarker) pickMarker = L.marker([lat, lon], { icon, keyboard: false, interactive: false }).addTo(map);
  else pickMarker.setLatLng([lat, lon]);
  map.panTo([lat, lon]);
}

export function invalidate() { map?.invalidateSize(); }
