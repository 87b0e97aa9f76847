// The incident panel: facts, the operator's actions (shown only to roles that may use them;
// the services enforce the same rules), recommended units and the audit timeline.
import { get, post, session } from "./api.js";
import { agencyLabel, categoryLabel, engineText, label, strip, t } from "./i18n.js";
import { escapeHtml, priority, time } from "./format.js";
import { incidentUpdated, state } from "./store.js";
import { send } from "./outbox.js";
import { fold } from "./search.js";
import { matches } from "./queue.js";
import { loadDispatchPlan, overrideText } from "./dispatcher.js";

const ROLES = {
  acknowledge: ["operator", "dispatcher", "supervisor", "admin"],
  transition: ["operator", "dispatcher", "supervisor", "admin"],
  assign: ["dispatcher", "supervisor", "admin"],
  note: ["call_taker", "operator", "dispatcher", "supervisor", "admin"],
};
const NEXT = {
  NEW: ["ACKNOWLEDGED", "CANCELLED", "DUPLICATE"],
  ACKNOWLEDGED: ["DISPATCHED", "RESOLVED", "CANCELLED", "DUPLICATE"],
  DISPATCHED: ["ON_SCENE", "RESOLVED", "CANCELLED", "DUPLICATE"],
  ON_SCENE: ["RESOLVED"],
  RESOLVED: ["CLOSED"],
};
// chờ bổ sung hồ sơ: the categories of rules.yaml sla.pausable_categories, the statuses it pauses
// from, and where a paused case may go back to (the statuses of the paused SLA stage, or cancel).
const PAUSABLE = new Set(["ADMINISTRATIVE_PROCEDURE"]);
const PAUSES_FROM = new Set(["ACKNOWLEDGED", "DISPATCHED", "ON_SCENE"]);
const RESUME = { DISPATCH: ["ACKNOWLEDGED", "CANCELLED"], RESOLVE: ["DISPATCHED", "ON_SCENE", "CANCELLED"] };

function nextStatuses(incident, status) {
  if (status === "AWAITING_DOSSIER") return RESUME[String(incident.sla_stage ?? "").replace("SLA_STAGE_", "")] ?? ["CANCELLED"];
  const next = [...(NEXT[status] || [])];
  if (PAUSABLE.has(strip("category", incident.category)) && PAUSES_FROM.has(status)) next.push("AWAITING_DOSSIER");
  return next;
}

let currentId = null;
let onClose = () => {};

export function can(action) {
  const roles = session()?.user?.roles ?? [];
  return roles.some((r) => ROLES[action].includes(r));
}

export function initDetail(close) {
  onClose = close;
  document.getElementById("detail-close").addEventListener("click", closeDetail);
}

export function closeDetail() {
  currentId = null;
  renderedKey = "";
  document.getElementById("detail").hidden = true;
  onClose();
}

export function currentIncidentId() { return currentId; }

export function toast(message, error = false) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = `toast${error ? " error" : ""}`;
  el.hidden = false;
  clearTimeout(el._timer);
  el._timer = setTimeout(() => { el.hidden = true; }, 3000);
}

async function act(promise) {
  try {
    const incident = await promise;
    if (incident?.queued) { toast(t("offline.queued")); return null; }
    if (incident?.id) incidentUpdated(incident);
    toast(t("action.done"));
    return incident;
  } catch (err) {
    toast(err.status === 403 ? t("action.forbidden") : err.message, true);
    return null;
  }
}

export async function openDetail(id) {
  currentId = id;
  renderedKey = "";
  document.getElementById("detail").hidden = false;
  renderDetail();
  const [timeline, assignments] = await Promise.all([
    get(`/api/incidents/${id}/timeline`).catch(() => ({ entries: [] })),
    get(`/api/incidents/${id}/assignments`).catch(() => ({ assignments: [] })),
  ]);
  if (currentId !== id) return;
  renderTimeline(timeline.entries || []);
  renderAssignments(assignments.assignments || []);
  if (can("assign")) loadCandidates(id);
}

let renderedKey = "";

