// Times are shown in the city's zone (city.yaml, put into the page by the gateway) whatever the
// screen's own setting.
import { locale } from "./i18n.js";

export const TZ = document.querySelector('meta[name="cityops-city-timezone"]')?.content || "UTC";
const PRIORITY_RANK = { PRIORITY_P1: 1, PRIORITY_P2: 2, PRIORITY_P3: 3, PRIORITY_P4: 4 };

export function priority(incident) { return String(incident.priority || "PRIORITY_P4").replace("PRIORITY_", ""); }
export function rank(incident) { return PRIORITY_RANK[incident.priority] ?? 9; }

// Formatters are costly to build: one per (language, with date), reused for every row.
const formatters = new Map();
export function time(iso, withDate = false) {
  if (!iso) return "—";
  const key = `${locale()}|${withDate}`;
  let f = formatters.get(key);
  if (!f) {
    const opts = { timeZone: TZ, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
    if (withDate) Object.assign(opts, { day: "2-digit", month: "2-digit" });
    f = new Intl.DateTimeFormat(locale(), opts);
    formatters.set(key, f);
  }
  return f.format(new Date(iso));
}

export function duration(ms) {
  const s = Math.floor(Math.abs(ms) / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(sec)}` : `${pad(m)}:${pad(sec)}`;
}

export function escapeHtml(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export const PRIORITY_COLORS = { P1: "#ff3b30", P2: "#ff9500", P3: "#ffd60a", P4: "#4da3ff" };
export const UNIT_COLORS = {
  AVAILABLE: "#34c759", DISPATCHED: "#ffcc00", EN_ROUTE: "#ff9500", ON_SCENE: "#bf5af2",
  RETURNING: "#64d2ff", OUT_OF_SERVICE: "#8e8e93",
};
export const AGENCY_SHORT = {
  POLICE_113: "CA", FIRE_RESCUE_114: "PC", MEDICAL_115: "YT", PUBLIC_WORKS: "CT", UTILITIES: "ĐN",
  ENVIRONMENT: "MT", ADMIN_CENTER: "HC",
};
