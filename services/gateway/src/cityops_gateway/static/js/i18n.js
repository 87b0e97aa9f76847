// Vietnamese first (the default); English via the toggle, remembered in localStorage.
const STRINGS = {
  vi: {
    "app.title": "Trung tâm Điều hành Thông minh Bình Dương",
    "app.subtitle": "Bảng điều hành sự cố thời gian thực",
    "live.on": "Trực tuyến", "live.connecting": "Đang kết nối…", "live.off": "Mất kết nối, đang thử lại…",
    "auth.title": "Đăng nhập điều hành viên", "auth.username": "Tên đăng nhập", "auth.password": "Mật khẩu",
    "auth.submit": "Đăng nhập", "auth.logout": "Đăng xuất", "auth.failed": "Sai tên đăng nhập hoặc mật khẩu",
    "queue.title": "Hàng đợi sự cố", "queue.empty": "Không có sự cố đang mở",
    "queue.due": "Hạn", "queue.breached": "Quá hạn", "queue.reports": "báo cáo",
    "queue.search": "Tìm sự cố (không cần dấu)…", "queue.matching": "sự cố khớp", "queue.above": "sự cố phía trên",
    "queue.below": "sự cố nữa phía dưới", "queue.loading": "đang tải", "kpi.overdue": "Đang quá hạn",
    "map.title": "Bản đồ tình huống", "map.incident": "Sự cố", "map.unit": "Đơn vị", "map.alert": "Cảnh báo cảm biến",
    "units.title": "Lực lượng ứng phó", "units.total": "đơn vị", "units.available": "sẵn sàng", "units.none": "Chưa có đơn vị",
    "sensors.title": "Cảm biến", "sensors.alerting": "đang cảnh báo", "sensors.offline": "mất kết nối",
    "sensors.none": "Tất cả cảm biến bình thường",
    "kpi.title": "Chỉ số vận hành (24 giờ)", "kpi.open_by_category": "Sự cố đang mở theo loại",
    "kpi.dispatch_time": "Thời gian điều động p50/p90 (phút)", "kpi.sla_breaches": "Vi phạm SLA theo giờ",
    "kpi.open": "Đang mở", "kpi.p50": "Điều động p50", "kpi.p90": "p90", "kpi.breaches": "Vi phạm SLA 24h",
    "kpi.minutes": "phút", "kpi.count": "Số sự cố",
    "detail.close": "Đóng", "detail.number": "Mã sự cố", "detail.category": "Loại", "detail.priority": "Mức ưu tiên",
    "detail.status": "Trạng thái", "detail.address": "Địa điểm", "detail.district": "Khu vực", "detail.agency": "Cơ quan",
    "detail.reports": "Số báo cáo", "detail.created": "Tiếp nhận lúc", "detail.sla": "Hạn SLA",
    "detail.description": "Mô tả", "detail.actions": "Thao tác", "detail.timeline": "Nhật ký xử lý",
    "detail.recommend": "Đơn vị đề xuất", "detail.assign": "Điều động", "detail.note": "Thêm ghi chú",
    "detail.note_placeholder": "Nội dung ghi chú…", "detail.save_note": "Lưu ghi chú",
    "detail.transition": "Chuyển trạng thái", "detail.apply": "Áp dụng", "detail.reason": "Lý do (bắt buộc khi hủy)",
    "detail.no_candidates": "Không có đơn vị phù hợp đang sẵn sàng", "detail.assignments": "Đơn vị đã điều động",
    "action.acknowledge": "Tiếp nhận", "action.done": "Đã cập nhật", "action.forbidden": "Vai trò của bạn không được phép",
    "action.IncidentReported": "Tiếp nhận", "action.IncidentMerged": "Gộp báo cáo",
    "action.IncidentTransitioned": "Chuyển trạng thái", "action.IncidentEscalated": "Nâng mức ưu tiên",
    "action.NoteAdded": "Ghi chú", "action.SensorAlertCleared": "Cảm biến hết cảnh báo", "action.IncidentUpdated": "Cập nhật",
    "p1.announce": "SỰ CỐ KHẨN CẤP P1", "p1.dismiss": "Đã biết",
    "role.operator": "Điều hành viên", "role.dispatcher": "Điều phối viên", "role.supervisor": "Trưởng ca",
    "role.call_taker": "Tổng đài viên", "role.admin": "Quản trị",
    "eta": "ETA", "km": "km", "min": "phút",
  },
  en: {
    "app.title": "Binh Duong Intelligent Operations Center",
    "app.subtitle": "Real-time incident console",
    "live.on": "Live", "live.connecting": "Connecting…", "live.off": "Disconnected, retrying…",
    "auth.title": "Operator sign-in", "auth.username": "Username", "auth.password": "Password",
    "auth.submit": "Sign in", "auth.logout": "Sign out", "auth.failed": "Wrong username or password",
    "queue.title": "Incident queue", "queue.empty": "No open incidents",
    "queue.due": "Due", "queue.breached": "Overdue", "queue.reports": "reports",
    "queue.search": "Search incidents (accents optional)…", "queue.matching": "matching", "queue.above": "above",
    "queue.below": "more below", "queue.loading": "loading", "kpi.overdue": "Overdue now",
    "map.title": "Situation map", "map.incident": "Incident", "map.unit": "Unit", "map.alert": "Sensor alert",
    "units.title": "Response units", "units.total": "units", "units.available": "available", "units.none": "No units yet",
    "sensors.title": "Sensors", "sensors.alerting": "alerting", "sensors.offline": "offline",
    "sensors.none": "All sensors normal",
    "kpi.title": "Operations KPIs (24 h)", "kpi.open_by_category": "Open incidents by category",
    "kpi.dispatch_time": "Time to dispatch p50/p90 (min)", "kpi.sla_breaches": "SLA breaches per hour",
    "kpi.open": "Open", "kpi.p50": "Dispatch p50", "kpi.p90": "p90", "kpi.breaches": "SLA breaches 24h",
    "kpi.minutes": "min", "kpi.count": "Incidents",
    "detail.close": "Close", "detail.number": "Number", "detail.category": "Category", "detail.priority": "Priority",
    "detail.status": "Status", "detail.address": "Location", "detail.district": "District", "detail.agency": "Agency",
    "detail.reports": "Reports", "detail.created": "Received", "detail.sla": "SLA due",
    "detail.description": "Description", "detail.actions": "Actions", "detail.timeline": "Timeline",
    "detail.recommend": "Recommended units", "detail.assign": "Assign", "detail.note": "Add a note",
    "detail.note_placeholder": "Note text…", "detail.save_note": "Save note",
    "detail.transition": "Change status", "detail.apply": "Apply", "detail.reason": "Reason (required to cancel)",
    "detail.no_candidates": "No suitable unit is available", "detail.assignments": "Assigned units",
    "action.acknowledge": "Acknowledge", "action.done": "Updated", "action.forbidden": "Your role may not do this",
    "action.IncidentReported": "Reported", "action.IncidentMerged": "Report merged",
    "action.IncidentTransitioned": "Status changed", "action.IncidentEscalated": "Escalated",
    "action.NoteAdded": "Note", "action.SensorAlertCleared": "Sensor alert cleared", "action.IncidentUpdated": "Updated",
    "p1.announce": "P1 EMERGENCY", "p1.dismiss": "Got it",
    "role.operator": "Operator", "role.dispatcher": "Dispatcher", "role.supervisor": "Supervisor",
    "role.call_taker": "Call taker", "role.admin": "Admin",
    "eta": "ETA", "km": "km", "min": "min",
  },
};

