// The call-taker's intake: category and subcategory, description, caller phone, location by
// gazetteer search or a click on the map. While the call is open it shows the open incidents near
// the point (ranked by the gateway: distance, time, category, text) and the caller's earlier reports
// (looked up by a hash of the phone, shown masked); one click attaches the call to an incident.
// Every call carries one idempotency key from its first keystroke: a retry never files it twice.
import { get } from "./api.js";
import { CATEGORIES, SUBCATEGORIES, categoryLabel, label, t } from "./i18n.js";
import { duration, escapeHtml, priority } from "./format.js";
import { incidentUpdated } from "./store.js";
import { send } from "./outbox.js";

let where = null;        // {lat, lon, address}
let key = newKey();
let onPick = () => {};
let nearbyTimer = null;
let historyTimer = null;
let showPick = () => {};

export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `call-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

const $ = (id) => document.getElementById(id);

function fillCategories() {
  const cat = $("in-category");
  const current = cat.value;
  cat.innerHTML = CATEGORIES.map((c) => `<option value="${c}">${escapeHtml(label("category", c))}</option>`).join("");
  if (current) cat.value = current;
  fillSubcategories();
}

function fillSubcategories() {
  const sub = $("in-sub");
  const current = sub.value;
  const codes = SUBCATEGORIES[$("in-category").value] ?? [];
  sub.innerHTML = `<option value="">${escapeHtml(t("intake.sub_none"))}</option>` +
    codes.map((c) => `<option value="${c}">${escapeHtml(label("sub", c))}</option>`).join("");
  if (codes.includes(current)) sub.value = current;
}

export function setLocation(lat, lon, address) {
  where = { lat, lon, address: address ?? where?.address ?? "" };
  $("in-where").textContent = `${t("intake.where")}: ${where.address || t("intake.picked")} (${lat.toFixed(5)}, ${lon.toFixed(5)})`;
  $("in-where").dataset.set = "1";
  showPick(lat, lon);
  scheduleNearby();
}

function scheduleNearby() {
  clearTimeout(nearbyTimer);
  nearbyTimer = setTimeout(loadNearby, 300);
}

async function loadNearby() {
  const list = $("in-nearby");
  if (!where) { list.innerHTML = ""; return; }
  const params = new URLSearchParams({ lat: where.lat, lon: where.lon, category: $("in-category").value,
                                       text: $("in-desc").value.slice(0, 500) });
  let data;
  try { data = await get(`/api/incidents/nearby?${params}`); } catch (err) { list.innerHTML = `<li class="muted">${escapeHtml(err.message)}</li>`; return; }
  const hits = data.incidents || [];
  list.innerHTML = hits.length ? hits.map((h) => {
    const i = h.incident;
    const age = Date.now() - Date.parse(i.created_at);
    return `<li data-incident-id="${escapeHtml(i.id)}" data-score="${h.score}">
      <span><b>${priority(i)} · ${escapeHtml(i.number)}</b> · ${escapeHtml(categoryLabel(i))}
        · ${escapeHtml(label("status", i.status))}<br>
        <span class="muted">${Math.round(h.distance_m)} m · ${duration(age)} ${t("intake.ago")} · ${t("intake.score")} ${Math.round(h.score * 100)}%</span><br>
        <span class="q-desc">${escapeHtml(i.description || "")}</span></span>
      <button class="btn" type="button" data-attach="${escapeHtml(i.id)}"
        aria-label="${escapeHtml(`${t("intake.attach")} ${i.number}`)}">${t("intake.attach")}</button></li>`;
  }).join("") : `<li class="muted">${t("intake.nearby_none")}</li>`;
}

function scheduleHistory() {
  clearTimeout(historyTimer);
  historyTimer = setTimeout(loadHistory, 400);
}

async function loadHistory() {
  const list = $("in-history");
  const phone = $("in-phone").value.replace(/\D/g, "");
  if (phone.length < 9) { list.innerHTML = ""; return; }
  let data;
  // POST: the phone travels in the body (never a URL); the gateway hashes it for the lookup.
  try { data = await send("POST", "/api/callers/lookup", { phone: $("in-phone").value }, { queue: false }); }
  catch (err) { list.innerHTML = `<li class="muted">${escapeHtml(err.message)}</li>`; return; }
  const reports = data.reports || [];
  list.innerHTML = reports.length ? reports.map((r) => `<li data-incident-id="${escapeHtml(r.incident_id)}">
      <span><b>${escapeHtml(r.incident_number)}</b> · ${escapeHtml(categoryLabel(r))}
      · ${escapeHtml(label("status", r.incident_status))} · ${escapeHtml(r.reporter_phone_masked || "")}<br>
      <span class="muted">${escapeHtml(new Date(r.received_at).toLocaleString())}</span>
      <span class="q-desc">${escapeHtml(r.description || "")}</span></span>
      ${["STATUS_RESOLVED", "STATUS_CLOSED", "STATUS_CANCELLED", "STATUS_DUPLICATE"].includes(r.incident_status) ? ""
        : `<button class="btn" type="button" data-attach="${escapeHtml(r.incident_id)}"
            aria-label="${escapeHtml(`${t("intake.attach")} ${r.incident_number}`)}">${t("intake.attach")}</button>`}</li>`).join("")
    : `<li class="muted">${t("intake.history_none")}</li>`;
}

function body(attachTo) {
  return {
    category: $("in-category").value, subcategory: $("in-sub").value, description: $("in-desc").value.trim(),
    caller_phone: $("in-phone").value.trim(), location: { lat: where.lat, lon: where.lon, address: where.address || "" },
    idempotency_key: attachTo ? `${key}-attach` : key, ...(attachTo ? { attach_to_incident_id: attachTo } : {}),
  };
}

async function file(attachTo, toast) {
  if (!where) { toast(t("intake.need_location"), true); return; }
  try {
    const result = await send("POST", "/api/incidents", body(attachTo));
    if (result?.queued) { toast(t("offline.queued")); reset(); return; }
    if (result?.incident?.id) incidentUpdated(result.incident);
    const status = $("in-result");
    status.textContent = `${attachTo ? t("intake.attached") : t("intake.created")} ${result.incident.number}`;
    status.dataset.incidentId = result.incident.id;
    status.dataset.merged = String(Boolean(result.merged));
    toast(status.textContent);
    reset(false);
  } catch (err) {
    toast(err.status === 403 ? t("action.forbidden") : err.message, true);
  }
}

function reset(clearResult = true) {
  key = newKey();
  where = null;
  $("intake-form").reset();
  fillSubcategories();
  $("in-where").textContent = t("intake.where_none");
  delete $("in-where").dataset.set;
  $("in-nearby").innerHTML = ""; $("in-history").innerHTML = ""; $("in-places").innerHTML = "";
  if (clearResult) $("in-result").textContent = "";
  showPick(null);
}

async function searchPlaces() {
  const q = $("in-address").value.trim();
  const list = $("in-places");
  if (q.length < 2) { list.innerHTML = ""; return; }
  const data = await get(`/api/gazetteer?q=${encodeURIComponent(q)}`).catch(() => ({ places: [] }));
  list.innerHTML = (data.places || []).map((p) => `<li><button class="btn ghost place" type="button"
      data-lat="${p.lat}" data-lon="${p.lon}" data-label="${escapeHtml(p.label)}">${escapeHtml(p.label)}</button></li>`).join("");
}

export function initIntake({ toast, pickFromMap, showPickOnMap }) {
  showPick = showPickOnMap;
  $("intake").hidden = false;
  document.body.classList.add("with-intake");
  fillCategories();
  $("in-where").textContent = t("intake.where_none");
  $("in-category").addEventListener("change", () => { fillSubcategories(); scheduleNearby(); });
  $("in-desc").addEventListener("input", scheduleNearby);
  $("in-phone").addEventListener("input", scheduleHistory);
  let placeTimer = null;
  $("in-address").addEventListener("input", () => { clearTimeout(placeTimer); placeTimer = setTimeout(searchPlaces, 250); });
  $("in-places").addEventListener("click", (e) => {
    const b = e.target.closest("button.place");
    if (!b) return;
    $("in-address").value = b.dataset.label;
    $("in-places").innerHTML = "";
    setLocation(Number(b.dataset.lat), Number(b.dataset.lon), b.dataset.label);
  });
  $("intake-form").addEventListener("submit", (e) => { e.preventDefault(); file(null, toast); });
  $("in-reset").addEventListener("click", () => reset());
  for (const id of ["in-nearby", "in-history"]) {
    $(id).addEventListener("click", (e) => {
      const b = e.target.closest("button[data-attach]");
      if (b) file(b.dataset.attach, toast);
    });
  }
  onPick = (lat, lon) => setLocation(lat, lon, $("in-address").value.trim() || "");
  pickFromMap((lat, lon) => onPick(lat, lon));
}

export function relabelIntake() {
  if ($("intake").hidden) return;
  fillCategories();
  if (!where) $("in-where").textContent = t("intake.where_none");
  if (where) { loadNearby(); loadHistory(); }
}
