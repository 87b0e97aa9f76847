// Actions taken while the network is down wait here (localStorage, so a reload keeps them) and are
// sent once, in order, when the connection returns. Every write gets an idempotency key when the
// action is TAKEN (not when it is sent): the services apply a key once (ReportIncident, AddNote,
// TransitionIncident, AssignUnit; scoped to the signed-in user), so a send whose answer was lost, or
// a flush that runs twice, never applies an action twice. The services keep a key 7 days
// (CITYOPS_*_REQUEST_KEY_RETENTION_DAYS); an action that waited longer than MAX_AGE_MS (6 days, a day
// inside that) is dropped and reported instead of being sent without the protection of its key.
import { ApiError, request } from "./api.js";

const KEY = "cityops.outbox";
const listeners = [];
const INCIDENT_PATH = /^\/api\/incidents\/([0-9a-f-]{36})\//;
export const MAX_AGE_MS = 6 * 24 * 3600 * 1000;

// The outbox's own refusal of an action that waited too long (reported like a server's refusal).
export class ExpiredAction extends Error {
  constructor(item) { super(`${Math.floor((Date.now() - item.at) / 86400000)} d`); this.item = item; }
}

function load() { try { return JSON.parse(localStorage.getItem(KEY) || "[]"); } catch { return []; } }
function save(items) { localStorage.setItem(KEY, JSON.stringify(items)); listeners.forEach((fn) => fn(items.length)); }

export function pending() { return load().length; }
export function onOutbox(fn) { listeners.push(fn); }

// A random UUID v4; crypto.randomUUID needs a secure context, getRandomValues does not.
export function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// A request now; if the network (not the server) fails and queue is allowed, it waits in the outbox.
// ``base`` is the incident version the user saw when acting on it (a transition's expected_version
// is taken when not given): queued changes of one incident are rebased over each other on flush.
export async function send(method, path, body, { queue = true, base } = {}) {
  const keyed = body && typeof body === "object" && !body.idempotency_key ? { ...body, idempotency_key: newKey() } : body;
  try {
    return await request(method, path, keyed);
  } catch (err) {
    // Only a request that never reached the gateway (or whose answer never came back) waits; an
    // answer (even 5xx) is shown as it is.
    if (err instanceof ApiError || !queue) throw err;
    save([...load(), { method, path, body: keyed, base: base ?? keyed?.expected_version, at: Date.now() }]);
    return { queued: true };
  }
}

// After a queued change of an incident went through, the user's later queued transitions of the same
// incident were made on the version they saw before it: move them to the version it produced. A
// change by someone else in between still makes them stale (FAILED_PRECONDITION, reported).
function rebase(items, item, result) {
  const id = INCIDENT_PATH.exec(item.path)?.[1];
  if (!id || item.base === undefined || result?.version === undefined) return items;
  return items.map((other) => (INCIDENT_PATH.exec(other.path)?.[1] === id && other.base !== undefined
    && Number(other.base) === Number(item.base)
    ? { ...other, base: result.version,
        body: other.body?.expected_version !== undefined ? { ...other.body, expected_version: Number(result.version) } : other.body }
    : other));
}

let flushing = null;
// Sends what waits, oldest first. A refusal by the server (4xx) is reported and dropped; a network
// failure stops the flush and keeps the rest for the next try. A second call while one runs gets the
// running one (the keys make even two flushes in two tabs safe).
export function flush(report = () => {}) {
  if (!flushing) flushing = run(report).finally(() => { flushing = null; });
  return flushing;
}

async function run(report) {
  let items = load();
  while (items.length) {
    const [item] = items;
    let result = null;
    if (item.at !== undefined && Date.now() - item.at > MAX_AGE_MS) {
      report(new ExpiredAction(item), item);
      items = load().slice(1);
      save(items);
      continue;
    }
    try {
      result = await request(item.method, item.path, item.body);
      report(null, item, result);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status >= 500) break;
      report(err, item);
    }
    items = rebase(load().slice(1), item, result);
    save(items);
  }
}
