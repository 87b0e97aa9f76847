// Console bootstrap: sign-in, initial load, the live event stream, and the 1-second clock.
import { get, login, logout, session } from "./api.js";
import { applyStatic, categoryLabel, initI18n, locale, nextLang, onLangChange, setLang, t } from "./i18n.js";
import { TZ, priority } from "./format.js";
import { incidentUpdated, loadAll, on, onChange, receive, state } from "./store.js";
import * as map from "./map.js";
import { initQueue, markFresh, relabelWards, renderQueue, setSelected, tickCountdowns } from "./queue.js";
import { renderSensors, renderUnits } from "./boards.js";
import { refreshKpis, renderKpis, renderLiveKpis, scheduleKpis } from "./kpi.js";
import { closeDetail, currentIncidentId, initDetail, openDetail, renderDetail, toast } from "./detail.js";
import { initIntake, relabelIntake } from "./intake.js";
import { ExpiredAction, flush, onOutbox, pending } from "./outbox.js";
import { initTools, relabelTools, renderSla } from "./tools.js";

let source = null;
let started = false;
let helloSeen = false;

// The badge says whether the picture is live; offline it says so, and how many actions wait.
function setLive(mode) {
  const el = document.getElementById("live");
  const offline = !navigator.onLine;
  const shown = offline ? "offline" : mode;
  el.className = `live ${shown === "on" ? "on" : "off"}`;
  const waiting = pending();
  const text = t(shown === "on" ? "live.on" : shown === "offline" ? "live.offline" : shown === "off" ? "live.off" : "live.connecting");
  document.getElementById("live-text").textContent = waiting ? `${text} · ${waiting} ${t("offline.waiting")}` : text;
  el.dataset.state = mode;
  document.body.classList.toggle("is-offline", offline || mode === "off");
}

async function flushOutbox() {
  if (!pending()) return;
  await flush((err, item, result) => {
    if (err instanceof ExpiredAction) toast(`${t("offline.expired")} (${err.message})`, true);
    else if (err) toast(`${t("offline.refused")}: ${err.message}`, true);
    else if (result?.incident?.number) toast(`${t("offline.sent")} ${result.incident.number}`);
    else if (result?.number) { incidentUpdated(result); toast(`${t("offline.sent")} ${result.number}`); }
    else if (result?.incident_number) toast(`${t("offline.sent")} ${result.incident_number}`); // a dispatch
  });
  setLive(document.getElementById("live").dataset.state || "connecting");
}

function announceP1(incident) {
  const banner = document.getElementById("p1-banner");
  const place = incident.location?.address || incident.district || "";
  document.getElementById("p1-text").textContent =
    `${t("p1.announce")}: ${categoryLabel(incident)} · ${incident.number} · ${place}`;
  banner.dataset.incidentId = incident.id;
  banner.hidden = false;
  banner.style.animation = "none"; void banner.offsetWidth; banner.style.animation = "";
  clearTimeout(banner._timer);
  banner._timer = setTimeout(() => { banner.hidden = true; }, 60000);
}

// A click answers first (the drawer and the highlighted row, this frame); the map moves one frame
// after the answer is painted (re-clustering 10,000 markers at a new zoom must not delay the answer), and the
// markers' own once-a-second update waits until the click is answered.
function select(id) {
  map.quiet();
  openDetail(id);
  setSelected(id);
  requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(() => map.focusIncident(state.incidents.get(id)), 0)));
}

function connect() {
  source?.close();
  const s = session();
  if (!s) return;
  setLive("connecting");
  // The HttpOnly session cookie set by /api/login authenticates the stream (no token in the URL).
  source = new EventSource("/api/events");
  let first = !helloSeen;
  source.addEventListener("hello", () => {
    setLive("on");
    if (!first) loadAll(); // a reconnect: what happened while away is loaded again
    first = false; helloSeen = true;
    flushOutbox();
  });
  for (const kind of ["incident", "dispatch", "unit", "alert"]) {
    source.addEventListener(kind, (message) => receive(kind, message.data));
  }
  source.addEventListener("resync", () => loadAll());
  source.onerror = () => {
    setLive("off");
    if (!session()) { source.close(); showLogin(); }
  };
}

