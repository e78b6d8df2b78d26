// Pure map logic: colours by severity, priority and báo động band; polygons between Leaflet's
// [lat, lon], GeoJSON's [lon, lat] and CAP's "lat,lon" pairs (closed, at least 4 pairs).

export type LatLon = [number, number];

const SEVERITY_RANK: Record<string, number> = {
  Extreme: 4,
  Severe: 3,
  Moderate: 2,
  Minor: 1,
};

export function severityRank(severity: string | null | undefined): number {
  return SEVERITY_RANK[severity ?? ""] ?? 0;
}

// Fill colours after the disaster-risk palette (QĐ 18/2021): purple, red, orange, yellow.
export const SEVERITY_COLOURS: Record<string, string> = {
  Extreme: "#7b1fa2",
  Severe: "#c62828",
  Moderate: "#ef6c00",
  Minor: "#f9a825",
};
export const NO_WARNING_COLOUR = "#90a4ae";

export interface ActiveWarning {
  identifier: string;
  severity: string;
  wardCodes: string[];
}

/** Each ward's most severe active warning. */
export function wardSeverities(warnings: ActiveWarning[]): Map<string, ActiveWarning> {
  const worst = new Map<string, ActiveWarning>();
  for (const warning of warnings) {
    for (const code of warning.wardCodes) {
      const held = worst.get(code);
      if (!held || severityRank(warning.severity) > severityRank(held.severity)) {
        worst.set(code, warning);
      }
    }
  }
  return worst;
}

export function wardColour(severity: string | undefined): string {
  return (severity && SEVERITY_COLOURS[severity]) || NO_WARNING_COLOUR;
}

// Báo động bands 0 (below BĐ I) to 4 (above the historic flood).
const BAND_COLOURS = ["#2e7d32", "#f9a825", "#ef6c00", "#c62828", "#7b1fa2"];

export function bandColour(band: number | null | undefined): string {
  if (band === null || band === undefined || band < 0) return "#546e7a";
  return BAND_COLOURS[Math.min(band, BAND_COLOURS.length - 1)] ?? "#546e7a";
}

const PRIORITY_RANK: Record<string, number> = { emergency: 4, high: 3, medium: 2, low: 1 };
export const PRIORITY_COLOURS: Record<string, string> = {
  emergency: "#b71c1c",
  high: "#e65100",
  medium: "#f9a825",
  low: "#1565c0",
};

export function priorityRank(priority: string): number {
  return PRIORITY_RANK[priority] ?? 0;
}

function closed(points: LatLon[]): LatLon[] {
  const ring = points.map(([lat, lon]) => [round(lat), round(lon)] as LatLon);
  const first = ring[0];
  const last = ring[ring.length - 1];
  if (first && last && (first[0] !== last[0] || first[1] !== last[1])) ring.push([first[0], first[1]]);
  return ring;
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

/** A drawn ring (Leaflet order) as a CAP polygon: [lat, lon] pairs, closed; null under 3 corners. */
export function toCapPolygon(points: LatLon[]): LatLon[] | null {
  const distinct = new Set(points.map(([lat, lon]) => `${round(lat)},${round(lon)}`));
  if (distinct.size < 3) return null;
  return closed(points);
}

export interface GeoPolygon {
  type: "Polygon";
  coordinates: [number, number][][];
}

/** The same ring as GeoJSON (lon, lat), for /api/v1/targeting/preview. */
export function toGeoJson(points: LatLon[]): GeoPolygon | null {
  const ring = toCapPolygon(points);
  if (!ring) return null;
  return { type: "Polygon", coordinates: [ring.map(([lat, lon]) => [lon, lat] as [number, number])] };
}

/** Every outer ring of a GeoJSON Polygon or MultiPolygon, as Leaflet [lat, lon] rings. */
export function outerRings(geometry: Record<string, unknown> | null | undefined): LatLon[][] {
  if (!geometry) return [];
  const coordinates = geometry.coordinates as unknown;
  const ringOf = (ring: unknown): LatLon[] =>
    (ring as [number, number][]).map(([lon, lat]) => [lat, lon] as LatLon);
  if (geometry.type === "Polygon") return [ringOf((coordinates as unknown[])[0])];
  if (geometry.type === "MultiPolygon") {
    return (coordinates as unknown[][]).map((polygon) => ringOf(polygon[0]));
  }
  return [];
}
