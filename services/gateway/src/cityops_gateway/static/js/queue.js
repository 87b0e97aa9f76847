// The incident queue: priority first, then the nearest SLA deadline, with live countdowns.
// Virtualised: however many incidents are open (10,000 on a flood night), only the rows in view
// (plus a few) are in the DOM; the list's height stands for all of them, and the overflow line says
// how many are above and below. The order is recomputed at most once per animation frame.
import { categoryLabel, label, strip, t } from "./i18n.js";
import { duration, escapeHtml, priority, rank, time } from "./format.js";
import { OPEN, state } from "./store.js";
import { get } from "./api.js";
import { fold } from "./search.js";

let onSelect = () => {};
let selectedId = null;
let query = "";
let ward = ""; // a ward code of the city's registry (GET /api/admin-units), "" = every ward
let sorted = [];
let dirty = true;
const fresh = new Set();
const OVERSCAN = 4;
const searchKeys = new Map(); // id -> [version, folded text]

export function initQueue(select) {
  onSelect = select;
  const list = document.getElementById("queue");
  const pick = (event) => {
    const li = event.target.closest("li[data-incident-id]");
    if (li) onSelect(li.dataset.incidentId);
  };
  list.addEventListener("click", pick);
  list.addEventListener("keydown", (e) => { if (e.key === "Enter") pick(e); });
  document.getElementById("queue-viewport").addEventListener("scroll", () => requestAnimationFrame(paintWindow), { passive: true });
  new ResizeObserver(() => paintWindow()).observe(document.getElementById("queue-viewport"));
  const search = document.getElementById("queue-search");
  search?.addEventListener("input", () => { query = fold(search.value.trim()); dirty = true; renderQueue(); });
  initWardFilter();
}

// The ward filter: the city's wards and communes; a choice asks the API for that ward's open
// incidents (`?ward=<code>`, ListIncidents.ward_codes) and keeps the queue to them while events come in.
let wardNames = [];
async function initWardFilter() {
  const select = document.getElementById("queue-ward");
  if (!select) return;
  const units = await get("/api/admin-units").then((r) => r.admin_units ?? []).catch(() => []);
  if (!units.length) return; // a city without a ward registry: no filter
  wardNames = units;
  relabelWards();
  select.hidden = false;
  select.addEventListener("change", () => filterWard(select.value));
}
export function relabelWards() {
  const select = document.getElementById("queue-ward");
  if (!select || !wardNames.length) return;
  const en = !["vi"].includes(document.documentElement.lang);
  select.replaceChildren(new Option(t("queue.ward_all"), ""),
    ...wardNames.map((u) => new Option(en ? u.name_en || u.name : u.name, u.code)));
  select.value = ward;
}

async function filterWard(code) {
  ward = code;
  dirty = true;
  renderQueue();
  if (!code) return;
  let token = "";
  do {
    const page = await get(`/api/incidents?status=${[...OPEN].map((s) => s.replace("STATUS_", "")).join(",")}`
      + `&ward=${encodeURIComponent(code)}&page_size=500${token ? `&page_token=${encodeURIComponent(token)}` : ""}`).catch(() => null);
    if (!page || ward !== code) return;
    for (const i of page.incidents) {
      const known = state.incidents.get(i.id);
      if (!known || Number(known.version) <= Number(i.version)) state.incidents.set(i.id, i);
    }
    token = page.next_page_token || "";
  } while (token);
  renderQueue();
}
export function markFresh(id) { fresh.add(id); setTimeout(() => fresh.delete(id), 2500); }
// Moving the selection touches two rows, not the window: a click must not rebuild ~40 rows (parse,
// style and layout) while 200 events a second are being drawn (the surge test measures the click).
export function setSelected(id) {
  selectedId = id;
  for (const li of document.querySelectorAll("#queue li.selected")) li.classList.remove("selected");
  if (id) document.querySelector(`#queue li[data-incident-id="${CSS.escape(id)}"]`)?.classList.add("selected");
}

function dueMs(incident) { return incident.sla_due_at ? Date.parse(incident.sla_due_at) : Infinity; }

export function searchKey(incident) {
  const known = searchKeys.get(incident.id);
  if (known && known[0] === incident.version) return known[1];
  const text = fold([incident.number, incident.description, incident.location?.address, incident.district,
    incident.subcategory, categoryLabel(incident), label("status", incident.status)].join(" "));
  searchKeys.set(incident.id, [incident.version, text]);
  return text;
}

export function matches(incident, folded) {
  if (!folded) return true;
  const key = searchKey(incident);
  return folded.split(/\s+/).every((word) => key.includes(word));
}

export function sortedIncidents() {
  return [...state.incidents.values()].sort((a, b) => rank(a) - rank(b) || dueMs(a) - dueMs(b)
    || String(a.created_at).localeCompare(String(b.created_at)));
}

