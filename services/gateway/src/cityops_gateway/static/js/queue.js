// The incident queue: priority first, then the nearest SLA deadline, with live countdowns.
import { label, strip, t } from "./i18n.js";
import { duration, escapeHtml, priority, rank, time } from "./format.js";
import { state } from "./store.js";

let onSelect = () => {};
let selectedId = null;
const fresh = new Set();

export function initQueue(select) { onSelect = select; }
export function markFresh(id) { fresh.add(id); setTimeout(() => fresh.delete(id), 2500); }
export function setSelected(id) { selectedId = id; renderQueue(); }

function dueMs(incident) { return incident.sla_due_at ? Date.parse(incident.sla_due_at) : Infinity; }

export function sortedIncidents() {
  return [...state.incidents.values()].sort((a, b) => rank(a) - rank(b) || dueMs(a) - dueMs(b)
    || String(a.created_at).localeCompare(String(b.created_at)));
}

export function renderQueue() {
  const list = document.getElementById("queue");
  const items = sortedIncidents();
  document.getElementById("queue-count").textContent = String(items.length);
  document.getElementById("queue-empty").hidden = items.length > 0;
  list.replaceChildren(...items.map((incident) => {
    const li = document.createElement("li");
    const p = priority(incident);
    const status = strip("status", incident.status);
    li.className = `prio-${p}${incident.id === selectedId ? " selected" : ""}${fresh.has(incident.id) ? " fresh" : ""}`;
    li.dataset.incidentId = incident.id;
    li.dataset.status = status;
    li.tabIndex = 0;
    const unit = state.unitByIncident.get(incident.id);
    const place = incident.location?.address || incident.district || "";
    li.innerHTML = `
      <div class="prio ${p}">${p}</div>
      <div class="q-main">
        <div class="q-title">${escapeHtml(label("category", incident.category))}</div>
        <div class="q-desc">${escapeHtml(incident.description || "")}</div>
        <div class="q-meta">${escapeHtml(incident.number)} · ${escapeHtml(time(incident.created_at))} · ${incident.report_count || 1} ${t("queue.reports")}</div>
        <div class="q-meta">${escapeHtml(place)}${unit ? ` · ▸ ${escapeHtml(unit)}` : ""}</div>
      </div>
      <div class="q-side">
        <span class="status-chip ${status}">${escapeHtml(label("status", incident.status))}</span>
        <span class="countdown" data-due="${escapeHtml(incident.sla_due_at || "")}"></span>
      </div>`;
    li.addEventListener("click", () => onSelect(incident.id));
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") onSelect(incident.id); });
    return li;
  }));
  tickCountdowns();
}

export function tickCountdowns() {
  const now = Date.now();
  document.querySelectorAll(".countdown[data-due]").forEach((el) => {
    const due = Date.parse(el.dataset.due);
    if (!el.dataset.due || Number.isNaN(due)) { el.textContent = ""; return; }
    const left = due - now;
    el.classList.toggle("breached", left < 0);
    el.classList.toggle("soon", left >= 0 && left < 5 * 60 * 1000);
    el.textContent = left < 0 ? `${t("queue.breached")} ${duration(left)}` : `${t("queue.due")} ${duration(left)}`;
  });
}
