// Supervisor and dispatcher tools: CAP public warnings (draft → a second supervisor approves →
// published; update and cancel are new messages needing approval), the SLA board (overdue now,
// due soon, escalated), and the unit board's filters.
import { get, session } from "./api.js";
import { AGENCIES, categoryLabel, label, strip, t } from "./i18n.js";
import { duration, escapeHtml, priority } from "./format.js";
import { state } from "./store.js";
import { send } from "./outbox.js";

const $ = (id) => document.getElementById(id);
let toast = () => {};
let onSelect = () => {};

function roles() { return session()?.user?.roles ?? []; }
const isSupervisor = () => roles().some((r) => ["supervisor", "admin"].includes(r));

function openDrawer(id) {
  for (const d of document.querySelectorAll(".tool-drawer")) d.hidden = d.id !== id;
}

// ---- CAP -------------------------------------------------------------------------------------
function alertForm(prefix, alert) {
  const vi = alert?.infos?.find((i) => i.language === "vi-VN") ?? {};
  const en = alert?.infos?.find((i) => i.language === "en-US") ?? {};
  const field = (name, key, value, long = false) => `<label><span>${t(key)}</span>${long
    ? `<textarea id="${prefix}-${name}" rows="2" maxlength="4000">${escapeHtml(value || "")}</textarea>`
    : `<input id="${prefix}-${name}" maxlength="300" value="${escapeHtml(value || "")}">`}</label>`;
  const sev = strip("severity", vi.severity || "SEVERITY_SEVERE").replace("SEVERITY_", "");
  return `${field("headline", "cap.headline", vi.headline)}${field("headline_en", "cap.headline_en", en.headline)}
    ${field("description", "cap.description", vi.description, true)}${field("instruction", "cap.instruction", vi.instruction, true)}
    ${field("area", "cap.area", vi.area?.area_desc)}
    <label><span>${t("cap.radius")}</span><input id="${prefix}-radius" type="number" min="0.1" max="100" step="0.1"
      value="${vi.area?.circle?.radius_m ? vi.area.circle.radius_m / 1000 : 2}"></label>
    <label><span>${t("cap.severity")}</span><select id="${prefix}-severity">${["EXTREME", "SEVERE", "MODERATE", "MINOR"]
      .map((s) => `<option value="${s}"${s === sev ? " selected" : ""}>${escapeHtml(t(`cap.sev.${s}`))}</option>`).join("")}</select></label>`;
}

function formBody(prefix) {
  return {
    headline: $(`${prefix}-headline`).value.trim(), headline_en: $(`${prefix}-headline_en`).value.trim(),
    description: $(`${prefix}-description`).value.trim(), instruction: $(`${prefix}-instruction`).value.trim(),
    area_desc: $(`${prefix}-area`).value.trim(), severity: $(`${prefix}-severity`).value,
    radius_km: Number($(`${prefix}-radius`).value) || 2,
    event: $(`${prefix}-headline`).value.trim(),
  };
}

async function capAction(promise, message) {
  try {
    const result = await promise;
    if (result?.queued) toast(t("offline.queued")); else toast(message);
  } catch (err) {
    toast(err.status === 409 ? `${t("cap.refused")}: ${err.message}` : err.message, true);
  }
  loadAlerts();
}

export async function loadAlerts() {
  const list = $("cap-list");
  if (!list || $("cap-drawer").hidden) return;
  let data;
  try { data = await get("/api/alerts"); } catch (err) { list.innerHTML = `<li class="muted">${escapeHtml(err.message)}</li>`; return; }
  const me = session()?.user?.username;
  list.innerHTML = (data.alerts || []).map((a) => {
    const st = String(a.state).replace("CAP_ALERT_STATE_", "");
    const type = String(a.msg_type).replace("MSG_TYPE_", "");
    const vi = a.infos?.find((i) => i.language === "vi-VN") ?? a.infos?.[0] ?? {};
    const buttons = [];
    if (st === "DRAFT" && a.author !== me) buttons.push(`<button class="btn primary" type="button" data-cap="approve">${t("cap.approve")}</button>`);
    if (st === "DRAFT" && a.author === me) buttons.push(`<span class="muted">${t("cap.needs_second")}</span>`);
    if (["DRAFT", "PUBLISHED"].includes(st)) {
      buttons.push(`<button class="btn" type="button" data-cap="edit">${t("cap.update")}</button>`);
      buttons.push(`<button class="btn danger" type="button" data-cap="cancel">${t("cap.cancel")}</button>`);
    }
    return `<li data-alert-id="${escapeHtml(a.id)}" data-state="${st}" data-type="${type}">
      <span><b>${escapeHtml(vi.headline || "")}</b> · <span class="status-chip">${escapeHtml(t(`cap.state.${st}`))}</span>
        · ${escapeHtml(t(`cap.type.${type}`))}<br>
        <span class="muted">${escapeHtml(vi.area?.area_desc || "")} · ${t("cap.author")}: ${escapeHtml(a.author || "")}${a.approver ? ` · ${t("cap.approver")}: ${escapeHtml(a.approver)}` : ""}</span></span>
      <span class="actions">${buttons.join("")}</span></li>`;
  }).join("") || `<li class="muted">${t("cap.none")}</li>`;
  list.querySelectorAll("button[data-cap]").forEach((b) => b.addEventListener("click", () => {
    const li = b.closest("li");
    const id = li.dataset.alertId;
    const alert = data.alerts.find((a) => a.id === id);
    if (b.dataset.cap === "approve") capAction(send("POST", `/api/alerts/${id}/approve`, {}), t("cap.published"));
    if (b.dataset.cap === "cancel") {
      const reason = li.querySelector(".cap-reason")?.value?.trim();
      if (!reason) {
        li.querySelector(".actions").insertAdjacentHTML("afterbegin",
          `<input class="cap-reason" aria-label="${t("cap.reason")}" placeholder="${t("cap.reason")}">`);
        li.querySelector(".cap-reason").focus();
        return;
      }
      capAction(send("POST", `/api/alerts/${id}/cancel`, { reason }), t("cap.cancel_sent"));
    }
    if (b.dataset.cap === "edit") {
      li.insertAdjacentHTML("beforeend", `<form class="cap-form cap-edit">${alertForm(`cap-u-${id.slice(0, 8)}`, alert)}
        <button class="btn primary" type="submit">${t("cap.send_update")}</button></form>`);
      li.querySelector(".cap-edit").addEventListener("submit", (e) => {
        e.preventDefault();
        capAction(send("POST", `/api/alerts/${id}/update`, formBody(`cap-u-${id.slice(0, 8)}`)), t("cap.update_sent"));
      });
    }
  }));
}

