import { describe, expect, it } from "vitest";
import { draftBody, previewGeometry, type DraftForm } from "./draft";
import { PRESETS } from "./presets";

const preset = PRESETS[0]!;
const form: DraftForm = {
  category: preset.category,
  severity: preset.severity,
  urgency: preset.urgency,
  certainty: preset.certainty,
  responseType: preset.responseType,
  vi: preset.vi,
  en: preset.en,
  expiresHours: 6,
  areaDesc: "Kim Long và Phú Xuân",
  wardCodes: ["hue.kim-long"],
  polygon: [
    [16.45, 107.55],
    [16.45, 107.6],
    [16.5, 107.6],
  ],
};

describe("the composer's draft", () => {
  it("has a Vietnamese info block first, then English, sharing one area", () => {
    const body = draftBody(form, new Date("2026-12-03T10:00:00.250Z"));
    const [vi, en] = body.info ?? [];
    expect(vi?.language).toBe("vi-VN");
    expect(en?.language).toBe("en-US");
    expect(vi?.headline).toContain("báo động cấp ba");
    expect(vi?.expires).toBe("2026-12-03T16:00:00.250Z");
    expect(vi?.area?.[0]?.polygon?.[0]).toHaveLength(4);
    expect(vi?.area?.[0]?.geocode).toEqual([{ valueName: "ward", value: "hue.kim-long" }]);
    expect(en?.area).toEqual(vi?.area);
  });

  it("leaves the polygon out when none is drawn", () => {
    const body = draftBody({ ...form, polygon: null }, new Date());
    expect(body.info?.[0]?.area?.[0]).not.toHaveProperty("polygon");
  });

  it("previews the drawn polygon and the chosen wards together", () => {
    const ward: [number, number][] = [
      [16.4, 107.5],
      [16.4, 107.52],
      [16.42, 107.52],
    ];
    expect(previewGeometry(form.polygon, [])?.type).toBe("Polygon");
    const both = previewGeometry(form.polygon, [ward]);
    expect(both?.type).toBe("MultiPolygon");
    expect((both?.coordinates as unknown[]).length).toBe(2);
    expect(previewGeometry(null, [])).toBeNull();
  });
});
