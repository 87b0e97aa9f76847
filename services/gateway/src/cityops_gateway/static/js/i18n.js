// Vietnamese first (the default); English via the toggle, remembered in localStorage.
const STRINGS = {
  vi: {
    "app.title": "Trung tâm Điều hành Thông minh",
    "app.subtitle": "Bảng điều hành sự cố thời gian thực",
    "live.on": "Trực tuyến", "live.connecting": "Đang kết nối…", "live.off": "Mất kết nối, đang thử lại…",
    "live.offline": "NGOẠI TUYẾN — đang hiện dữ liệu cuối cùng", "offline.waiting": "thao tác chờ gửi",
    "offline.queued": "Mất mạng: thao tác được giữ lại, sẽ gửi khi có mạng", "offline.sent": "Đã gửi thao tác chờ:",
    "offline.refused": "Thao tác chờ bị từ chối",
    "auth.title": "Đăng nhập điều hành viên", "auth.username": "Tên đăng nhập", "auth.password": "Mật khẩu",
    "auth.submit": "Đăng nhập", "auth.logout": "Đăng xuất", "auth.failed": "Sai tên đăng nhập hoặc mật khẩu",
    "queue.title": "Hàng đợi sự cố", "queue.empty": "Không có sự cố đang mở",
    "queue.due": "Hạn", "queue.breached": "Quá hạn", "queue.reports": "báo cáo",
    "queue.search": "Tìm sự cố (không cần dấu)…", "queue.matching": "sự cố khớp", "queue.above": "sự cố phía trên",
    "queue.below": "sự cố nữa phía dưới", "queue.loading": "đang tải", "kpi.overdue": "Đang quá hạn", "kpi.ack": "Tiếp nhận (trung vị)", "kpi.scene": "Báo → hiện trường (trung vị)",
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
    "detail.transition": "Chuyển trạng thái", "detail.apply": "Áp dụng", "detail.reason": "Lý do (bắt buộc khi hủy hoặc trùng lặp)",
    "detail.no_candidates": "Không có đơn vị phù hợp đang sẵn sàng", "detail.assignments": "Đơn vị đã điều động",
    "action.acknowledge": "Tiếp nhận", "action.done": "Đã cập nhật", "action.forbidden": "Vai trò của bạn không được phép",
    "action.IncidentReported": "Tiếp nhận", "action.IncidentMerged": "Gộp báo cáo",
    "action.IncidentTransitioned": "Chuyển trạng thái", "action.IncidentEscalated": "Nâng mức ưu tiên",
    "action.NoteAdded": "Ghi chú", "action.SensorAlertCleared": "Cảm biến hết cảnh báo", "action.IncidentUpdated": "Cập nhật",
    "p1.announce": "SỰ CỐ KHẨN CẤP P1", "p1.dismiss": "Đã biết",
    "intake.title": "Tiếp nhận cuộc gọi", "intake.category": "Loại sự cố", "intake.sub": "Chi tiết",
    "intake.sub_none": "(không chọn)", "intake.description": "Mô tả của người gọi", "intake.phone": "Số điện thoại người gọi",
    "intake.address": "Địa chỉ (tìm trong danh bạ địa chỉ)", "intake.where_none": "Chưa có vị trí: tìm địa chỉ hoặc bấm vào bản đồ",
    "intake.where": "Vị trí", "intake.submit": "Tạo sự cố mới", "intake.reset": "Cuộc gọi mới",
    "intake.nearby": "Sự cố đang mở gần đó", "intake.nearby_none": "Không có sự cố đang mở gần vị trí này",
    "intake.history": "Người gọi đã báo trước đây", "intake.history_none": "Chưa có phản ánh nào từ số này",
    "intake.attach": "Gộp cuộc gọi vào sự cố này", "intake.created": "Đã tạo sự cố", "intake.attached": "Đã gộp cuộc gọi vào",
    "intake.need_location": "Cần vị trí: tìm địa chỉ hoặc bấm vào bản đồ", "intake.picked": "điểm chọn trên bản đồ",
    "intake.ago": "trước", "intake.score": "độ khớp",
    "cap.title": "Cảnh báo CAP", "cap.new": "Soạn cảnh báo mới", "cap.draft": "Lưu bản nháp (chờ duyệt)",
    "cap.list": "Cảnh báo", "cap.headline": "Tiêu đề (tiếng Việt)", "cap.headline_en": "Tiêu đề tiếng Anh (không bắt buộc)",
    "cap.description": "Nội dung", "cap.instruction": "Hướng dẫn người dân", "cap.area": "Khu vực (phường, xã, đường trong danh bạ địa chỉ)", "cap.radius": "Bán kính vùng cảnh báo (km)",
    "cap.severity": "Mức nghiêm trọng", "cap.sev.EXTREME": "Cực kỳ nghiêm trọng", "cap.sev.SEVERE": "Nghiêm trọng",
    "cap.sev.MODERATE": "Trung bình", "cap.sev.MINOR": "Nhẹ", "cap.approve": "Duyệt và phát hành",
    "cap.needs_second": "Chờ trưởng ca khác duyệt", "cap.update": "Cập nhật", "cap.cancel": "Hủy cảnh báo",
    "cap.reason": "Lý do hủy", "cap.send_update": "Gửi bản cập nhật (chờ duyệt)", "cap.author": "Người soạn",
    "cap.approver": "Người duyệt", "cap.none": "Chưa có cảnh báo", "cap.drafted": "Đã lưu bản nháp, chờ duyệt",
    "cap.published": "Đã phát hành cảnh báo", "cap.cancel_sent": "Đã gửi yêu cầu hủy", "cap.update_sent": "Đã gửi bản cập nhật",
    "cap.refused": "Không thực hiện được",
    "cap.state.DRAFT": "Bản nháp", "cap.state.PUBLISHED": "Đã phát hành", "cap.state.CANCELLED": "Đã hủy",
    "cap.state.SUPERSEDED": "Đã được thay thế", "cap.type.ALERT": "Cảnh báo", "cap.type.UPDATE": "Cập nhật",
    "cap.type.CANCEL": "Hủy",
    "sla.title": "Bảng SLA", "sla.overdue": "quá hạn", "sla.soon": "sắp đến hạn (15 phút)", "sla.escalated": "đã nâng mức",
    "sla.escalated_one": "nâng mức", "sla.none": "Không có sự cố quá hạn hay sắp đến hạn",
    "units.all_agencies": "Mọi cơ quan", "units.all_statuses": "Mọi trạng thái", "units.filter_agency": "Lọc theo cơ quan",
    "units.filter_status": "Lọc theo trạng thái",
    "duplicate.of": "Trùng với sự cố", "duplicate.reason": "Trùng với sự cố", "duplicate.search": "Tìm số hiệu, loại, địa điểm…",
    "duplicate.pick_first": "Chọn sự cố còn giữ lại trước", "detail.auto": "tự động", "action.other": "Thay đổi khác",
    "role.operator": "Điều hành viên", "role.dispatcher": "Điều phối viên", "role.supervisor": "Trưởng ca",
    "role.call_taker": "Tổng đài viên", "role.admin": "Quản trị",
    "eta": "ETA", "km": "km", "min": "phút",
  },
  en: {
    "app.title": "Intelligent Operations Center",
    "app.subtitle": "Real-time incident console",
    "live.on": "Live", "live.connecting": "Connecting…", "live.off": "Disconnected, retrying…",
    "live.offline": "OFFLINE — showing the last known state", "offline.waiting": "actions waiting",
    "offline.queued": "Offline: the action is kept and will be sent when the network is back", "offline.sent": "Sent waiting action:",
    "offline.refused": "A waiting action was refused",
    "auth.title": "Operator sign-in", "auth.username": "Username", "auth.password": "Password",
    "auth.submit": "Sign in", "auth.logout": "Sign out", "auth.failed": "Wrong username or password",
    "queue.title": "Incident queue", "queue.empty": "No open incidents",
    "queue.due": "Due", "queue.breached": "Overdue", "queue.reports": "reports",
    "queue.search": "Search incidents (accents optional)…", "queue.matching": "matching", "queue.above": "above",
    "queue.below": "more below", "queue.loading": "loading", "kpi.overdue": "Overdue now", "kpi.ack": "Time to acknowledge (median)", "kpi.scene": "Report → on scene (median)",
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
    "detail.transition": "Change status", "detail.apply": "Apply", "detail.reason": "Reason (required to cancel or mark duplicate)",
    "detail.no_candidates": "No suitable unit is available", "detail.assignments": "Assigned units",
    "action.acknowledge": "Acknowledge", "action.done": "Updated", "action.forbidden": "Your role may not do this",
    "action.IncidentReported": "Reported", "action.IncidentMerged": "Report merged",
    "action.IncidentTransitioned": "Status changed", "action.IncidentEscalated": "Escalated",
    "action.NoteAdded": "Note", "action.SensorAlertCleared": "Sensor alert cleared", "action.IncidentUpdated": "Updated",
    "p1.announce": "P1 EMERGENCY", "p1.dismiss": "Got it",
    "intake.title": "Call intake", "intake.category": "Category", "intake.sub": "Subcategory",
    "intake.sub_none": "(none)", "intake.description": "Caller's description", "intake.phone": "Caller's phone",
    "intake.address": "Address (gazetteer search)", "intake.where_none": "No location yet: search an address or click the map",
    "intake.where": "Location", "intake.submit": "Create new incident", "intake.reset": "New call",
    "intake.nearby": "Open incidents nearby", "intake.nearby_none": "No open incident near this point",
    "intake.history": "This caller's earlier reports", "intake.history_none": "No earlier report from this number",
    "intake.attach": "Attach the call to this incident", "intake.created": "Incident created", "intake.attached": "Call attached to",
    "intake.need_location": "A location is needed: search an address or click the map", "intake.picked": "point picked on the map",
    "intake.ago": "ago", "intake.score": "match",
    "cap.title": "CAP alerts", "cap.new": "Draft a new alert", "cap.draft": "Save draft (needs approval)",
    "cap.list": "Alerts", "cap.headline": "Headline (Vietnamese)", "cap.headline_en": "Headline in English (optional)",
    "cap.description": "Description", "cap.instruction": "Instruction to the public", "cap.area": "Area (ward, commune or street in the gazetteer)", "cap.radius": "Warning radius (km)",
    "cap.severity": "Severity", "cap.sev.EXTREME": "Extreme", "cap.sev.SEVERE": "Severe",
    "cap.sev.MODERATE": "Moderate", "cap.sev.MINOR": "Minor", "cap.approve": "Approve and publish",
    "cap.needs_second": "Waiting for another supervisor", "cap.update": "Update", "cap.cancel": "Cancel alert",
    "cap.reason": "Reason to cancel", "cap.send_update": "Send update (needs approval)", "cap.author": "Author",
    "cap.approver": "Approver", "cap.none": "No alerts yet", "cap.drafted": "Draft saved, waiting for approval",
    "cap.published": "Alert published", "cap.cancel_sent": "Cancellation sent", "cap.update_sent": "Update sent",
    "cap.refused": "Not possible",
    "cap.state.DRAFT": "Draft", "cap.state.PUBLISHED": "Published", "cap.state.CANCELLED": "Cancelled",
    "cap.state.SUPERSEDED": "Superseded", "cap.type.ALERT": "Alert", "cap.type.UPDATE": "Update", "cap.type.CANCEL": "Cancel",
    "sla.title": "SLA board", "sla.overdue": "overdue", "sla.soon": "due within 15 min", "sla.escalated": "escalated",
    "sla.escalated_one": "escalated", "sla.none": "Nothing overdue or due soon",
    "units.all_agencies": "All agencies", "units.all_statuses": "All statuses", "units.filter_agency": "Filter by agency",
    "units.filter_status": "Filter by status",
    "duplicate.of": "Duplicate of", "duplicate.reason": "Duplicate of", "duplicate.search": "Search number, type, place…",
    "duplicate.pick_first": "Pick the surviving incident first", "detail.auto": "automatic", "action.other": "Other change",
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
    escalation: { REPORT_COUNT: "nhiều người báo", MANUAL: "điều hành viên chỉ định", SENSOR_LEVEL: "mức cảm biến",
                  SLA_BREACH: "quá hạn", REOPENED: "mở lại" },
    source: { HOTLINE_1022: "Tổng đài 1022", CITIZEN_APP: "Ứng dụng người dân", OPEN311: "Open311", SENSOR: "Cảm biến",
              CAD_INTEGRATION: "Hệ thống CAD", OPERATOR: "Điều hành viên" },
    assignment: { ASSIGNED: "Đã giao", ACKNOWLEDGED: "Đơn vị đã nhận", EN_ROUTE: "Đang di chuyển", ON_SCENE: "Tại hiện trường",
                  CLEARED: "Hoàn thành", DECLINED: "Đơn vị từ chối", TIMED_OUT: "Quá hạn xác nhận", CANCELLED: "Đã hủy" },
    sub: { o_ga_mat_duong: "Ổ gà mặt đường", den_duong_hong: "Đèn đường hỏng", den_tin_hieu_hong: "Đèn tín hiệu hỏng",
           cay_xanh_gay_do: "Cây xanh gãy đổ", rac_thai: "Rác thải", ngap_duong: "Ngập đường", ngap_sau: "Ngập sâu",
           tac_cong_thoat_nuoc: "Tắc cống thoát nước", o_nhiem_khong_khi: "Ô nhiễm không khí",
           o_nhiem_nguon_nuoc: "Ô nhiễm nguồn nước", tieng_on: "Tiếng ồn", mat_dien: "Mất điện", mat_nuoc: "Mất nước",
           day_dien_dut: "Dây điện đứt", va_cham_nhe: "Va chạm nhẹ", tai_nan_lien_hoan: "Tai nạn liên hoàn",
           mat_trat_tu_cong_cong: "Mất trật tự công cộng", phan_anh_thu_tuc: "Phản ánh thủ tục",
           chay_nha_xuong: "Cháy nhà xưởng", chay_nha_dan: "Cháy nhà dân", khac: "Khác", mua_lon: "Mưa lớn",
           khoi_chay: "Khói, cháy", nhiet_do_cao: "Nhiệt độ cao", bui_min: "Bụi mịn", un_tac: "Ùn tắc",
           ngung_tho: "Ngưng thở", dot_quy: "Đột quỵ", tim_mach: "Tim mạch", duoi_nuoc: "Đuối nước",
           danh_nhau: "Đánh nhau", cuop: "Cướp", trom: "Trộm", chay_kho_hang: "Cháy kho hàng", chay_xe: "Cháy xe",
           chay_rung: "Cháy rừng" },
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
    escalation: { REPORT_COUNT: "more callers", MANUAL: "by an operator", SENSOR_LEVEL: "sensor level",
                  SLA_BREACH: "deadline passed", REOPENED: "reopened" },
    source: { HOTLINE_1022: "Hotline 1022", CITIZEN_APP: "Citizen app", OPEN311: "Open311", SENSOR: "Sensor",
              CAD_INTEGRATION: "CAD system", OPERATOR: "Operator" },
    assignment: { ASSIGNED: "Assigned", ACKNOWLEDGED: "Unit acknowledged", EN_ROUTE: "En route", ON_SCENE: "On scene",
                  CLEARED: "Cleared", DECLINED: "Declined by unit", TIMED_OUT: "Not acknowledged in time", CANCELLED: "Cancelled" },
    sub: { o_ga_mat_duong: "Pothole", den_duong_hong: "Street light out", den_tin_hieu_hong: "Traffic light out",
           cay_xanh_gay_do: "Fallen tree", rac_thai: "Rubbish", ngap_duong: "Flooded road", ngap_sau: "Deep flooding",
           tac_cong_thoat_nuoc: "Blocked drain", o_nhiem_khong_khi: "Air pollution",
           o_nhiem_nguon_nuoc: "Water pollution", tieng_on: "Noise", mat_dien: "Power cut", mat_nuoc: "Water cut",
           day_dien_dut: "Downed power line", va_cham_nhe: "Minor collision", tai_nan_lien_hoan: "Pile-up",
           mat_trat_tu_cong_cong: "Public disorder", phan_anh_thu_tuc: "Procedure complaint",
           chay_nha_xuong: "Factory fire", chay_nha_dan: "House fire", khac: "Other", mua_lon: "Heavy rain",
           khoi_chay: "Smoke, fire", nhiet_do_cao: "High temperature", bui_min: "Fine dust", un_tac: "Traffic jam",
           ngung_tho: "Not breathing", dot_quy: "Stroke", tim_mach: "Cardiac", duoi_nuoc: "Drowning",
           danh_nhau: "Fight", cuop: "Robbery", trom: "Theft", chay_kho_hang: "Warehouse fire", chay_xe: "Vehicle fire",
           chay_rung: "Forest fire" },
  },
};

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
  return out.replace(/\b[a-z]+(?:_[a-z]+)+\b/g, (code) => (ENUMS[lang].sub[code] ? label("sub", code) : code));
}

