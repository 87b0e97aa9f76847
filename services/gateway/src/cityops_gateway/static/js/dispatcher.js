// The dispatcher's part of the incident panel: the run card (what the city's response plan asks
// for, what is sent, what is still missing) and the recommended units with distance, ETA and why,
// the top one accepted with one click, any other chosen as an override with a required reason
// (GET /api/incidents/{id}/dispatch-plan, POST /api/incidents/{id}/dispatch; the gateway and
// dispatch both refuse roles other than dispatcher and supervisor).
import { get } from "./api.js";
import { send as sendOrQueue } from "./outbox.js";
import { agencyLabel, label, strip, t } from "./i18n.js";
import { escapeHtml } from "./format.js";
import { state } from "./store.js";

// A capability or run card of the city (rules.yaml) is named by the city's console strings
// (cities/<city>/console/i18n/<lang>.json: "capability.<CODE>", "runcard.<name>").
export function capabilityLabel(code) {
  const text = t(`capability.${code}`);
  return text === `capability.${code}` ? String(code ?? "").replaceAll("_", " ").toLowerCase() : text;
}

function runCardLabel(name) {
  const text = t(`runcard.${name}`);
  return text === `runcard.${name}` ? String(name).replaceAll("_", " ") : text;
}

const km = (m) => `${(Number(m || 0) / 1000).toFixed(1)} ${t("km")}`;
const minutes = (s) => `${Math.max(1, Math.round(Number(s || 0) / 60))} ${t("min")}`;

function renderRunCard(box, card) {
  if (!card?.name) { box.innerHTML = `<h3>${t("runcard.title")}</h3><p class="muted">${t("runcard.none")}</p>`; return; }
  const rows = card.units.map((slot) => {
    const full = slot.missing === 0;
    return `<li data-capability="${escapeHtml(slot.capability)}" data-missing="${slot.missing}">
      <span>${escapeHtml(capabilityLabel(slot.capability))}</span>
      <span>${slot.count - slot.missing}/${slot.count}${slot.assigned.length ? ` · ${escapeHtml(slot.assigned.join(", "))}` : ""}</span>
      <span class="rc-state ${full ? "full" : "missing"}">${full ? `✓ ${t("runcard.full")}` : `⚠ ${t("runcard.missing")} ${slot.missing}`}</span></li>`;
  }).join("");
  const extra = (card.extra || []).map((e) => `<li data-extra="1"><span>${escapeHtml(capabilityLabel(e.capability))}</span>
      <span>${escapeHtml(e.call_sign)}</span><span class="rc-state full">+ ${t("runcard.extra")}</span></li>`).join("");
  box.innerHTML = `<h3 id="run-card-title">${t("runcard.title")}: ${escapeHtml(runCardLabel(card.name))}</h3>
    <p class="muted" id="run-card-summary" data-missing="${card.missing}">${card.missing
      ? `${t("runcard.still_missing")} ${card.missing}` : t("runcard.complete")}</p>
    <ul class="run-card" aria-labelledby="run-card-title">${rows}${extra}</ul>`;
}

// Units the dispatcher may choose instead of the recommendation: every AVAILABLE or RETURNING unit.
function otherUnits(exclude) {
  return [...state.units.values()]
    .filter((u) => ["AVAILABLE", "RETURNING"].includes(strip("unit", u.status)) && !exclude.has(u.id))
    .sort((a, b) => String(a.call_sign).localeCompare(String(b.call_sign)));
}

function renderCandidates(list, candidates) {
  if (!candidates.length) { list.innerHTML = `<li class="muted">${t("detail.no_candidates")}</li>`; return; }
  list.innerHTML = candidates.map((c, i) => `<li data-unit-id="${escapeHtml(c.unit.id)}" data-rank="${i + 1}">
    <span><b>${escapeHtml(c.unit.call_sign || c.unit.id)}</b> · ${escapeHtml(agencyLabel(c.unit))}<br>
    <span class="muted">${km(c.distance_m)} · ${t("eta")} ${minutes(c.eta_seconds)}</span><br>
    <span class="why">${i === 0 ? `★ ${t("dispatch.best")} · ` : ""}${t("dispatch.fits")} ${escapeHtml(capabilityLabel(c.matched_capability))}</span></span>
    ${i === 0
      ? `<button class="btn primary" type="button" data-act="accept">${t("dispatch.accept")}</button>`
      : `<button class="btn" type="button" data-act="override">${t("dispatch.choose")}</button>`}</li>`).join("");
}

let dialog = null;

// The override dialog: which unit instead of which, and the dispatcher's reason (required).
function overrideDialog() {
  if (dialog) return dialog;
  dialog = document.createElement("dialog");
  dialog.id = "override-dialog";
  dialog.className = "override-dialog";
  dialog.setAttribute("aria-labelledby", "override-title");
  document.body.append(dialog);
  return dialog;
}

