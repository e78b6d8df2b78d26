// Vietnamese first, English second: every text staff read comes from here.
import { signal } from "@preact/signals";

export type Lang = "vi" | "en";

const STORED = "canhbao.lang";

function initial(): Lang {
  try {
    return localStorage.getItem(STORED) === "en" ? "en" : "vi";
  } catch {
    return "vi";
  }
}

export const lang = signal<Lang>(initial());

export function setLang(value: Lang): void {
  lang.value = value;
  document.documentElement.lang = value;
  try {
    localStorage.setItem(STORED, value);
  } catch {
    // private mode: the choice lasts for this page only
  }
}

const WORDS = {
  appName: ["Bảng điều khiển cảnh báo", "Warning console"],
  login: ["Đăng nhập", "Log in"],
  logout: ["Đăng xuất", "Log out"],
  username: ["Tên đăng nhập", "Username"],
  password: ["Mật khẩu", "Password"],
  sessionEnded: ["Phiên làm việc đã hết, hãy đăng nhập lại.", "Your session has ended; log in again."],
  situation: ["Tình hình", "Situation"],
  warnings: ["Cảnh báo", "Warnings"],
  stations: ["Trạm đo", "Stations"],
  hotline: ["Tổng đài", "Hotline"],
  rescue: ["Cứu hộ", "Rescue"],
  phone: ["Điện thoại (mô phỏng)", "Phone (simulator)"],
  call: ["Gọi thử (mô phỏng)", "Call (simulator)"],
  needsPerson: ["Cần người xử lý ngay", "Needs a person now"],
  nothingWaiting: ["Không có việc nào đang chờ.", "Nothing is waiting."],
  draftsWaiting: ["Bản nháp chờ phê duyệt", "Drafts waiting for approval"],
  escalated: ["Yêu cầu cứu hộ bị chuyển cấp", "Escalated rescue requests"],
  callbacksExhausted: ["Gọi lại không thành công", "Callbacks exhausted"],
  failingSources: ["Nguồn dữ liệu đang lỗi", "Failing data sources"],
  openRequests: ["Yêu cầu cứu hộ đang mở", "Open rescue requests"],
  teams: ["Đội cứu hộ", "Rescue teams"],
  map: ["Bản đồ tỉnh", "Province map"],
  live: ["Trực tiếp", "Live"],
  offline: ["Mất kết nối trực tiếp, đang nối lại…", "Live link lost, reconnecting…"],
  newWarning: ["Soạn cảnh báo mới", "New warning"],
  state: ["Trạng thái", "State"],
  headline: ["Tiêu đề", "Headline"],
  author: ["Người soạn", "Author"],
  open: ["Mở", "Open"],
  template: ["Mẫu", "Template"],
  event: ["Sự kiện", "Event"],
  severity: ["Mức độ nghiêm trọng", "Severity"],
  urgency: ["Mức độ khẩn cấp", "Urgency"],
  certainty: ["Mức độ chắc chắn", "Certainty"],
  description: ["Mô tả", "Description"],
  instruction: ["Hướng dẫn người dân", "Instruction"],
  expiresHours: ["Hiệu lực (giờ)", "Valid for (hours)"],
  areaDesc: ["Tên vùng cảnh báo", "Area name"],
  area: ["Vùng cảnh báo", "Area"],
  areaHelp: [
    "Bấm vào phường/xã trên bản đồ để chọn, hoặc vẽ một đa giác.",
    "Click wards on the map to select them, or draw a polygon.",
  ],
  drawPolygon: ["Vẽ đa giác", "Draw a polygon"],
  clearArea: ["Xoá vùng", "Clear the area"],
  preview: ["Người nhận dự kiến", "Expected recipients"],
  previewEmpty: ["Chọn vùng để xem người nhận.", "Choose an area to see who it reaches."],
  devices: ["Thiết bị", "Devices"],
  byTopic: ["Qua chủ đề", "By topic"],
  byToken: ["Qua mã thiết bị", "By token"],
  bySms: ["Tin nhắn SMS", "SMS"],
  byVoice: ["Cuộc gọi thoại", "Voice calls"],
  people: ["Dân số trong vùng", "People in the area"],
  saveDraft: ["Lưu bản nháp", "Save the draft"],
  submit: ["Gửi phê duyệt", "Submit for approval"],
  approve: ["Phê duyệt", "Approve"],
  reject: ["Trả lại", "Reject"],
  rejectReason: ["Lý do trả lại", "Reason for rejecting"],
  issue: ["Phát cảnh báo", "Issue"],
  update: ["Cập nhật", "Update"],
  cancel: ["Huỷ cảnh báo", "Cancel the warning"],
  delivery: ["Kết quả gửi", "Delivery"],
  capXml: ["Bản tin CAP (XML)", "CAP message (XML)"],
  problems: ["Còn thiếu", "Still missing"],
  texts: ["Nội dung gửi đi", "The texts it sends"],
  progress: ["Tiến độ", "Progress"],
  sent: ["Đã gửi", "Sent"],
  failed: ["Lỗi", "Failed"],
  pending: ["Đang chờ", "Pending"],
  phoneIntro: [
    "Thông báo mà bộ gửi Local đã ghi lại cho từng thiết bị (không gửi đi thật).",
    "The notifications the Local push provider recorded, per device (nothing really sent).",
  ],
  device: ["Thiết bị", "Device"],
  noNotifications: ["Chưa có thông báo.", "No notifications yet."],
  dial: ["Gọi", "Dial"],
  hangup: ["Gác máy", "Hang up"],
  fromNumber: ["Số gọi đến", "Calling from"],
  prompts: ["Lời tổng đài đọc", "What the line says"],
  smsBox: ["Gửi tin nhắn SMS", "Send an SMS"],
  smsBody: ["Nội dung tin nhắn", "Message"],
  send: ["Gửi", "Send"],
  callsNow: ["Cuộc gọi hiện tại", "Calls now"],
  queue: ["Hàng chờ", "Queue"],
  operators: ["Điện thoại viên", "Operators"],
  onDuty: ["Đang trực", "On duty"],
  callLog: ["Nhật ký cuộc gọi", "Call log"],
  callbacks: ["Gọi lại", "Callbacks"],
  today: ["Hôm nay", "Today"],
  answered15: ["Trả lời trong 15 giây", "Answered within 15 s"],
  abandonment: ["Tỷ lệ bỏ máy", "Abandonment"],
  calls: ["Cuộc gọi", "Calls"],
  from: ["Từ số", "From"],
  status: ["Trạng thái", "Status"],
  waited: ["Đã chờ", "Waited"],
  received: ["Lúc gọi", "Received"],
  attempts: ["Số lần gọi", "Attempts"],
  empty: ["Không có.", "None."],
  loading: ["Đang tải…", "Loading…"],
  level: ["Mực nước", "Level"],
  band: ["Mức báo động", "Alarm level"],
  language: ["Ngôn ngữ", "Language"],
  priority: ["Ưu tiên", "Priority"],
  ward: ["Phường/xã", "Ward"],
  number: ["Số", "Number"],
  close: ["Đóng", "Close"],
  approvalOf: ["Phê duyệt cảnh báo", "Approve the warning"],
  cameras: ["Camera", "Cameras"],
  voicemail: ["Lời nhắn", "Voicemail"],
  noStill: ["Chưa có ảnh", "No still yet"],
  underWarning: ["Trong vùng cảnh báo", "Under a warning"],
  stillAge: ["Ảnh chụp cách đây", "Still age"],
  flags: ["Cờ chất lượng", "Quality flags"],
  since: ["từ", "since"],
} as const;