// force: a language change or a new incident; otherwise the drawer is rebuilt only when the
// incident itself changed (a surge repaints every frame; the operator's typing must survive it).
export function renderDetail(force = true) {
  if (!currentId) return;
  const incident = state.incidents.get(currentId);
  const body = document.getElementById("detail-body");
  if (!incident) { closeDetail(); return; }
  const key = `${incident.id}:${incident.version}`;
  if (!force && key === renderedKey) return;
  const refresh = renderedKey !== "";
  renderedKey = key;
  const status = strip("status", incident.status);
  document.getElementById("detail-title").textContent = `${priority(incident)} · ${incident.number}`;
  const facts = [
    ["detail.status", `<span class="status-chip ${status}" id="detail-status" data-status="${status}">${escapeHtml(label("status", incident.status))}</span>`],
    ["detail.category", escapeHtml(categoryLabel(incident)) + (incident.subcategory ? ` · ${escapeHtml(label("sub", incident.subcategory))}` : "")],
    ["detail.address", escapeHtml(incident.location?.address || `${incident.location?.lat}, ${incident.location?.lon}`)],
    ["detail.district", escapeHtml(incident.district || "—")],
    ["detail.agency", escapeHtml(agencyLabel(incident))],
    ["detail.reports", String(incident.report_count || 1)],
    ["detail.created", escapeHtml(time(incident.created_at, true))],
    ["detail.sla", escapeHtml(time(incident.sla_due_at, true))],
    ["detail.description", escapeHtml(incident.description || "")],
  ].map(([k, v]) => `<dt>${t(k)}</dt><dd>${v}</dd>`).join("");
  const next = nextStatuses(incident, status).map((s) => `<option value="${s}">${escapeHtml(label("status", s))}</option>`).join("");
  const actions = [];
  if (status === "NEW" && can("acknowledge")) actions.push(`<button class="btn primary" id="act-ack" type="button">${t("action.acknowledge")}</button>`);
  if (next && can("transition")) {
    actions.push(`<select id="act-status" aria-label="${t("detail.transition")}">${next}</select>
      <input id="act-reason" placeholder="${t("detail.reason")}" aria-label="${t("detail.reason")}" maxlength="1000" style="flex:1;min-width:160px;background:#0f1c2b;color:inherit;border:1px solid #26394f;border-radius:6px;padding:6px">
      <button class="btn" id="act-transition" type="button">${t("detail.apply")}</button>`);
  }
  body.innerHTML = `<dl>${facts}</dl>
    <h3>${t("detail.actions")}</h3><div class="actions">${actions.join("")}</div>
    ${can("note") ? `<h3>${t("detail.note")}</h3><textarea id="act-note" maxlength="4000" placeholder="${t("detail.note_placeholder")}" aria-label="${t("detail.note")}"></textarea>
      <div class="actions"><button class="btn" id="act-note-save" type="button">${t("detail.save_note")}</button></div>` : ""}
    <h3>${t("detail.assignments")}</h3><ul class="candidates" id="assignments"></ul>
    ${can("assign") ? `<section id="run-card" class="run-card-box"></section>
      <h3>${t("detail.recommend")}</h3><ul class="candidates" id="candidates" aria-label="${t("detail.recommend")}"></ul>` : ""}
    <h3>${t("detail.timeline")}</h3><ol class="timeline" id="timeline"></ol>`;
  const version = Number(incident.version) || 0;
  if (refresh) { refreshTimeline(); refreshAssignments(); }
  body.querySelector("#act-ack")?.addEventListener("click", () =>
    act(send("POST", `/api/incidents/${incident.id}/transition`, { to_status: "ACKNOWLEDGED", expected_version: version })).then(refreshTimeline));
  body.querySelector("#act-status")?.addEventListener("change", (e) => showDuplicatePicker(body, incident, e.target.value));
  body.querySelector("#act-transition")?.addEventListener("click", () => {
    const to = body.querySelector("#act-status").value;
    const reason = body.querySelector("#act-reason").value;
    const payload = { to_status: to, reason, expected_version: version };
    if (to === "DUPLICATE") {
      const picked = body.querySelector("#act-duplicate-of")?.dataset.picked;
      if (!picked) { toast(t("duplicate.pick_first"), true); return; }
      payload.duplicate_of = picked;
    }
    act(send("POST", `/api/incidents/${incident.id}/transition`, payload)).then(refreshTimeline);
  });
  body.querySelector("#act-note-save")?.addEventListener("click", () => {
    const text = body.querySelector("#act-note").value.trim();
    if (text) act(send("POST", `/api/incidents/${incident.id}/notes`, { text }, { base: version })).then(refreshTimeline);
  });
}

