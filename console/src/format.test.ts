import { describe, expect, it } from "vitest";
import { formatAge, formatNumber, formatTime } from "./format";
import { bandWords } from "./i18n";

describe("formats", () => {
  it("shows instants in Huế's time whatever zone and precision they come in", () => {
    expect(formatTime("2026-12-03T10:30:00.123456+00:00", "vi")).toBe("17:30 03/12/2026");
    expect(formatTime("2026-12-03T17:30:00+07:00", "en")).toBe("17:30 03/12/2026");
    // Past midnight in Huế, still the day before in UTC.
    expect(formatTime("2026-12-03T17:05:00Z", "vi")).toBe("00:05 04/12/2026");
    expect(formatTime(null, "vi")).toBe("—");
  });

  it("writes numbers the Vietnamese way in vi", () => {
    expect(formatNumber(1430000, "vi")).toBe("1.430.000");
    expect(formatNumber(3.62, "vi", 2)).toBe("3,62");
    expect(formatNumber(1430000, "en")).toBe("1,430,000");
  });

  it("counts ages with sub-second instants", () => {
    const now = new Date("2026-12-03T10:00:59.900Z");
    expect(formatAge("2026-12-03T10:00:00.100Z", now, "vi")).toBe("59 giây");
    expect(formatAge("2026-12-03T09:57:00.000Z", now, "vi")).toBe("3 phút");
  });

  it("says báo động levels in words, never Roman numerals", () => {
    expect(bandWords(2, "vi")).toBe("báo động cấp hai");
    expect(bandWords(4, "vi")).toBe("báo động cấp ba");
    expect(bandWords(0, "vi")).toBe("dưới báo động");
    expect(bandWords(3, "en")).toBe("alarm level 3");
  });
});