// Called once per frame with the changed ids (or null): re-sorts, then paints the rows in view.
export function renderQueue() {
  dirty = true;
  const all = sortedIncidents();
  const inWard = ward ? all.filter((i) => i.ward_code === ward) : all;
  sorted = query ? inWard.filter((i) => matches(i, query)) : inWard;
  if (searchKeys.size > state.incidents.size * 2 + 1000) {
    for (const id of searchKeys.keys()) if (!state.incidents.has(id)) searchKeys.delete(id);
  }
  const total = state.incidents.size;
  document.getElementById("queue-count").textContent = total.toLocaleString("vi-VN");
  document.getElementById("queue-count").dataset.count = String(total);
  document.getElementById("queue-empty").hidden = sorted.length > 0 || state.loading;
  document.getElementById("queue").style.height = `${sorted.length * rowHeight()}px`;
  dirty = false;
  paintWindow();
}

// Read once per viewport size (reading a computed style forces a style pass: not on every click).
let cachedRowHeight = 0;
function rowHeight() {
  if (!cachedRowHeight) {
    cachedRowHeight = parseFloat(getComputedStyle(document.body).getPropertyValue("--q-row")) || 92; // body: wall mode sets it there
  }
  return cachedRowHeight;
}
window.addEventListener("resize", () => { cachedRowHeight = 0; });

function row(incident, index, h) {
  const li = document.createElement("li");
  const p = priority(incident);
  const status = strip("status", incident.status);
  li.className = `prio-${p}${incident.id === selectedId ? " selected" : ""}${fresh.has(incident.id) ? " fresh" : ""}`;
  li.dataset.incidentId = incident.id;
  li.dataset.status = status;
  li.dataset.ward = incident.ward_code || "";
  li.dataset.index = String(index);
  li.style.top = `${index * h}px`;
  li.tabIndex = 0;
  const unit = state.unitByIncident.get(incident.id);
  const place = incident.location?.address || incident.district || "";
  const cat = categoryLabel(incident);
  li.setAttribute("aria-label", `${p} · ${cat} · ${incident.number} · ${label("status", incident.status)}`);
  li.innerHTML = `
    <div class="prio ${p}" aria-hidden="true">${p}</div>
    <div class="q-main">
      <div class="q-title">${escapeHtml(cat)}</div>
      <div class="q-desc">${escapeHtml(incident.description || "")}</div>
      <div class="q-meta">${escapeHtml(incident.number)} · ${escapeHtml(time(incident.created_at))} · ${incident.report_count || 1} ${t("queue.reports")}</div>
      <div class="q-meta">${escapeHtml(place)}${unit ? ` · ▸ ${escapeHtml(unit)}` : ""}</div>
    </div>
    <div class="q-side">
      <span class="status-chip ${status}"><span class="st-shape" aria-hidden="true"></span>${escapeHtml(label("status", incident.status))}</span>
      <span class="countdown" data-due="${escapeHtml(incident.sla_due_at || "")}"></span>
    </div>`;
  return li;
}

function paintWindow() {
  if (dirty) return;
  const viewport = document.getElementById("queue-viewport");
  const list = document.getElementById("queue");
  const h = rowHeight();
  const first = Math.max(0, Math.floor(viewport.scrollTop / h) - OVERSCAN);
  const visible = Math.ceil((viewport.clientHeight || 600) / h);
  const last = Math.min(sorted.length, first + visible + OVERSCAN * 2);
  list.replaceChildren(...sorted.slice(first, last).map((incident, k) => row(incident, first + k, h)));
  const above = Math.floor(viewport.scrollTop / h);
  const below = Math.max(0, sorted.length - above - Math.floor((viewport.clientHeight || 0) / h));
  const overflow = document.getElementById("queue-overflow");
  const parts = [];
  if (query || ward) parts.push(`${sorted.length.toLocaleString("vi-VN")} ${t("queue.matching")}`);
  if (above > 0) parts.push(`↑ ${above.toLocaleString("vi-VN")} ${t("queue.above")}`);
  if (below > 0) parts.push(`↓ ${below.toLocaleString("vi-VN")} ${t("queue.below")}`);
  if (state.loading) parts.push(`${t("queue.loading")} ${state.loaded.toLocaleString("vi-VN")}…`);
  overflow.textContent = parts.join(" · ");
  overflow.dataset.below = String(below);
  overflow.hidden = parts.length === 0;
  tickCountdowns();
}

export function tickCountdowns() {
  const now = Date.now();
  document.querySelectorAll("#queue .countdown[data-due]").forEach((el) => {
    const due = Date.parse(el.dataset.due);
    if (!el.dataset.due || Number.isNaN(due)) { el.textContent = ""; return; }
    const left = due - now;
    el.classList.toggle("breached", left < 0);
    el.classList.toggle("soon", left >= 0 && left < 5 * 60 * 1000);
    el.textContent = left < 0 ? `${t("queue.breached")} ${duration(left)}` : `${t("queue.due")} ${duration(left)}`;
  });
}
