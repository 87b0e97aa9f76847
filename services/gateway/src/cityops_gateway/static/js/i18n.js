// The console's strings are data: one JSON file per language (static/i18n/<lang>.json, which a city
// folder may extend or override: console/i18n/<lang>.json), served at /console/i18n/<lang>.json.
// The languages offered are the city's (GET /api/city `languages`); a language without a file, or
// a key missing from it, falls back to the city's default language, then to Vietnamese: never blank.
// Enum labels (statuses, unit states…) are keys "enum.<kind>.<VALUE>" of the same files;
// categories, subcategories and agencies are named by the city's registry (GET /api/city names).
const STRINGS = {};      // lang -> {key: text}
let languages = ["vi", "en"];
let defaultLang = "vi";
const CITY = { categories: new Map(), agencies: new Map(), subcategories: new Map() }; // code -> names

const PREFIXES = { status: "STATUS_", category: "CATEGORY_", agency: "AGENCY_", unit: "UNIT_STATUS_",
                   kind: "SENSOR_KIND_", level: "ALERT_LEVEL_", source: "SOURCE_", assignment: "ASSIGNMENT_STATUS_" };

// Engine messages (timeline details written by the services, in Vietnamese with an English gloss
// in brackets): internal names become labels in both languages, and in English the known sentences
// are translated and a "tiếng Việt (English)" text shows its English part.
const ENGINE_EN = [
  [/^Tiếp nhận từ (\S+), (P\d), (\S+) \((.*)\)$/, (m) => `Received via ${m[1]}, ${m[2]}, routed to ${m[3]}${glossOf(m[4]) ? ` (${glossOf(m[4])})` : ""}`],
  [/^Hợp nhất phản ánh(?: loại (\S+))? từ (\S+), cách (\d+) m, điểm ([\d.]+):.*$/, (m) =>
    `Report${m[1] ? ` (${m[1]})` : ""} from ${m[2]} merged, ${m[3]} m away, score ${m[4]}${/tổng đài viên/.test(m[0]) ? ", attached by the call-taker" : ""}`],
  [/^Nâng mức ưu tiên \((\S+)\)(?:: (.*))?$/, (m) => `Priority raised (${label("escalation", m[1])})`],
  [/^Sắp quá hạn (\S+): còn ([\d.]+) (\S+),.*$/, (m) => `${m[1]} deadline near: ${m[2]} ${m[3] === "giờ" ? "h" : m[3]} left`],
  [/^quá hạn (\S+) lúc (.*?) UTC.*$/, (m) => `${m[1]} deadline passed at ${m[2]} UTC`],
  [/^Mở lại lần (\d+), giao lại (\S+): (.*) \(reopened\)$/, (m) => `Reopened (${m[1]}), back to ${m[2]}: ${m[3]}`],
  [/^Tách từ sự cố (\S+): (.*) \(split out of .*\)$/, (m) => `Split out of ${m[1]}: ${m[2]}`],
  // A dispatcher's override of the recommendation (incidents' reactions.py OVERRIDE_TEXT).
  [/^(.*?)(?: \(unit assigned\))?(?:: không áp dụng từ \S+ \((not legal from \S+)\))?; điều phối viên chọn thay đề xuất \(dispatcher override\): (.*)$/s,
    (m) => `${m[1].replace(/^Đơn vị (.*) được phân công$/, "Unit $1 assigned")}${m[2] ? ` (${m[2]})` : ""}; dispatcher override: ${m[3]}`],
];
const TOKENS = [["agency", /\b(POLICE_113|FIRE_RESCUE_114|MEDICAL_115|PUBLIC_WORKS|UTILITIES|ENVIRONMENT|ADMIN_CENTER)\b/g],
                ["source", /\b(HOTLINE_1022|CITIZEN_APP|OPEN311|SENSOR|CAD_INTEGRATION|OPERATOR)\b/g],
                ["category", /\b(ADMINISTRATIVE_PROCEDURE|FIELD_REPORT|EMERGENCY_MEDICAL|SECURITY|FIRE|TRAFFIC_ACCIDENT|FLOOD|UTILITY_OUTAGE)\b/g],
                ["status", /\bSTATUS_([A-Z_]+)\b/g],
                ["escalation", /\b(REPORT_COUNT|SENSOR_LEVEL|SLA_BREACH|REOPENED)\b/g]];

function glossOf(text) {
  const m = String(text).match(/\(([^()]*[A-Za-z][^()]*)\)\s*$/);
  return m && !/[à-ỹđ]/i.test(m[1]) ? m[1] : "";
}