const ENUMS = {
  vi: {
    status: { NEW: "Mới", ACKNOWLEDGED: "Đã tiếp nhận", DISPATCHED: "Đã điều động", ON_SCENE: "Tại hiện trường",
              RESOLVED: "Đã xử lý", CLOSED: "Đã đóng", CANCELLED: "Đã hủy", DUPLICATE: "Trùng lặp",
              AWAITING_DOSSIER: "Chờ bổ sung hồ sơ" },
    category: { ADMINISTRATIVE_PROCEDURE: "Thủ tục hành chính", FIELD_REPORT: "Phản ánh hiện trường",
                EMERGENCY_MEDICAL: "Cấp cứu y tế", SECURITY: "An ninh trật tự", FIRE: "Cháy nổ",
                TRAFFIC_ACCIDENT: "Tai nạn giao thông", FLOOD: "Ngập lụt", ENVIRONMENT: "Môi trường",
                UTILITY_OUTAGE: "Mất điện, nước", OTHER: "Khác" },
    agency: { POLICE_113: "Công an 113", FIRE_RESCUE_114: "PCCC & CNCH 114", MEDICAL_115: "Cấp cứu 115",
              PUBLIC_WORKS: "Công trình công cộng", UTILITIES: "Điện, nước", ENVIRONMENT: "Môi trường",
              ADMIN_CENTER: "TT Hành chính công", UNSPECIFIED: "Chưa phân công" },
    unit: { AVAILABLE: "Sẵn sàng", DISPATCHED: "Đã điều động", EN_ROUTE: "Đang di chuyển", ON_SCENE: "Tại hiện trường",
            RETURNING: "Đang quay về", OUT_OF_SERVICE: "Ngưng hoạt động" },
    kind: { WATER_LEVEL: "Mực nước", RAINFALL: "Lượng mưa", AIR_QUALITY_PM25: "Bụi PM2.5",
            TRAFFIC_SPEED: "Tốc độ giao thông", SMOKE: "Khói", TEMPERATURE: "Nhiệt độ", NOISE: "Tiếng ồn" },
    level: { WARN: "Cảnh báo", CRITICAL: "Nguy hiểm", OFFLINE: "Mất kết nối" },
  },
  en: {
    status: { NEW: "New", ACKNOWLEDGED: "Acknowledged", DISPATCHED: "Dispatched", ON_SCENE: "On scene",
              RESOLVED: "Resolved", CLOSED: "Closed", CANCELLED: "Cancelled", DUPLICATE: "Duplicate",
              AWAITING_DOSSIER: "Waiting for dossier" },
    category: { ADMINISTRATIVE_PROCEDURE: "Administrative", FIELD_REPORT: "Field report",
                EMERGENCY_MEDICAL: "Medical emergency", SECURITY: "Public order", FIRE: "Fire",
                TRAFFIC_ACCIDENT: "Traffic accident", FLOOD: "Flood", ENVIRONMENT: "Environment",
                UTILITY_OUTAGE: "Power/water outage", OTHER: "Other" },
    agency: { POLICE_113: "Police 113", FIRE_RESCUE_114: "Fire & rescue 114", MEDICAL_115: "Ambulance 115",
              PUBLIC_WORKS: "Public works", UTILITIES: "Utilities", ENVIRONMENT: "Environment",
              ADMIN_CENTER: "Public admin center", UNSPECIFIED: "Unassigned" },
    unit: { AVAILABLE: "Available", DISPATCHED: "Dispatched", EN_ROUTE: "En route", ON_SCENE: "On scene",
            RETURNING: "Returning", OUT_OF_SERVICE: "Out of service" },
    kind: { WATER_LEVEL: "Water level", RAINFALL: "Rainfall", AIR_QUALITY_PM25: "PM2.5",
            TRAFFIC_SPEED: "Traffic speed", SMOKE: "Smoke", TEMPERATURE: "Temperature", NOISE: "Noise" },
    level: { WARN: "Warning", CRITICAL: "Critical", OFFLINE: "Offline" },
  },
};

