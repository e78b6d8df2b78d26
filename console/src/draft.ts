// The composer's form → a CAP-form draft (POST /api/v1/alerts) and a preview geometry.
import type { Schemas } from "./api/client";
import { toCapPolygon, toGeoJson, type LatLon } from "./geo";
import type { PresetText } from "./presets";

export interface DraftForm {
  category: string;
  severity: string;
  urgency: string;
  certainty: string;
  responseType: string[];
  vi: PresetText;
  en: PresetText;
  expiresHours: number;
  areaDesc: string;
  wardCodes: string[];
  polygon: LatLon[] | null;
}

/** The draft's body: a vi-VN and an en-US info block sharing the area and the CAP codes. */
export function draftBody(form: DraftForm, now: Date): Schemas["AlertBody"] {
  const expires = new Date(now.getTime() + form.expiresHours * 3_600_000).toISOString();
  const ring = form.polygon ? toCapPolygon(form.polygon) : null;
  const area: Schemas["CapArea"] = {
    areaDesc: form.areaDesc,
    ...(ring ? { polygon: [ring] } : {}),
    ...(form.wardCodes.length
      ? { geocode: form.wardCodes.map((value) => ({ valueName: "ward", value })) }
      : {}),
  };
  const info = (language: string, text: PresetText): Schemas["CapInfo"] => ({
    language,
    category: [form.category],
    event: text.event,
    urgency: form.urgency,
    severity: form.severity,
    certainty: form.certainty,
    responseType: form.responseType,
    expires,
    headline: text.headline,
    description: text.description,
    instruction: text.instruction,
    area: [area],
  });
  return { info: [info("vi-VN", form.vi), info("en-US", form.en)] };
}

export type Geometry = Record<string, unknown>;

/** What the preview is asked about: the drawn polygon and the chosen wards' outlines together. */
export function previewGeometry(polygon: LatLon[] | null, wardRings: LatLon[][]): Geometry | null {
  const polygons: [number, number][][][] = [];
  const drawn = polygon ? toGeoJson(polygon) : null;
  if (drawn) polygons.push(drawn.coordinates);
  for (const ring of wardRings) {
    const shape = toGeoJson(ring);
    if (shape) polygons.push(shape.coordinates);
  }
  if (!polygons.length) return null;
  if (polygons.length === 1) return { type: "Polygon", coordinates: polygons[0] };
  return { type: "MultiPolygon", coordinates: polygons };
}