function showWho() {
  const s = session();
  const who = document.getElementById("who");
  who.textContent = s ? `${s.user.display_name || s.user.username} · ${s.user.roles.map((r) => t(`role.${r}`)).join(", ")}` : "";
  document.getElementById("logout").hidden = !s;
}

function showLogin() {
  document.getElementById("login").hidden = false;
  document.getElementById("login-username").focus();
}

async function start() {
  showWho();
  if (started) { connect(); return; }
  started = true;
  const roles = session()?.user?.roles ?? [];
  // Each change at once (cheap): a new or escalated P1 is announced without waiting for a frame.
  onChange((topic, change) => {
    if (topic !== "incidents") return;
    if (change.type === "IncidentReported" && change.incident) {
      markFresh(change.incident.id);
      if (priority(change.incident) === "P1") announceP1(change.incident);
    } else if (change.type === "IncidentEscalated" && priority(change.incident) === "P1"
               && change.before && priority(change.before) !== "P1") {
      announceP1(change.incident);
    }
    scheduleKpis();
  });
  // The picture: once per animation frame, with the ids that changed (null: all of them).
  on("incidents", (ids) => {
    renderQueue(ids); map.renderIncidents(ids);
    const current = currentIncidentId();
    if (current && (ids === null || ids.has(current))) renderDetail(false);
    renderLiveKpis();
    renderSla();
  });
  on("units", () => { renderUnits(); map.renderUnits(); });
  on("sensors", () => { renderSensors(); map.renderAlerts(); });
  // The stream first (nothing is missed between the load and the first event), then the load,
  // which runs while the map is being set up: the queue paints as soon as the first page is in.
  connect();
  const loading = loadAll();
  const config = await get("/api/config").catch(() => ({}));
  await map.initMap(config, select);
  map.renderIncidents(null); map.renderUnits(); map.renderAlerts();
  initTools({ toast, select, unitsChanged: renderUnits });
  if (roles.includes("call_taker")) {
    initIntake({ toast, pickFromMap: map.pickFromMap, showPickOnMap: map.showPick });
    map.invalidate();
  }
  await loading;
  refreshKpis();
  setInterval(refreshKpis, 30000);
}

const clocks = new Map();
function tickClock() {
  if (!clocks.has(locale())) {
    clocks.set(locale(), new Intl.DateTimeFormat(locale(), {
      timeZone: TZ, weekday: "short", day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
    }));
  }
  document.getElementById("clock").textContent = clocks.get(locale()).format(new Date());
  tickCountdowns();
}

document.addEventListener("DOMContentLoaded", async () => {
  // ?wall=1: the 4 m wall screen (large type, high contrast, nothing to click needed).
  if (new URLSearchParams(location.search).get("wall") === "1") document.body.classList.add("wall");
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch((err) => console.warn("sw", err));
  window.addEventListener("online", () => { setLive(document.getElementById("live").dataset.state || "connecting"); connect(); flushOutbox(); });
  window.addEventListener("offline", () => setLive("off"));
  onOutbox(() => setLive(document.getElementById("live").dataset.state || "connecting"));
  await initI18n(); // the city's languages and the strings of the chosen one
  applyStatic();
  tickClock();
  setInterval(tickClock, 1000);
  initQueue(select);
  initDetail(() => setSelected(null));
  document.getElementById("lang-toggle").addEventListener("click", () => setLang(nextLang()));
  onLangChange(() => { showWho(); relabelWards(); renderQueue(); renderUnits(); renderSensors(); renderKpis(); map.relabel(); renderDetail(); relabelIntake(); relabelTools(renderUnits);
    setLive(document.getElementById("live").dataset.state || "connecting"); });
  document.getElementById("p1-dismiss").addEventListener("click", () => { document.getElementById("p1-banner").hidden = true; });
  document.getElementById("logout").addEventListener("click", () => { logout(); source?.close(); closeDetail(); showWho(); showLogin(); });
  window.addEventListener("cityops:unauthorized", () => { logout(); source?.close(); showWho(); showLogin(); });
  document.getElementById("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("login-error");
    error.textContent = "";
    try {
      await login(document.getElementById("login-username").value, document.getElementById("login-password").value);
      document.getElementById("login").hidden = true;
      start();
    } catch (err) {
      error.textContent = err.status === 401 ? t("auth.failed") : err.message;
    }
  });
  if (session()) start(); else showLogin();
});