const PREFIXES = { status: "STATUS_", category: "CATEGORY_", agency: "AGENCY_", unit: "UNIT_STATUS_",
                   kind: "SENSOR_KIND_", level: "ALERT_LEVEL_" };

let lang = localStorage.getItem("cityops.lang") === "en" ? "en" : "vi";
const listeners = [];

export function getLang() { return lang; }
export function t(key) { return STRINGS[lang][key] ?? STRINGS.vi[key] ?? key; }
export function strip(kind, value) { return String(value ?? "").replace(PREFIXES[kind] ?? "", ""); }
export function label(kind, value) {
  const short = strip(kind, value);
  return ENUMS[lang][kind]?.[short] ?? short;
}
export function locale() { return lang === "vi" ? "vi-VN" : "en-GB"; }
export function onLangChange(fn) { listeners.push(fn); }

export function applyStatic(root = document) {
  document.documentElement.lang = lang;
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  root.querySelectorAll("[data-i18n-aria]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.i18nAria)); });
  document.title = `${t("app.title")} — CityOps`;
  const toggle = document.getElementById("lang-toggle");
  if (toggle) toggle.textContent = lang === "vi" ? "EN" : "VI";
}

export function setLang(next) {
  lang = next === "en" ? "en" : "vi";
  localStorage.setItem("cityops.lang", lang);
  applyStatic();
  listeners.forEach((fn) => fn(lang));
}
