import { describe, expect, it } from "vitest";
import { alarmLines, toColumns } from "./series";

describe("station series", () => {
  it("keeps QC-flagged points apart from the line, with sub-second times", () => {
    const c = toColumns([
      { t: "2026-12-03T10:00:00.250Z", value: 3.1, flag: 1 },
      { t: "2026-12-03T10:15:00Z", value: 9.9, flag: 4 },
      { t: "2026-12-03T10:30:00+07:00", value: 3.2, flag: 3 },
      { t: "not a time", value: 1, flag: 1 },
    ]);
    expect(c.times[0]).toBeCloseTo(Date.parse("2026-12-03T10:00:00Z") / 1000 + 0.25);
    expect(c.good).toEqual([3.1, null, null]);
    expect(c.flagged).toEqual([null, 9.9, 3.2]);
    expect(c.flaggedCount).toBe(2);
  });

  it("names only the báo động lines a station has", () => {
    expect(alarmLines({ bao_dong1: 1, bao_dong2: 2, bao_dong3: 3.5 }, "vi")).toEqual([
      ["BĐ một", 1],
      ["BĐ hai", 2],
      ["BĐ ba", 3.5],
    ]);
    expect(alarmLines({ bao_dong1: null, bao_dong2: null, bao_dong3: 4.5 }, "en")).toEqual([["Alarm 3", 4.5]]);
  });
});
