import { describe, expect, it } from "vitest";
import {
  NO_WARNING_COLOUR,
  SEVERITY_COLOURS,
  bandColour,
  outerRings,
  toCapPolygon,
  toGeoJson,
  wardColour,
  wardSeverities,
} from "./geo";

describe("ward colours", () => {
  it("takes the most severe active warning of each ward", () => {
    const worst = wardSeverities([
      { identifier: "a", severity: "Moderate", wardCodes: ["hue.kim-long", "hue.phu-xuan"] },
      { identifier: "b", severity: "Severe", wardCodes: ["hue.kim-long"] },
      { identifier: "c", severity: "Minor", wardCodes: ["hue.kim-long", "hue.thuan-an"] },
    ]);
    expect(worst.get("hue.kim-long")?.identifier).toBe("b");
    expect(worst.get("hue.phu-xuan")?.identifier).toBe("a");
    expect(worst.get("hue.thuan-an")?.identifier).toBe("c");
    expect(wardColour(worst.get("hue.kim-long")?.severity)).toBe(SEVERITY_COLOURS.Severe);
    expect(wardColour(undefined)).toBe(NO_WARNING_COLOUR);
  });

  it("colours bands below BĐ I to above the historic flood, and an unknown band grey", () => {
    expect(new Set([0, 1, 2, 3, 4].map(bandColour)).size).toBe(5);
    expect(bandColour(9)).toBe(bandColour(4));
    expect(bandColour(null)).toBe("#546e7a");
  });
});

describe("polygons", () => {
  const drawn: [number, number][] = [
    [16.45, 107.55],
    [16.45, 107.6],
    [16.5, 107.6],
  ];

  it("closes a drawn ring into a CAP polygon of lat,lon pairs", () => {
    expect(toCapPolygon(drawn)).toEqual([...drawn, [16.45, 107.55]]);
  });

  it("keeps a ring already closed as it is, and refuses fewer than 3 corners", () => {
    const ring = toCapPolygon([...drawn, [16.45, 107.55]]);
    expect(ring).toHaveLength(4);
    expect(toCapPolygon([drawn[0]!, drawn[1]!, drawn[0]!])).toBeNull();
  });

  it("turns the ring into GeoJSON lon,lat order for the preview", () => {
    expect(toGeoJson(drawn)?.coordinates[0]?.[0]).toEqual([107.55, 16.45]);
  });

  it("reads outer rings of polygons and multipolygons as lat,lon", () => {
    const square = [
      [107.5, 16.4],
      [107.6, 16.4],
      [107.6, 16.5],
      [107.5, 16.4],
    ];
    expect(outerRings({ type: "Polygon", coordinates: [square] })[0]?.[0]).toEqual([16.4, 107.5]);
    expect(outerRings({ type: "MultiPolygon", coordinates: [[square], [square]] })).toHaveLength(2);
    expect(outerRings({ type: "Point", coordinates: [1, 2] })).toEqual([]);
  });
});
