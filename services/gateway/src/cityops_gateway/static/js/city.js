// The city the console shows: its title per language, map centre and zoom, and the map layers of its
// administrative units. From GET /api/city when the gateway offers it; otherwise the bundled
// Bình Dương outline (the only place that knows today's defaults, so a city change is one edit).
import { get } from "./api.js";

const FALLBACK = {
  title: null,
  center: [11.12, 106.66],
  zoom: 10,
  layers: ["/static/geo/binhduong.geojson"],
};

function layerUrls(raw) {
  const list = raw?.map?.layers ?? raw?.map_layers ?? raw?.layers ?? [];
  return (Array.isArray(list) ? list : Object.values(list))
    .map((layer) => (typeof layer === "string" ? layer : layer?.url))
    .filter(Boolean);
}

export async function cityMap() {
  let raw;
  try { raw = await get("/api/city"); } catch { return FALLBACK; }
  const map = raw?.map ?? raw ?? {};
  const center = map.center?.lat != null ? [map.center.lat, map.center.lon] : (Array.isArray(map.center) ? map.center : null);
  const layers = layerUrls(raw);
  return {
    title: raw?.title ?? null,
    center: center ?? FALLBACK.center,
    zoom: map.zoom ?? FALLBACK.zoom,
    layers: layers.length ? layers : FALLBACK.layers,
  };
}
