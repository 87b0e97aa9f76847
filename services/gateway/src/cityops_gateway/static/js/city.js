// The city the console shows: its title per language, map centre and zoom, and the map layers of its
// administrative units, all from GET /api/city (the city's folder, docs/cities.md). No city is
// spelled here: when the profile cannot be read the map shows the whole world and no layer.
import { get } from "./api.js";

const UNKNOWN = { title: null, center: [0, 0], zoom: 2, layers: [] };

function layerUrls(raw) {
  const list = raw?.layers ?? [];
  return (Array.isArray(list) ? list : Object.values(list))
    .map((layer) => (typeof layer === "string" ? layer : layer?.url))
    .filter(Boolean);
}

function centre(map) {
  const c = map?.centre ?? map?.center;
  if (Array.isArray(c) && c.length === 2) return c;
  if (c?.lat != null) return [c.lat, c.lon];
  return null;
}

let cached = null;

export async function cityMap() {
  if (cached) return cached;
  let raw;
  try { raw = await get("/api/city"); } catch { return UNKNOWN; }
  cached = {
    title: raw?.title ?? null,
    center: centre(raw?.map) ?? UNKNOWN.center,
    zoom: raw?.map?.zoom ?? UNKNOWN.zoom,
    layers: layerUrls(raw),
  };
  return cached;
}
