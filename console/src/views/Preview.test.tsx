import { render } from "preact";
import { afterEach, describe, expect, it } from "vitest";
import type { Schemas } from "../api/client";
import { lang } from "../i18n";
import { Preview } from "./Preview";

const preview = {
  areas: [
    { code: "hue.kim-long", name: "Kim Long", coverage: "whole", topic: "area-hue.kim-long", by_topic: 1200, by_token: 0, by_sms: 3 },
    { code: "hue.phu-xuan", name: "Phú Xuân", coverage: "partial", topic: null, by_topic: 0, by_token: 45, by_sms: 0 },
  ],
  totals: { devices: 1245, by_topic: 1200, by_token: 45, by_sms: 3 },
  bleed_m: 161,
  computed_at: "2026-12-03T10:00:00.5Z",
  conditions: [],
  max_location_age_s: 86400,
  unattributed: {},
} as unknown as Schemas["PlanPreview"];

const wards = [
  { code: "hue.kim-long", name: "Kim Long", population: 25431, rings: [] },
  { code: "hue.phu-xuan", name: "Phú Xuân", population: 80000, rings: [] },
];

describe("the recipient preview", () => {
  afterEach(() => {
    document.body.innerHTML = "";
    lang.value = "vi";
  });

  it("shows Vietnamese numbers, coverage in words, and only whole wards' people", () => {
    const root = document.createElement("div");
    document.body.append(root);
    render(<Preview preview={preview} wards={wards} />, root);
    expect(root.querySelector("[data-testid=preview-devices]")?.textContent).toBe("1.245");
    expect(root.querySelector("[data-testid=preview-people]")?.textContent).toBe("25.431");
    expect(root.textContent).toContain("Kim Long (toàn bộ)");
    expect(root.textContent).toContain("Phú Xuân (một phần)");
    expect(root.querySelectorAll("th[scope=col]")).toHaveLength(4);
  });

  it("says what to do before an area is chosen, in the chosen language", () => {
    const root = document.createElement("div");
    document.body.append(root);
    lang.value = "en";
    render(<Preview preview={null} wards={[]} />, root);
    expect(root.textContent).toBe("Choose an area to see who it reaches.");
  });
});
