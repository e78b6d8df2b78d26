// Dates in Asia/Ho_Chi_Minh whatever the browser's zone; numbers in the chosen language's format.
import type { Lang } from "./i18n";

export const ZONE = "Asia/Ho_Chi_Minh";

const LOCALES: Record<Lang, string> = { vi: "vi-VN", en: "en-GB" };

export function formatNumber(value: number, lang: Lang, digits = 0): string {
  return new Intl.NumberFormat(LOCALES[lang], {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(value);
}

export function formatPercent(share: number, lang: Lang): string {
  return new Intl.NumberFormat(LOCALES[lang], { style: "percent", maximumFractionDigits: 0 }).format(
    share,
  );
}

/** "17:30 03/12/2026" in Huế's time, from an RFC 3339 instant (any zone, any precision). */
export function formatTime(iso: string | null | undefined, lang: Lang): string {
  if (!iso) return "—";
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return iso;
  const parts = new Intl.DateTimeFormat(LOCALES[lang], {
    timeZone: ZONE,
    hour: "2-digit",
    minute: "2-digit",
    day: "2-digit",
    month: "2-digit",
    year: "numeric",
    hourCycle: "h23",
  }).formatToParts(when);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  return `${get("hour")}:${get("minute")} ${get("day")}/${get("month")}/${get("year")}`;
}

/** How long ago, in whole minutes or seconds ("3 phút", "45 giây"). */
export function formatAge(iso: string | null | undefined, now: Date, lang: Lang): string {
  if (!iso) return "—";
  const seconds = Math.max(0, Math.floor((now.getTime() - new Date(iso).getTime()) / 1000));
  if (seconds < 60) return lang === "vi" ? `${seconds} giây` : `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return lang === "vi" ? `${minutes} phút` : `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return lang === "vi" ? `${formatNumber(hours, lang)} giờ` : `${formatNumber(hours, lang)} h`;
}
