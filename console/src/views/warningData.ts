// What the console reads out of an alert's answer (AlertView.alert is the CAP content).
import type { Schemas } from "../api/client";
import type { ActiveWarning } from "../geo";

export interface CapInfoLike {
  language?: string;
  event?: string;
  severity?: string;
  urgency?: string;
  certainty?: string;
  headline?: string;
  description?: string;
  instruction?: string;
  expires?: string | null;
  area?: { areaDesc?: string; polygon?: [number, number][][]; geocode?: { valueName: string; value: string }[] }[];
}

export function infos(view: Schemas["AlertView"]): CapInfoLike[] {
  const info = (view.alert as { info?: unknown }).info;
  return Array.isArray(info) ? (info as CapInfoLike[]) : [];
}

/** The wards a warning covers: its plan's areas, else its ward geocodes. */
export function wardCodesOf(view: Schemas["AlertView"]): string[] {
  const planned = (view.plan as { areas?: { code?: string }[] } | null)?.areas ?? [];
  const codes = new Set(planned.map((a) => a.code).filter((c): c is string => !!c));
  for (const info of infos(view)) {
    for (const area of info.area ?? []) {
      for (const g of area.geocode ?? []) if (g.valueName === "ward") codes.add(g.value);
    }
  }
  return [...codes];
}

export function activeWarning(view: Schemas["AlertView"]): ActiveWarning {
  const vi = infos(view).find((i) => i.language === "vi-VN") ?? infos(view)[0];
  return { identifier: view.identifier, severity: vi?.severity ?? "Unknown", wardCodes: wardCodesOf(view) };
}
