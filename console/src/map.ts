// Leaflet maps on a plain background (no tiles unless [console] tile_url is set), with the
// wards' outlines from the API.
import L from "leaflet";
import "leaflet/dist/leaflet.css";
import { api, unwrap } from "./api/client";
import { outerRings, type LatLon } from "./geo";

export interface ConsoleSettings {
  tile_url: string;
  tile_attribution: string;
}

let settings: Promise<ConsoleSettings> | null = null;

export function loadSettings(): Promise<ConsoleSettings> {
  settings ??= fetch("/console/config.json", { credentials: "same-origin" })
    .then((r) => r.json() as Promise<ConsoleSettings>)
    .catch(() => ({ tile_url: "", tile_attribution: "" }));
  return settings;
}

// Huế's province, for the first view before the wards arrive.
const HUE: L.LatLngExpression = [16.46, 107.59];

export async function createMap(element: HTMLElement): Promise<L.Map> {
  const map = L.map(element, { zoomControl: true, attributionControl: true, preferCanvas: true });
  map.setView(HUE, 10);
  const { tile_url, tile_attribution } = await loadSettings();
  if (tile_url) L.tileLayer(tile_url, { attribution: tile_attribution, maxZoom: 19 }).addTo(map);
  return map;
}

export interface Ward {
  code: string;
  name: string;
  population: number | null;
  rings: LatLon[][];
}

let wards: Promise<Ward[]> | null = null;

/** Every ward with its CAP outline (at most 250 points each), fetched once per page load
 * (one request per ward: no route answers every outline at once; fine for a province). */
export function loadWards(): Promise<Ward[]> {
  wards ??= (async () => {
    const list = await unwrap(api.GET("/api/v1/areas"));
    // Wards only: an area that is another's parent (the province) would cover them all.
    const parents = new Set(list.areas.map((a) => a.parent).filter((p): p is string => !!p));
    const details = await Promise.all(
      list.areas.filter((area) => !parents.has(area.code)).map((area) =>
        unwrap(api.GET("/api/v1/areas/{code}", { params: { path: { code: area.code } } })),
      ),
    );
    return details.map((d) => ({
      code: d.code,
      name: d.name,
      population: d.population,
      rings: outerRings(d.outline),
    }));
  })();
  wards.catch(() => {
    wards = null; // try again next time
  });
  return wards;
}

export function fitWards(map: L.Map, all: Ward[]): void {
  const points = all.flatMap((w) => w.rings.flat());
  if (points.length) map.fitBounds(L.latLngBounds(points), { padding: [8, 8] });
}
