// The unit board's filters beyond agency and status (tools.js): kind of unit, ward, and available
// or busy; and the shape that goes with each unit status, so a status reads as text and shape as
// well as colour (the wall is read from 4 m). Options come from the units themselves, so a city's
// kinds and wards need no list in the console.
import { label, strip, t } from "./i18n.js";
import { escapeHtml } from "./format.js";
import { state } from "./store.js";
import { unitFilter } from "./tools.js";

export const UNIT_SHAPES = { AVAILABLE: "○", DISPATCHED: "◆", EN_ROUTE: "▶", ON_SCENE: "■", RETURNING: "↩",
                             OUT_OF_SERVICE: "✕" };
const IDLE = new Set(["AVAILABLE", "OUT_OF_SERVICE"]);
export const boardFilter = { kind: "", ward: "", load: "" }; // load: "", "available", "busy"

export function unitShape(status) { return UNIT_SHAPES[strip("unit", status)] ?? "?"; }

// The label of a unit kind (its speed-model type): "enum.unit_type.<TYPE>" of the console strings.
export function kindLabel(type) {
  const key = `enum.unit_type.${type}`;
  const text = t(key);
  return text === key ? String(type ?? "").replaceAll("_", " ").toLowerCase() : text;
}

export function unitMatches(unit) {
  const agency = strip("agency", unit.agency_code || unit.agency) || "UNSPECIFIED";
  const status = strip("unit", unit.status);
  if (unitFilter.agency && agency !== unitFilter.agency) return false;
  if (unitFilter.status && status !== unitFilter.status) return false;
  if (boardFilter.kind && unit.unit_type !== boardFilter.kind) return false;
  if (boardFilter.ward && unit.ward_code !== boardFilter.ward) return false;
  if (boardFilter.load === "available" && status !== "AVAILABLE") return false;
  if (boardFilter.load === "busy" && IDLE.has(status)) return false;
  return true;
}

let filledKey = "";

function options(select, all, entries, current) {
  select.innerHTML = `<option value="">${escapeHtml(all)}</option>` + entries.map(([value, text]) =>
    `<option value="${escapeHtml(value)}"${value === current ? " selected" : ""}>${escapeHtml(text)}</option>`).join("");
}

// (Re)fills the kind, ward and load selects when the units' kinds or wards or the language changed.
export function fillBoardFilters(onChange) {
  const kind = document.getElementById("unit-kind");
  const ward = document.getElementById("unit-ward");
  const load = document.getElementById("unit-load");
  if (!kind || !ward || !load) return;
  const kinds = new Set();
  const wards = new Map();
  for (const u of state.units.values()) {
    if (u.unit_type) kinds.add(u.unit_type);
    if (u.ward_code) wards.set(u.ward_code, u.ward_name || u.ward_code);
  }
  const key = `${t("units.all_kinds")}|${[...kinds].sort()}|${[...wards.keys()].sort()}`;
  if (key === filledKey) return;
  filledKey = key;
  options(kind, t("units.all_kinds"), [...kinds].map((k) => [k, kindLabel(k)]).sort((a, b) => a[1].localeCompare(b[1])),
          boardFilter.kind);
  options(ward, t("units.all_wards"), [...wards].sort((a, b) => a[1].localeCompare(b[1], "vi")), boardFilter.ward);
  options(load, t("units.all_loads"), [["available", t("units.only_available")], ["busy", t("units.only_busy")]],
          boardFilter.load);
  kind.onchange = () => { boardFilter.kind = kind.value; onChange(); };
  ward.onchange = () => { boardFilter.ward = ward.value; onChange(); };
  load.onchange = () => { boardFilter.load = load.value; onChange(); };
}

export function statusText(status) { return `${unitShape(status)} ${label("unit", status)}`; }
