// KPI charts (Chart.js, vendored): open incidents by category, time to dispatch p50/p90, SLA breaches.
import { get } from "./api.js";
import { label, t } from "./i18n.js";
import { TZ } from "./format.js";
import { state } from "./store.js";

// Open now and overdue now come from the same live picture as the queue (never from a cached API
// figure), so the header and the queue always agree.
// Each incident snapshot's deadline is parsed once (a snapshot is replaced, never changed, on update).
const dueOf = new WeakMap();
function overdueNow() {
  const now = Date.now();
  let n = 0;
  for (const i of state.incidents.values()) {
    if (!i.sla_due_at) continue;
    let due = dueOf.get(i);
    if (due === undefined) { due = Date.parse(i.sla_due_at); dueOf.set(i, due); }
    if (due < now) n += 1;
  }
  return n;
}

function median(values) {
  if (!values.length) return null;
  const v = [...values].sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
}

// Time to acknowledge and report → on scene, over the last 24 hours, from the live picture.
function liveTimes() {
  const since = Date.now() - 24 * 3600 * 1000;
  const ack = [], scene = [];
  for (const m of state.milestones.values()) {
    if (!(m.created >= since)) continue;
    if (m.ack >= m.created) ack.push((m.ack - m.created) / 1000);
    if (m.onScene >= m.created) scene.push((m.onScene - m.created) / 1000);
  }
  return { ack: median(ack), scene: median(scene) };
}

let liveQueued = false;
export function renderLiveKpis() {
  if (liveQueued) return;
  liveQueued = true;
  // Counting 10,000 deadlines is cheap, but not worth doing more than once a second.
  setTimeout(() => {
    liveQueued = false;
    const open = document.getElementById("kpi-open");
    if (open) open.textContent = state.incidents.size.toLocaleString("vi-VN");
    const overdue = document.getElementById("kpi-overdue");
    if (overdue) overdue.textContent = overdueNow().toLocaleString("vi-VN");
    const times = liveTimes();
    const ack = document.getElementById("kpi-ack");
    if (ack) ack.textContent = fmtMinutes(times.ack);
    const scene = document.getElementById("kpi-scene");
    if (scene) scene.textContent = fmtMinutes(times.scene);
  }, 1000);
}

const charts = {};
let last = null;
let pending = null;

Chart.defaults.color = "#8da2b8";
Chart.defaults.borderColor = "#26394f";
Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
Chart.defaults.animation = false;

// A chart is updated in place (no animation) once it exists: destroying and rebuilding three
// canvases every few seconds of a surge is a long task the operator's clicks would wait behind.
function chart(id, config) {
  const known = charts[id];
  if (known && known.config.type === config.type) {
    known.data.labels = config.data.labels;
    config.data.datasets.forEach((d, k) => {
      if (known.data.datasets[k]) Object.assign(known.data.datasets[k], d); else known.data.datasets.push(d);
    });
    known.data.datasets.length = config.data.datasets.length;
    known.update("none");
    return;
  }
  known?.destroy();
  charts[id] = new Chart(document.getElementById(id), { ...config, options: { responsive: true, maintainAspectRatio: false, ...config.options } });
}

const hourFormat = new Intl.DateTimeFormat("en-GB", { timeZone: TZ, hour: "2-digit", hourCycle: "h23" });
function hourLabel(iso) {
  const hour = hourFormat.format(new Date(iso));
  return `${hour.replace(/\D/g, "")}h`;
}

const minutes = (s) => (s == null ? null : Math.round((s / 60) * 10) / 10);

function fmtMinutes(s) { return s == null ? "—" : `${Math.round((s / 60) * 10) / 10} ${t("kpi.minutes")}`; }

// The three charts are drawn one per task (a yield between them): together they were one of the
// long tasks a click waited behind in a surge.
let chartsRun = 0;
const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

export async function renderKpis(data = last) {
  if (!data) return;
  const run = ++chartsRun;
  // The wall is read from 4 m: chart labels (drawn on canvas) at the wall's text size.
  Chart.defaults.font.size = document.body.classList.contains("wall") ? 22 : 12;
  last = data;
  const times = liveTimes();
  document.getElementById("kpi-figures").innerHTML =
    `<span>${t("kpi.open")}: <b id="kpi-open">${state.incidents.size.toLocaleString("vi-VN")}</b></span>` +
    `<span>${t("kpi.overdue")}: <b id="kpi-overdue">${overdueNow().toLocaleString("vi-VN")}</b></span>` +
    `<span>${t("kpi.ack")}: <b id="kpi-ack">${fmtMinutes(times.ack)}</b></span>` +
    `<span>${t("kpi.scene")}: <b id="kpi-scene">${fmtMinutes(times.scene)}</b></span>`;
  await nextTask();
  if (run !== chartsRun) return; // a newer picture is being drawn
  const cats = data.open_by_category;
  chart("chart-categories", {
    type: "bar",
    data: { labels: cats.map((c) => label("category", c.category)),
            datasets: [{ label: t("kpi.count"), data: cats.map((c) => c.count), backgroundColor: "#4fc3f7" }] },
    options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
  await nextTask();
  if (run !== chartsRun) return;
  const hours = data.hours.map((h) => hourLabel(h.hour));
  chart("chart-dispatch", {
    type: "line",
    data: { labels: hours, datasets: [
      { label: "p50", data: data.hours.map((h) => minutes(h.dispatch_p50_seconds)), borderColor: "#34c759", backgroundColor: "#34c759", spanGaps: true, tension: 0.3 },
      { label: "p90", data: data.hours.map((h) => minutes(h.dispatch_p90_seconds)), borderColor: "#ff9500", backgroundColor: "#ff9500", spanGaps: true, tension: 0.3 },
    ] },
    options: { plugins: { legend: { position: "top", labels: { boxWidth: 10 } } },
               scales: { x: { ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 8 } }, y: { beginAtZero: true } } },
  });
  await nextTask();
  if (run !== chartsRun) return;
  chart("chart-sla", {
    type: "bar",
    data: { labels: hours, datasets: [{ label: t("kpi.sla_breaches"), data: data.hours.map((h) => h.sla_breaches), backgroundColor: "#ff453a" }] },
    options: { plugins: { legend: { display: false } },
               scales: { x: { ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 8 } }, y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
}

export async function refreshKpis() {
  try { await renderKpis(await get("/api/kpis")); } catch (err) { console.warn("kpis", err); }
}

// Incident events arrive in bursts during a surge: recompute at most every few seconds.
export function scheduleKpis(delay = 3000) {
  if (pending) return;
  pending = setTimeout(() => { pending = null; refreshKpis(); }, delay);
}
