// Actions taken while the network is down wait here (localStorage, so a reload keeps them) and are
// sent once, in order, when the connection returns. Each carries its idempotency key (a report's
// key, a transition's expected_version), so a send whose answer was lost is not applied twice.
import { ApiError, request } from "./api.js";

const KEY = "cityops.outbox";
const listeners = [];

function load() { try { return JSON.parse(localStorage.getItem(KEY) || "[]"); } catch { return []; } }
function save(items) { localStorage.setItem(KEY, JSON.stringify(items)); listeners.forEach((fn) => fn(items.length)); }

export function pending() { return load().length; }
export function onOutbox(fn) { listeners.push(fn); }

// A request now; if the network (not the server) fails and queue is allowed, it waits in the outbox.
export async function send(method, path, body, { queue = true } = {}) {
  try {
    return await request(method, path, body);
  } catch (err) {
    // Only a request that never reached the gateway waits; an answer (even 5xx) is shown as it is.
    if (err instanceof ApiError || !queue) throw err;
    save([...load(), { method, path, body, at: Date.now() }]);
    return { queued: true };
  }
}

let flushing = false;
// Sends what waits, oldest first. A refusal by the server (4xx) is reported and dropped; a network
// failure stops the flush and keeps the rest for the next try.
export async function flush(report = () => {}) {
  if (flushing) return;
  flushing = true;
  try {
    let items = load();
    while (items.length) {
      const [item] = items;
      try {
        const result = await request(item.method, item.path, item.body);
        report(null, item, result);
      } catch (err) {
        if (!(err instanceof ApiError) || err.status >= 500) break;
        report(err, item);
      }
      items = load().slice(1);
      save(items);
    }
  } finally {
    flushing = false;
  }
}