// The subcategories a call-taker picks from, per category (codes of rules.yaml routing.subcategories).
export const SUBCATEGORIES = {
  FIRE: ["chay_nha_dan", "chay_nha_xuong", "chay_kho_hang", "chay_xe", "chay_rung", "khoi_chay"],
  EMERGENCY_MEDICAL: ["ngung_tho", "dot_quy", "tim_mach", "duoi_nuoc"],
  SECURITY: ["danh_nhau", "cuop", "trom", "mat_trat_tu_cong_cong"],
  TRAFFIC_ACCIDENT: ["va_cham_nhe", "tai_nan_lien_hoan", "un_tac"],
  FLOOD: ["ngap_duong", "ngap_sau", "mua_lon", "tac_cong_thoat_nuoc"],
  FIELD_REPORT: ["o_ga_mat_duong", "cay_xanh_gay_do", "den_duong_hong", "den_tin_hieu_hong", "rac_thai", "tac_cong_thoat_nuoc"],
  ENVIRONMENT: ["o_nhiem_khong_khi", "o_nhiem_nguon_nuoc", "tieng_on", "bui_min"],
  UTILITY_OUTAGE: ["mat_dien", "mat_nuoc", "day_dien_dut"],
  ADMINISTRATIVE_PROCEDURE: ["phan_anh_thu_tuc"],
  OTHER: ["khac"],
};
export const CATEGORIES = Object.keys(SUBCATEGORIES);

let lang = localStorage.getItem("cityops.lang") === "en" ? "en" : "vi";
const listeners = [];

export function getLang() { return lang; }
// The city's title per language, put into the page by the gateway (city.yaml `branding.title`).
const CITY_TITLE = (() => {
  try { return JSON.parse(document.querySelector('meta[name="cityops-city-title"]')?.content || "{}"); }
  catch { return {}; }
})();
export function t(key) {
  if (key === "app.title" && (CITY_TITLE[lang] || Object.values(CITY_TITLE)[0])) return CITY_TITLE[lang] || Object.values(CITY_TITLE)[0];
  return STRINGS[lang][key] ?? STRINGS.vi[key] ?? key;
}
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