function askReason(unit, recommended) {
  const box = overrideDialog();
  box.innerHTML = `<form method="dialog" id="override-form">
    <h2 id="override-title">${t("dispatch.override_title")}</h2>
    <p id="override-what">${escapeHtml(unit.call_sign || unit.id)} ${t("dispatch.instead_of")} ${escapeHtml(recommended?.call_sign || "—")}</p>
    <label for="override-reason">${t("dispatch.override_reason")}</label>
    <textarea id="override-reason" maxlength="1000" aria-required="true" rows="3"></textarea>
    <p id="override-error" class="error" role="alert"></p>
    <div class="actions"><button class="btn primary" id="override-confirm" type="submit">${t("dispatch.override_confirm")}</button>
    <button class="btn" id="override-cancel" type="button">${t("dispatch.cancel")}</button></div></form>`;
  return new Promise((resolve) => {
    const done = (value) => { box.close(); resolve(value); };
    box.querySelector("#override-cancel").addEventListener("click", () => done(null));
    box.addEventListener("cancel", () => resolve(null), { once: true });
    box.querySelector("#override-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const reason = box.querySelector("#override-reason").value.trim();
      if (!reason) { box.querySelector("#override-error").textContent = t("dispatch.reason_required"); return; }
      done(reason);
    });
    box.showModal();
    box.querySelector("#override-reason").focus();
  });
}

// Fills the panel's #run-card and #candidates for incident ``id``; ``opts``: toast(message, error),
// isCurrent(id) (the panel still shows it), assigned(id) (refresh the panel after a dispatch).
export async function loadDispatchPlan(id, opts) {
  const list = document.getElementById("candidates");
  const cardBox = document.getElementById("run-card");
  if (!list) return;
  let plan;
  try { plan = await get(`/api/incidents/${id}/dispatch-plan?limit=5`); }
  catch (err) {
    if (opts.isCurrent(id)) list.innerHTML = `<li class="muted">${escapeHtml(err.status === 403 ? t("action.forbidden") : err.message)}</li>`;
    return;
  }
  if (!opts.isCurrent(id)) return;
  if (cardBox) renderRunCard(cardBox, plan.run_card);
  const candidates = plan.candidates || [];
  renderCandidates(list, candidates);
  const top = candidates[0]?.unit;
  const shown = new Set(candidates.map((c) => c.unit.id));
  const others = otherUnits(shown);
  const other = document.createElement("li");
  other.className = "other-unit";
  other.innerHTML = `<label><span>${t("dispatch.other_unit")}</span>
      <select id="dispatch-other">${others.map((u) => `<option value="${escapeHtml(u.id)}">${escapeHtml(u.call_sign || u.id)} · ${escapeHtml(agencyLabel(u))} · ${escapeHtml(label("unit", u.status))}</option>`).join("")}</select></label>
    <button class="btn" type="button" data-act="other"${others.length ? "" : " disabled"}>${t("dispatch.choose")}</button>`;
  list.append(other);

  // Offline, the dispatch waits in the outbox with an idempotency key made now (the gateway answers
  // a replay of that key with the assignment it already made). A recommended unit is sent for the
  // slot it was recommended for (an ALS ambulance filling a BLS slot is that slot, not an extra).
  const send = async (button, unit, reason) => {
    button.disabled = true;
    const slot = candidates.find((c) => c.unit.id === unit.id)?.matched_capability ?? "";
    try {
      const result = await sendOrQueue("POST", `/api/incidents/${id}/dispatch`, {
        unit_id: unit.id, recommended_unit_id: top?.id ?? "", override_reason: reason ?? "", capability: slot });
      opts.toast(result?.queued ? t("offline.queued") : reason ? t("dispatch.overridden") : t("action.done"));
    } catch (err) {
      opts.toast(err.status === 403 ? t("action.forbidden") : err.message, true);
    }
    opts.assigned(id);
  };
  list.onclick = async (e) => {
    const button = e.target.closest("button[data-act]");
    if (!button) return;
    const act = button.dataset.act;
    const unit = act === "other" ? state.units.get(list.querySelector("#dispatch-other").value)
      : candidates.find((c) => c.unit.id === button.closest("li").dataset.unitId)?.unit;
    if (!unit) return;
    if (act === "accept" || !top || unit.id === top.id) { send(button, unit, null); return; }
    const reason = await askReason(unit, top);
    if (reason) send(button, unit, reason);
  };
}

// How an assignment reads on the panel: the override, who made it and why.
export function overrideText(a) {
  if (!a.override_reason) return "";
  return ` · ${t("dispatch.override_by")} ${escapeHtml(a.assigned_by?.subject || "")}: ${escapeHtml(a.override_reason)}`;
}