export type WordKey = keyof typeof WORDS;

export function t(key: WordKey): string {
  const pair = WORDS[key];
  return lang.value === "vi" ? pair[0] : pair[1];
}

/** Báo động bands as they are said: "báo động cấp hai", never "báo động II". */
export function bandWords(band: number | null | undefined, language: Lang): string {
  if (!band || band < 1) return language === "vi" ? "dưới báo động" : "below alarm levels";
  const spoken = ["một", "hai", "ba"][Math.min(band, 3) - 1];
  return language === "vi" ? `báo động cấp ${spoken}` : `alarm level ${Math.min(band, 3)}`;
}

const SEVERITY_WORDS: Record<string, [string, string]> = {
  Extreme: ["Cực kỳ nguy hiểm", "Extreme"],
  Severe: ["Nguy hiểm", "Severe"],
  Moderate: ["Đáng kể", "Moderate"],
  Minor: ["Nhẹ", "Minor"],
  Unknown: ["Chưa rõ", "Unknown"],
};

export function severityWords(value: string, language: Lang): string {
  const pair = SEVERITY_WORDS[value];
  return pair ? pair[language === "vi" ? 0 : 1] : value;
}

const STATE_WORDS: Record<string, [string, string]> = {
  draft: ["Bản nháp", "Draft"],
  submitted: ["Chờ phê duyệt", "Submitted"],
  approved: ["Đã duyệt", "Approved"],
  issued: ["Đã phát", "Issued"],
  rejected: ["Bị trả lại", "Rejected"],
  withdrawn: ["Đã rút", "Withdrawn"],
  superseded: ["Đã thay thế", "Superseded"],
  cancelled: ["Đã huỷ", "Cancelled"],
  expired: ["Hết hiệu lực", "Expired"],
};

export function stateWords(value: string, language: Lang): string {
  const pair = STATE_WORDS[value];
  return pair ? pair[language === "vi" ? 0 : 1] : value;
}
