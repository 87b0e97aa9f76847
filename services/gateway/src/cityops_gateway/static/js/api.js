// The console's JSON API client; the operator's token lives in sessionStorage (per tab).
const TOKEN_KEY = "cityops.token";
const USER_KEY = "cityops.user";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export function session() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const user = JSON.parse(sessionStorage.getItem(USER_KEY) || "null");
  if (!token || !user || (user.expires_at && user.expires_at * 1000 < Date.now())) return null;
  return { token, user };
}

export function logout() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
  // The service worker's copy of the last state belongs to this session only.
  globalThis.caches?.delete("cityops-state-v1").catch(() => {});
  // Clears the HttpOnly session cookie (the live stream's credential); the custom header passes the CSRF check.
  fetch("/api/logout", { method: "POST", headers: { "X-CityOps-Console": "1" }, credentials: "same-origin" }).catch(() => {});
}

export async function login(username, password) {
  const data = await request("POST", "/api/login", { username, password }, false);
  sessionStorage.setItem(TOKEN_KEY, data.token);
  sessionStorage.setItem(USER_KEY, JSON.stringify(data));
  return data;
}

export async function request(method, path, body, auth = true) {
  // X-CityOps-Console: the gateway's CSRF check for requests authenticated by the session cookie.
  const headers = { Accept: "application/json", "X-CityOps-Console": "1" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth) {
    const s = session();
    if (s) headers.Authorization = `Bearer ${s.token}`;
  }
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401 && auth) window.dispatchEvent(new Event("cityops:unauthorized"));
    throw new ApiError(response.status, data);
  }
  return data;
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body);