// ---- SLA board -------------------------------------------------------------------------------
export function renderSla() {
  const box = $("sla-list");
  if (!box || $("sla-drawer").hidden) return;
  const now = Date.now();
  const rows = [];
  for (const i of state.incidents.values()) {
    const due = i.sla_due_at ? Date.parse(i.sla_due_at) : NaN;
    const left = due - now;
    const escalated = Number(i.escalation_level || 0) > 0;
    if (!(left < 15 * 60 * 1000) && !escalated) continue;
    rows.push({ i, left: Number.isNaN(left) ? Infinity : left, escalated });
  }
  rows.sort((a, b) => a.left - b.left);
  const overdue = rows.filter((r) => r.left < 0).length;
  $("sla-summary").textContent = `${overdue.toLocaleString("vi-VN")} ${t("sla.overdue")} · ` +
    `${rows.filter((r) => r.left >= 0 && r.left < Infinity).length.toLocaleString("vi-VN")} ${t("sla.soon")} · ` +
    `${rows.filter((r) => r.escalated).length.toLocaleString("vi-VN")} ${t("sla.escalated")}`;
  box.innerHTML = rows.slice(0, 200).map(({ i, left, escalated }) => `<li data-incident-id="${escapeHtml(i.id)}"
      data-sla="${left < 0 ? "overdue" : left < Infinity ? "soon" : "escalated"}">
    <button class="btn ghost" type="button">${priority(i)} · ${escapeHtml(i.number)} · ${escapeHtml(categoryLabel(i))}</button>
    <span class="${left < 0 ? "breached" : "soon"}">${left === Infinity ? "" : left < 0 ? `${t("queue.breached")} ${duration(left)}` : `${t("queue.due")} ${duration(left)}`}
      ${escalated ? ` · ⬆ ${t("sla.escalated_one")} ${i.escalation_level}` : ""}</span></li>`).join("")
    || `<li class="muted">${t("sla.none")}</li>`;
}

// ---- unit board filters ----------------------------------------------------------------------
export const unitFilter = { agency: "", status: "" };

function fillUnitFilters(onChange) {
  const agencies = AGENCIES; // the city's agency codes (GET /api/city)
  const statuses = ["AVAILABLE", "DISPATCHED", "EN_ROUTE", "ON_SCENE", "RETURNING", "OUT_OF_SERVICE"];
  $("unit-agency").innerHTML = `<option value="">${t("units.all_agencies")}</option>` +
    agencies.map((a) => `<option value="${a}"${unitFilter.agency === a ? " selected" : ""}>${escapeHtml(label("agency", a))}</option>`).join("");
  $("unit-status").innerHTML = `<option value="">${t("units.all_statuses")}</option>` +
    statuses.map((s) => `<option value="${s}"${unitFilter.status === s ? " selected" : ""}>${escapeHtml(label("unit", s))}</option>`).join("");
  $("unit-agency").onchange = () => { unitFilter.agency = $("unit-agency").value; onChange(); };
  $("unit-status").onchange = () => { unitFilter.status = $("unit-status").value; onChange(); };
}

export function initTools(options) {
  toast = options.toast;
  onSelect = options.select;
  fillUnitFilters(options.unitsChanged);
  if (isSupervisor()) {
    $("open-cap").hidden = false;
    $("open-sla").hidden = false;
  }
  $("open-cap").addEventListener("click", () => { openDrawer("cap-drawer"); $("cap-new").innerHTML = alertForm("cap-n");
    loadAlerts(); });
  $("open-sla").addEventListener("click", () => { openDrawer("sla-drawer"); renderSla(); });
  for (const b of document.querySelectorAll(".tool-drawer .close")) b.addEventListener("click", () => openDrawer(""));
  $("cap-form").addEventListener("submit", (e) => {
    e.preventDefault();
    capAction(send("POST", "/api/alerts", formBody("cap-n")), t("cap.drafted"));
  });
  $("sla-list").addEventListener("click", (e) => {
    const li = e.target.closest("li[data-incident-id]");
    if (li) onSelect(li.dataset.incidentId);
  });
}

export function relabelTools(unitsChanged) {
  fillUnitFilters(unitsChanged);
  loadAlerts();
  renderSla();
}
