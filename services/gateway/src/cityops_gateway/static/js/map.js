// The situation map: the bundled province outline works with no tiles (closed networks);
// a tile layer is added only when the gateway is configured with one.
import { label, strip, t, getLang } from "./i18n.js";
import { AGENCY_SHORT, PRIORITY_COLORS, UNIT_COLORS, escapeHtml, priority } from "./format.js";
import { state } from "./store.js";

let map;
const layers = {};
const incidentMarkers = new Map();
const unitMarkers = new Map();
const alertMarkers = new Map();
let wardLabels = [];
let onSelect = () => {};

export async function initMap(config, select) {
  onSelect = select;
  // The city's profile (GET /api/city): where the map opens and which outline it draws.
  const city = await fetch("/api/city").then((r) => r.json());
  map = L.map("map", { zoomControl: true, attributionControl: Boolean(config.tile_url), zoomSnap: 0.25 })
    .setView(city.map.centre, city.map.zoom);
  // Incidents above units and alerts: a station full of units must never hide a new incident.
  map.createPane("incidents").style.zIndex = 650;
  if (config.tile_url) {
    L.tileLayer(config.tile_url, { attribution: config.tile_attribution || "", maxZoom: 19 }).addTo(map);
  }
  const layer = city.layers.find((l) => l.id === "service_area") || city.layers[0];
  const geo = layer ? await fetch(layer.url).then((r) => r.json()) : { features: [] };
  const districts = geo.features.filter((f) => f.properties.kind === "district");
  const province = geo.features.filter((f) => f.properties.kind === "province");
  L.geoJSON(wards, { style: { color: "#3d5a78", weight: 1, fillColor: "#17283a", fillOpacity: config.tile_url ? 0.1 : 0.9 } }).addTo(map);
  L.geoJSON(province, { style: { color: "#4fc3f7", weight: 2.5, fill: false } }).addTo(map);
  wardLabels = wards.map((f) => {
    const p = f.properties;
    const marker = L.marker([p.label_lat, p.label_lon], { opacity: 0, interactive: false, keyboard: false })
      .bindTooltip(p.short_name, { permanent: true, direction: "center", className: "district-label" })
      .addTo(map);
    marker.feature = f;
    return marker;
  });
  map.fitBounds(L.geoJSON(province).getBounds(), { padding: [4, 4] });
  layers.units = L.layerGroup().addTo(map);
  layers.alerts = L.layerGroup().addTo(map);
  layers.incidents = L.layerGroup().addTo(map);
  renderLegend();
  // The wall keeps the whole province in view when the layout changes (P1 banner, window size),
  // until an operator pans the map themselves.
  const bounds = L.geoJSON(province).getBounds();
  let userMoved = false;
  map.on("dragstart", () => { userMoved = true; });
  new ResizeObserver(() => {
    map.invalidateSize();
    if (!userMoved) map.fitBounds(bounds, { padding: [4, 4] });
  }).observe(document.getElementById("map"));
}

export function relabel() {
  wardLabels.forEach((m) => m.setTooltipContent(getLang() === "vi" ? m.feature.properties.short_name : m.feature.properties.name_en));
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
    `${escapeHtml(label("category", i.category))}<br>${escapeHtml(i.location?.address || "")}`;
}

export function renderIncidents() {
  if (!map) return;
  for (const [id, marker] of incidentMarkers) {
    if (!state.incidents.has(id)) { layers.incidents.removeLayer(marker); incidentMarkers.delete(id); }
  }
  for (const incident of state.incidents.values()) {
    const lat = incident.location?.lat, lon = incident.location?.lon;
    if (lat == null || lon == null) continue;
    const color = PRIORITY_COLORS[priority(incident)] || PRIORITY_COLORS.P4;
    const status = strip("status", incident.status);
    let marker = incidentMarkers.get(incident.id);
    if (!marker) {
      marker = L.circleMarker([lat, lon], {
        radius: { P1: 13, P2: 11 }[priority(incident)] ?? 9, color: "#fff", weight: 2.5, fillColor: color,
        fillOpacity: 0.95, pane: "incidents", className: `incident-marker incident-${incident.id}`,
      }).on("click", () => onSelect(incident.id));
      marker.addTo(layers.incidents);
      incidentMarkers.set(incident.id, marker);
    }
    marker.setLatLng([lat, lon]);
    marker.setStyle({ fillColor: color, dashArray: status === "NEW" ? null : "4 3" });
    const el = marker.getElement();
    if (el) {
      el.classList.forEach((c) => c.startsWith("st-") && el.classList.remove(c));
      el.classList.add(`st-${status}`);
      el.setAttribute("data-status", status);
    }
    marker.bindTooltip(incidentTooltip(incident));
  }
}

export function renderUnits() {
  if (!map) return;
  const seen = new Set();
  for (const unit of state.units.values()) {
    const lat = unit.location?.lat, lon = unit.location?.lon;
    if (!lat && !lon) continue;
    seen.add(unit.id);
    const status = strip("unit", unit.status);
    const agency = strip("agency", unit.agency);
    const html = `<div class="unit-icon" style="background:${UNIT_COLORS[status] || "#888"}">${AGENCY_SHORT[agency] || "?"}</div>`;
    const icon = L.divIcon({ html, className: `unit-marker unit-${unit.id}`, iconSize: [16, 16] });
    let marker = unitMarkers.get(unit.id);
    if (!marker) {
      marker = L.marker([lat, lon], { icon, keyboard: false }).addTo(layers.units);
      unitMarkers.set(unit.id, marker);
    } else {
      marker.setLatLng([lat, lon]); marker.setIcon(icon);
    }
    marker.bindTooltip(`<b>${escapeHtml(unit.call_sign)}</b> · ${escapeHtml(label("unit", unit.status))}<br>${escapeHtml(label("agency", unit.agency))}`);
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
  if (map && incident?.location?.lat) map.panTo([incident.location.lat, incident.location.lon]);
}