// DUPLICATE needs the surviving incident: a picker over the open incidents (number, type, place;
// diacritics optional), nearest first, the incident itself excluded.
function showDuplicatePicker(body, incident, status) {
  body.querySelector("#act-duplicate")?.remove();
  if (status !== "DUPLICATE") return;
  const box = document.createElement("div");
  box.id = "act-duplicate";
  box.className = "dup-picker";
  box.innerHTML = `<label><span>${t("duplicate.of")}</span>
      <input id="act-duplicate-search" type="search" placeholder="${t("duplicate.search")}" aria-label="${t("duplicate.search")}"></label>
    <ul id="act-duplicate-of" class="candidates" aria-label="${t("duplicate.of")}"></ul>`;
  body.querySelector(".actions").after(box);
  const list = box.querySelector("#act-duplicate-of");
  const near = (i) => Math.hypot((i.location?.lat ?? 0) - (incident.location?.lat ?? 0), (i.location?.lon ?? 0) - (incident.location?.lon ?? 0));
  const paint = () => {
    const q = fold(box.querySelector("#act-duplicate-search").value.trim());
    const pool = [...state.incidents.values()].filter((i) => i.id !== incident.id && matches(i, q));
    pool.sort((a, b) => near(a) - near(b));
    list.innerHTML = pool.slice(0, 8).map((i) => `<li><button class="btn ghost${list.dataset.picked === i.id ? " picked" : ""}" type="button"
        data-incident-id="${escapeHtml(i.id)}" aria-pressed="${list.dataset.picked === i.id}">
        <b>${escapeHtml(i.number)}</b> · ${escapeHtml(categoryLabel(i))} · ${escapeHtml(i.location?.address || "")}</button></li>`).join("")
      || `<li class="muted">—</li>`;
  };
  box.querySelector("#act-duplicate-search").addEventListener("input", paint);
  list.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-incident-id]");
    if (!b) return;
    list.dataset.picked = b.dataset.incidentId;
    // The service needs a reason for DUPLICATE: the pick writes one the operator may change.
    const reason = body.querySelector("#act-reason");
    const survivor = state.incidents.get(b.dataset.incidentId);
    if (reason && (!reason.value.trim() || reason.dataset.auto)) {
      reason.value = `${t("duplicate.reason")} ${survivor?.number ?? ""}`.trim();
      reason.dataset.auto = "1";
    }
    paint();
  });
  paint();
}

async function refreshAssignments() {
  const id = currentId;
  const data = await get(`/api/incidents/${id}/assignments`).catch(() => ({ assignments: [] }));
  if (currentId === id) renderAssignments(data.assignments || []);
  if (currentId === id && can("assign")) loadCandidates(id);
}

async function refreshTimeline() {
  if (!currentId) return;
  const id = currentId;
  const timeline = await get(`/api/incidents/${id}/timeline`).catch(() => ({ entries: [] }));
  if (currentId === id) renderTimeline(timeline.entries || []);
}

function enumText(value) {
  const v = String(value || "");
  if (v.startsWith("STATUS_")) return label("status", v);
  if (v.startsWith("PRIORITY_")) return v.replace("PRIORITY_", "");
  return engineText(v);
}

function actionText(action) {
  const known = t(`action.${action}`);
  return known === `action.${action}` ? t("action.other") : known;
}

function renderTimeline(entries) {
  const list = document.getElementById("timeline");
  if (!list) return;
  list.innerHTML = entries.slice().reverse().map((e) => `<li data-action="${escapeHtml(e.action)}"><time>${escapeHtml(time(e.at, true))}</time>
    <b>${escapeHtml(actionText(e.action))}</b>
    ${escapeHtml(e.before ? `${enumText(e.before)} → ${enumText(e.after)}` : enumText(e.after))}
    <span class="muted">${escapeHtml(e.actor?.subject || "")}</span>${e.detail ? `<br>${escapeHtml(engineText(e.detail))}` : ""}</li>`).join("");
}

function renderAssignments(assignments) {
  const list = document.getElementById("assignments");
  if (!list) return;
  list.innerHTML = assignments.length ? assignments.map((a) => `<li data-unit-id="${escapeHtml(a.unit_id)}"${a.override_reason ? ' data-override="1"' : ""}><span>${escapeHtml(a.call_sign || a.unit_id)}</span>
    <span class="muted">${escapeHtml(label("assignment", a.status))}${a.auto ? ` · ${t("detail.auto")}` : ""}${overrideText(a)}</span></li>`).join("")
    : `<li class="muted">—</li>`;
}

// The run card and recommendations: dispatcher.js (accept, or override with a reason).
function loadCandidates(id) {
  loadDispatchPlan(id, { toast, isCurrent: (x) => currentId === x, assigned: (x) => { if (currentId === x) openDetail(x); } });
}