export function engineText(text) {
  let out = String(text ?? "");
  if (lang === "en") {
    const rule = ENGINE_EN.find(([re]) => re.test(out));
    if (rule) out = rule[1](out.match(rule[0]));
    else if (/[à-ỹđ]/i.test(out) && glossOf(out)) out = glossOf(out);
  }
  for (const [kind, re] of TOKENS) out = out.replace(re, (whole, name) => label(kind, name));
  return out.replace(/\b[a-z]+(?:_[a-z]+)+\b/g, (code) => (CITY.subcategories.has(code) ? label("sub", code) : code));
}

// The categories and subcategories a call-taker picks from: the city's registry (GET /api/city).
export const SUBCATEGORIES = {};
export const CATEGORIES = [];
export const AGENCIES = [];

async function fetchJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

async function loadStrings(code) {
  if (STRINGS[code] || !code) return;
  try { STRINGS[code] = await fetchJson(`/console/i18n/${encodeURIComponent(code)}.json`); }
  catch (err) { console.warn("no console strings for", code, err); STRINGS[code] = {}; }
}

// Reads the city's languages and registry, then the strings of each of its languages (a few small
// files: switching language is then immediate) and of the fallbacks. Called once before the page
// is labelled.
export async function initI18n() {
  try {
    const city = await fetchJson("/api/city");
    if (Array.isArray(city.languages) && city.languages.length) languages = city.languages;
    defaultLang = city.default_language || languages[0];
    for (const c of city.categories ?? []) {
      CITY.categories.set(c.code, c.names ?? {});
      CATEGORIES.push(c.code);
      SUBCATEGORIES[c.code] = (c.subcategories ?? []).map((s) => s.code);
      for (const s of c.subcategories ?? []) CITY.subcategories.set(s.code, s.names ?? {});
    }
    for (const a of city.agencies ?? []) { CITY.agencies.set(a.code, a.names ?? {}); AGENCIES.push(a.code); }
  } catch (err) { console.warn("city profile unavailable", err); }
  const saved = localStorage.getItem("cityops.lang");
  lang = languages.includes(saved) ? saved : defaultLang;
  await Promise.all([...new Set([...languages, defaultLang, "vi"])].map(loadStrings));
}

export function getLanguages() { return [...languages]; }
export function nextLang() { return languages[(languages.indexOf(lang) + 1) % languages.length]; }

let lang = "vi";
const listeners = [];

export function getLang() { return lang; }
// The city's title per language, put into the page by the gateway (city.yaml `branding.title`).
const CITY_TITLE = (() => {
  try { return JSON.parse(document.querySelector('meta[name="cityops-city-title"]')?.content || "{}"); }
  catch { return {}; }
})();
export function t(key) {
  if (key === "app.title" && (CITY_TITLE[lang] || Object.values(CITY_TITLE)[0])) return CITY_TITLE[lang] || Object.values(CITY_TITLE)[0];
  return STRINGS[lang]?.[key] || STRINGS[defaultLang]?.[key] || STRINGS.vi?.[key] || key;
}
export function strip(kind, value) { return String(value ?? "").replace(PREFIXES[kind] ?? "", ""); }
const REGISTRY = { category: CITY.categories, agency: CITY.agencies, sub: CITY.subcategories };
// The label of an enum value or of a city code: a category, subcategory or agency code (or its
// enum spelling, for incidents written before codes) is named by the city's registry.
export function label(kind, value) {
  const short = strip(kind, value);
  const names = REGISTRY[kind]?.get(short);
  const named = names && (names[lang] || names[defaultLang] || Object.values(names)[0]);
  if (named) return named;
  const key = `enum.${kind}.${short}`;
  const text = t(key);
  return text === key ? short : text;
}
// A category or agency of an incident or unit: its city code first, the enum for older records.
export function categoryLabel(item) { return label("category", item?.category_code || item?.category); }
export function agencyLabel(item) { return label("agency", item?.agency_code || item?.agency); }
const LOCALES = { vi: "vi-VN", en: "en-GB", nl: "nl-NL" };
export function locale() { return LOCALES[lang] ?? lang; }
export function onLangChange(fn) { listeners.push(fn); }

export function applyStatic(root = document) {
  document.documentElement.lang = lang;
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  root.querySelectorAll("[data-i18n-aria]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.i18nAria)); });
  document.title = `${t("app.title")} — CityOps`;
  const toggle = document.getElementById("lang-toggle");
  if (toggle) { toggle.textContent = nextLang().toUpperCase(); toggle.hidden = languages.length < 2; }
}

export function setLang(next) {
  lang = languages.includes(next) ? next : defaultLang;
  localStorage.setItem("cityops.lang", lang);
  applyStatic();
  listeners.forEach((fn) => fn(lang));
}
