// The unit board (by agency and status) and the sensor panel (alerting and offline).
import { label, strip, t } from "./i18n.js";
import { UNIT_COLORS, escapeHtml } from "./format.js";
import { state } from "./store.js";
import { UNIT_SHAPES, fillBoardFilters, statusText, unitMatches, unitShape } from "./unitboard.js";

const STATUS_ORDER = ["DISPATCHED", "EN_ROUTE", "ON_SCENE", "RETURNING", "AVAILABLE", "OUT_OF_SERVICE"];

const AGENCY_ORDER = ["FIRE_RESCUE_114", "MEDICAL_115", "POLICE_113", "PUBLIC_WORKS", "UTILITIES", "ENVIRONMENT",
                      "ADMIN_CENTER", "UNSPECIFIED"];

// Busy units get a row each (what they are doing matters); available ones a compact chip.
export function renderUnits() {
  const box = document.getElementById("units");
  fillBoardFilters(renderUnits);
  const byAgency = new Map();
  let shown = 0;
  for (const unit of state.units.values()) {
    const agency = strip("agency", unit.agency_code || unit.agency) || "UNSPECIFIED";
    if (!unitMatches(unit)) continue;
    shown += 1;
    (byAgency.get(agency) ?? byAgency.set(agency, []).get(agency)).push(unit);
  }
  const units = [...state.units.values()];
  const available = units.filter((u) => u.status === "UNIT_STATUS_AVAILABLE").length;
  box.dataset.shown = String(shown);
  document.getElementById("units-summary").textContent =
    `${units.length} ${t("units.total")} · ${available} ${t("units.available")}` +
    (shown !== units.length ? ` · ${shown} ${t("units.shown")}` : "");
  if (units.length && !shown) { box.innerHTML = `<p class="empty">${t("units.none_match")}</p>`; return; }
  if (!units.length) { box.innerHTML = `<p class="empty">${t("units.none")}</p>`; return; }
  const agencies = [...byAgency.keys()].sort((a, b) => AGENCY_ORDER.indexOf(a) - AGENCY_ORDER.indexOf(b));
  box.replaceChildren(...agencies.map((agency) => {
    const list = byAgency.get(agency);
    list.sort((a, b) => STATUS_ORDER.indexOf(strip("unit", a.status)) - STATUS_ORDER.indexOf(strip("unit", b.status))
      || String(a.call_sign).localeCompare(String(b.call_sign)));
    const counts = {};
    list.forEach((u) => { const s = strip("unit", u.status); counts[s] = (counts[s] || 0) + 1; });
    const div = document.createElement("div");
    div.className = "agency";
    div.dataset.agency = agency;
    const chips = STATUS_ORDER.filter((s) => counts[s]).map((s) =>
      `<span class="u-status" style="background:${UNIT_COLORS[s]};color:#0b1420;border-radius:10px;padding:0 7px" title="${escapeHtml(label("unit", s))}">${unitShape(s)} ${counts[s]}</span>`).join("");
    const busy = list.filter((u) => !["AVAILABLE", "OUT_OF_SERVICE"].includes(strip("unit", u.status)));
    const idle = list.filter((u) => !busy.includes(u));
    const rows = busy.map((u) => {
      const s = strip("unit", u.status);
      const incident = u.active_incident_id ? state.incidents.get(u.active_incident_id) : null;
      const inc = incident ? incident.number : (u.active_incident_id ? u.active_incident_id.slice(0, 8) : "");
      return `<div class="unit-row" data-unit-id="${escapeHtml(u.id)}" data-status="${s}">
        <span>${escapeHtml(u.call_sign || u.id)} <span class="u-inc">${escapeHtml(inc)}</span></span>
        <span class="u-status" style="background:${UNIT_COLORS[s] || "#888"}">${escapeHtml(statusText(u.status))}</span></div>`;
    }).join("");
    const idleChips = idle.map((u) => {
      const s = strip("unit", u.status);
      return `<span class="unit-chip ${s}" data-unit-id="${escapeHtml(u.id)}" data-status="${s}"
        title="${escapeHtml(`${label("unit", u.status)} · ${u.station || ""}`)}"><span class="u-shape" aria-hidden="true">${unitShape(s)}</span> ${escapeHtml(u.call_sign || u.id)}</span>`;
    }).join("");
    div.innerHTML = `<div class="agency-head"><span>${escapeHtml(label("agency", agency))}</span><span class="agency-counts">${chips}</span></div>
      ${rows}${idleChips ? `<div class="unit-chips">${idleChips}</div>` : ""}`;
    return div;
  }));
  // What each shape means, in words (status by text and shape as well as colour).
  const legend = document.createElement("p");
  legend.className = "unit-legend";
  legend.textContent = Object.keys(UNIT_SHAPES).map((st) => `${UNIT_SHAPES[st]} ${label("unit", st)}`).join("  ");
  box.prepend(legend);
}

export function renderSensors() {
  const list = document.getElementById("sensors");
  const rows = [];
  const alerting = new Set();
  for (const alert of state.alerts.values()) {
    alerting.add(alert.sensor_id);
    const level = strip("level", alert.level);
    rows.push({ order: level === "CRITICAL" ? 0 : 1, html: `<li data-sensor-id="${escapeHtml(alert.sensor_id)}">
      <span class="sev ${level}">▲</span>
      <span>${escapeHtml(alert.sensor_name || alert.sensor_id)}<br><span class="muted">${escapeHtml(label("kind", alert.kind))} · ${escapeHtml(alert.district || "")}</span></span>
      <span class="sev ${level}">${Number(alert.value).toLocaleString()} ${escapeHtml(alert.unit || "")}</span></li>` });
  }
  let offline = 0;
  for (const sensor of state.sensors.values()) {
    const status = strip("status", String(sensor.status).replace("SENSOR_STATUS_", "STATUS_"));
    if (status === "OFFLINE") offline += 1;
    if (alerting.has(sensor.id) || status !== "OFFLINE") continue;
    rows.push({ order: 2, html: `<li data-sensor-id="${escapeHtml(sensor.id)}"><span class="sev OFFLINE">⦸</span>
      <span>${escapeHtml(sensor.name || sensor.id)}<br><span class="muted">${escapeHtml(label("kind", sensor.kind))} · ${escapeHtml(sensor.district || "")}</span></span>
      <span class="sev OFFLINE">${escapeHtml(label("level", "OFFLINE"))}</span></li>` });
  }
  document.getElementById("sensors-summary").textContent =
    `${state.alerts.size} ${t("sensors.alerting")} · ${offline} ${t("sensors.offline")}`;
  rows.sort((a, b) => a.order - b.order);
  list.innerHTML = rows.length ? rows.map((r) => r.html).join("") : `<li class="muted"><span></span>${t("sensors.none")}<span></span></li>`;
}
