// The incident queue: priority first, then the nearest SLA deadline, with live countdowns.
// Virtualised: however many incidents are open (10,000 on a flood night), only the rows in view
// (plus a few) are in the DOM; the list's height stands for all of them, and the overflow line says
// how many are above and below. The order is kept incrementally, once per animation frame.
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
const fresh = new Map(); // id -> until when (ms) its row is marked new; one sweep a second, not a timer each
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
const FRESH_MS = 2500;
let freshSweep = null;
export function markFresh(id) {
  fresh.set(id, Date.now() + FRESH_MS);
  freshSweep ??= setInterval(() => {
    const now = Date.now();
    for (const [key, until] of fresh) if (until <= now) fresh.delete(key);
    if (!fresh.size) { clearInterval(freshSweep); freshSweep = null; }
  }, 1000);
}
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

// The order is kept incrementally: a frame with a few changed incidents moves those few (binary
// search, one splice each) instead of re-sorting 14,000 (the sort keys are parsed once per version).
const sortKeys = new Map(); // id -> [version, rank, due ms, created ms]
const placed = new Map();   // id -> the key the incident was placed in `order` with
let order = [];              // ids of every open incident, in queue order

function keyOf(incident) {
  const known = sortKeys.get(incident.id);
  if (known && known[0] === incident.version) return known;
  const created = Date.parse(incident.created_at);
  const key = [incident.version, rank(incident), dueMs(incident), Number.isNaN(created) ? Infinity : created];
  sortKeys.set(incident.id, key);
  return key;
}

function compare(ka, a, kb, b) {
  return ka[1] - kb[1] || (ka[2] === kb[2] ? 0 : ka[2] < kb[2] ? -1 : 1)
    || (ka[3] === kb[3] ? 0 : ka[3] < kb[3] ? -1 : 1) || (a < b ? -1 : a > b ? 1 : 0);
}

// The first index whose entry sorts at or after (key, id).
function lowerBound(key, id) {
  let lo = 0, hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const other = order[mid];
    if (compare(placed.get(other), other, key, id) < 0) lo = mid + 1; else hi = mid;
  }
  return lo;
}

function rebuildOrder() {
  placed.clear();
  const ids = [];
  for (const incident of state.incidents.values()) { placed.set(incident.id, keyOf(incident)); ids.push(incident.id); }
  ids.sort((a, b) => compare(placed.get(a), a, placed.get(b), b));
  order = ids;
}

function moveInOrder(id) {
  const was = placed.get(id);
  if (was) {
    const at = lowerBound(was, id);
    if (order[at] !== id) { rebuildOrder(); return; } // never expected: start the order afresh
    order.splice(at, 1);
    placed.delete(id);
  }
  const incident = state.incidents.get(id);
  if (!incident) { sortKeys.delete(id); searchKeys.delete(id); return; }
  const key = keyOf(incident);
  order.splice(lowerBound(key, id), 0, id);
  placed.set(id, key);
}

export function sortedIncidents() {
  rebuildOrder();
  return order.map((id) => state.incidents.get(id));
}

// Called once per frame with the changed ids (null: everything, e.g. a page of the load, a filter):
// moves the changed ones in the order, then paints the rows in view only if they changed.
export function renderQueue(ids = null) {
  dirty = true;
  if (ids === null || ids.size > 2000 || order.length === 0) { rebuildOrder(); windowKey = ""; }
  else for (const id of ids) if (id) moveInOrder(id);
  if (!ward && !query) sorted = order;
  else sorted = order.filter((id) => { const i = state.incidents.get(id); return (!ward || i.ward_code === ward) && matches(i, query); });
  if (searchKeys.size > state.incidents.size * 2 + 1000) {
    for (const id of searchKeys.keys()) if (!state.incidents.has(id)) searchKeys.delete(id);
  }
  const total = state.incidents.size;
  const count = document.getElementById("queue-count");
  if (count.dataset.count !== String(total)) {
    count.textContent = total.toLocaleString("vi-VN");
    count.dataset.count = String(total);
  }
  const empty = sorted.length > 0 || state.loading;
  if (document.getElementById("queue-empty").hidden !== empty) document.getElementById("queue-empty").hidden = empty;
  const height = `${sorted.length * rowHeight()}px`;
  const list = document.getElementById("queue");
  if (list.style.height !== height) list.style.height = height;
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

// A row whose incident did not change since it was built is kept (moved to its new place, its
// selection mark refreshed) rather than parsed, styled and laid out again.
const rowCache = new Map(); // id -> [key, li]
const shownIds = new Set();
function reuseRow(incident, index, h) {
  const key = `${incident.version}|${fresh.has(incident.id) ? 1 : 0}|${state.unitByIncident.get(incident.id) || ""}|${document.documentElement.lang}|${h}`;
  shownIds.add(incident.id);
  const known = rowCache.get(incident.id);
  if (known && known[0] === key) {
    const li = known[1];
    if (li.dataset.index !== String(index)) { li.dataset.index = String(index); li.style.top = `${index * h}px`; }
    li.classList.toggle("selected", incident.id === selectedId);
    return li;
  }
  const li = row(incident, index, h);
  rowCache.set(incident.id, [key, li]);
  return li;
}

// What the window showed last: the rows are rebuilt only when an incident in view (or the window
// itself) changed, not on every frame of a surge (a click must not queue behind ~40 rows of layout).
let windowKey = "";
let overflowText = null;

function paintWindow() {
  if (dirty) return;
  const viewport = document.getElementById("queue-viewport");
  const list = document.getElementById("queue");
  const h = rowHeight();
  const scrollTop = viewport.scrollTop;
  const height = viewport.clientHeight;
  const first = Math.max(0, Math.floor(scrollTop / h) - OVERSCAN);
  const visible = Math.ceil((height || 600) / h);
  const last = Math.min(sorted.length, first + visible + OVERSCAN * 2);
  const shown = [];
  let key = `${first}|${h}|${document.documentElement.lang}|`;
  for (let k = first; k < last; k += 1) {
    const incident = state.incidents.get(sorted[k]);
    if (!incident) continue;
    shown.push(incident);
    key += `${incident.id}:${incident.version}:${fresh.has(incident.id) ? 1 : 0}:${state.unitByIncident.get(incident.id) || ""},`;
  }
  if (key !== windowKey) {
    windowKey = key;
    list.replaceChildren(...shown.map((incident, k) => reuseRow(incident, first + k, h)));
    for (const id of rowCache.keys()) if (!shownIds.has(id)) rowCache.delete(id);
    shownIds.clear();
    tickCountdowns();
  }
  const above = Math.floor(scrollTop / h);
  const below = Math.max(0, sorted.length - above - Math.floor((height || 0) / h));
  const parts = [];
  if (query || ward) parts.push(`${sorted.length.toLocaleString("vi-VN")} ${t("queue.matching")}`);
  if (above > 0) parts.push(`↑ ${above.toLocaleString("vi-VN")} ${t("queue.above")}`);
  if (below > 0) parts.push(`↓ ${below.toLocaleString("vi-VN")} ${t("queue.below")}`);
  if (state.loading) parts.push(`${t("queue.loading")} ${state.loaded.toLocaleString("vi-VN")}…`);
  const text = parts.join(" · ");
  if (text !== overflowText) {
    overflowText = text;
    const overflow = document.getElementById("queue-overflow");
    overflow.textContent = text;
    overflow.dataset.below = String(below);
    overflow.hidden = parts.length === 0;
  }
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
