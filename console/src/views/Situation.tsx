// Situation: the province's map (wards by their most severe warning, stations by band, open
// rescue requests by priority, teams) and what needs a person now.
import L from "leaflet";
import { useEffect, useRef } from "preact/hooks";
import { api, hasRole, unwrap, type Schemas } from "../api/client";
import { Link } from "../App";
import { formatAge, formatNumber } from "../format";
import {
  PRIORITY_COLOURS,
  SEVERITY_COLOURS,
  bandColour,
  priorityRank,
  wardColour,
  wardSeverities,
  type ActiveWarning,
} from "../geo";
import { useLoad, useNow } from "../hooks";
import { bandWords, lang, severityWords, t } from "../i18n";
import { createMap, fitWards, loadWards, type Ward } from "../map";
import { activeWarning } from "./warningData";
import { ErrorNote } from "./parts";
import { flagWords } from "./Cameras";

interface Picture {
  wards: Ward[];
  warnings: ActiveWarning[];
  stations: Schemas["StationView"][];
  requests: Schemas["RequestView"][];
  teams: Schemas["TeamView"][];
  cameras: Schemas["CameraView"][];
}

async function loadPicture(): Promise<Picture> {
  const issued = await unwrap(api.GET("/api/v1/alerts", { params: { query: { state: "issued" } } }));
  const [wards, details, stations, requests, teams, cameras] = await Promise.all([
    loadWards(),
    Promise.all(
      issued.alerts.map((a) =>
        unwrap(api.GET("/api/v1/alerts/{identifier}", { params: { path: { identifier: a.identifier } } })),
      ),
    ),
    unwrap(api.GET("/api/v1/stations")).then((s) => s.stations),
    hasRole("operator", "dispatcher")
      ? unwrap(api.GET("/api/v1/dispatch/requests/open")).then((r) => r.rescue_requests)
      : Promise.resolve([]),
    hasRole("operator", "dispatcher")
      ? unwrap(api.GET("/api/v1/dispatch/teams")).then((r) => r.teams)
      : Promise.resolve([]),
    unwrap(api.GET("/api/v1/cameras")).then((r) => r.cameras),
  ]);
  return { wards, warnings: details.map(activeWarning), stations, requests, teams, cameras };
}

function pointOf(location: unknown): [number, number] | null {
  const l = location as { lat?: number; lon?: number } | null;
  return l && typeof l.lat === "number" && typeof l.lon === "number" ? [l.lat, l.lon] : null;
}

export function drawPicture(map: L.Map, layer: L.LayerGroup, picture: Picture): void {
  layer.clearLayers();
  const language = lang.value;
  const worst = wardSeverities(picture.warnings);
  for (const ward of picture.wards) {
    const warning = worst.get(ward.code);
    const polygon = L.polygon(ward.rings, {
      color: "#37474f",
      weight: 1,
      fillColor: wardColour(warning?.severity),
      fillOpacity: warning ? 0.55 : 0.15,
    });
    const label = warning
      ? `${ward.name}: ${severityWords(warning.severity, language)}`
      : ward.name;
    polygon.bindTooltip(label);
    polygon.addTo(layer);
  }
  for (const station of picture.stations) {
    const band = station.water_level?.band ?? null;
    const value = station.water_level?.value;
    const text =
      value === null || value === undefined
        ? station.name
        : `${station.name}: ${formatNumber(value, language, 2)} m, ${bandWords(band, language)}`;
    L.circleMarker([station.lat, station.lon], {
      radius: 8,
      color: "#102027",
      weight: 2,
      fillColor: bandColour(band),
      fillOpacity: 1,
    })
      .bindTooltip(text)
      .addTo(layer);
  }
  const requests = [...picture.requests].sort((a, b) => priorityRank(a.priority) - priorityRank(b.priority));
  for (const request of requests) {
    const at = pointOf(request.location);
    if (!at) continue;
    L.circleMarker(at, {
      radius: 5,
      color: "#fff",
      weight: 1,
      fillColor: PRIORITY_COLOURS[request.priority] ?? "#455a64",
      fillOpacity: 0.95,
    })
      .bindTooltip(`${request.number} · ${request.priority} · ${request.state}`)
      .addTo(layer);
  }
  for (const camera of picture.cameras) {
    const flagged = camera.flags.length > 0;
    L.marker([camera.lat, camera.lon], {
      icon: L.divIcon({ className: flagged ? "camera-icon flagged" : "camera-icon", html: "📷", iconSize: [20, 20] }),
      title: flagged
        ? `${camera.name}: ${camera.flags.map((f) => flagWords(f.flag, language)).join(", ")}`
        : camera.name,
      keyboard: false,
    }).addTo(layer);
  }
  for (const team of picture.teams) {
    const at = team.last_position ? [team.last_position.lat, team.last_position.lon] : pointOf(team.base);
    if (!at) continue;
    L.marker(at as [number, number], {
      icon: L.divIcon({ className: "team-icon", html: "⛵", iconSize: [20, 20] }),
      title: team.name,
      keyboard: false,
    }).addTo(layer);
  }
}

function NeedsPerson() {
  const now = useNow(30_000);
  const language = lang.value;
  const drafts = useLoad(
    () =>
      hasRole("approver")
        ? unwrap(api.GET("/api/v1/alerts", { params: { query: { state: "submitted" } } })).then((r) => r.alerts)
        : Promise.resolve([]),
    [],
    ["alert"],
  );
  const escalations = useLoad(
    () =>
      hasRole("operator", "dispatcher")
        ? unwrap(api.GET("/api/v1/dispatch/escalations")).then((r) => r.escalations)
        : Promise.resolve([]),
    [],
    ["rescue"],
  );
  const callbacks = useLoad(
    () =>
      hasRole("operator", "dispatcher")
        ? unwrap(api.GET("/api/v1/hotline/callbacks", { params: { query: { status: "exhausted" } } })).then(
            (r) => r.callbacks,
          )
        : Promise.resolve([]),
    [],
    ["callback"],
  );
  const sources = useLoad(
    () => unwrap(api.GET("/api/v1/feeds/sources")).then((r) => r.sources.filter((s) => s.status === "failing")),
    [],
    ["source"],
  );
  const total =
    (drafts.data?.length ?? 0) +
    (escalations.data?.length ?? 0) +
    (callbacks.data?.length ?? 0) +
    (sources.data?.length ?? 0);
  return (
    <aside class="sidebar" aria-labelledby="needs-title">
      <h2 id="needs-title">{t("needsPerson")}</h2>
      {[drafts, escalations, callbacks, sources].map((l, i) => (
        <ErrorNote key={i} error={l.error} />
      ))}
      {total === 0 && <p>{t("nothingWaiting")}</p>}
      {!!drafts.data?.length && (
        <section>
          <h3>{t("draftsWaiting")}</h3>
          <ul>
            {drafts.data.map((a) => (
              <li key={a.identifier}>
                <Link href={`/warnings/${encodeURIComponent(a.identifier)}`}>{a.headline || a.identifier}</Link>
                <span class="muted"> — {a.author}</span>
              </li>
            ))}
          </ul>
        </section>
      )}
      {!!escalations.data?.length && (
        <section>
          <h3>{t("escalated")}</h3>
          <ul>
            {escalations.data.map((e) => (
              <li key={e.request_id}>
                #{e.request_id} · {e.reason} · {formatAge(e.escalated_at, now, language)}
              </li>
            ))}
          </ul>
        </section>
      )}
      {!!callbacks.data?.length && (
        <section>
          <h3>{t("callbacksExhausted")}</h3>
          <ul>
            {callbacks.data.map((c) => (
              <li key={c.id}>
                {c.phone} · {c.attempts} {t("attempts").toLowerCase()}
              </li>
            ))}
          </ul>
        </section>
      )}
      {!!sources.data?.length && (
        <section>
          <h3>{t("failingSources")}</h3>
          <ul>
            {sources.data.map((s) => (
              <li key={s.name}>
                {s.name}: {s.last_error}
              </li>
            ))}
          </ul>
        </section>
      )}
    </aside>
  );
}

/** The performance mark set when the situation map is first drawn with everything on it. */
export const MAP_DRAWN = "canhbao:situation-map-drawn";

export function Situation() {
  const holder = useRef<HTMLDivElement>(null);
  const mapRef = useRef<{ map: L.Map; layer: L.LayerGroup; fitted: boolean } | null>(null);
  const picture = useLoad(loadPicture, [], ["alert.issued", "alert.updated", "alert.cancelled", "alert.expired", "station", "rescue", "camera"]);
  // The latest data, for the map's creation below: its callback runs after the first render,
  // and when the data came first, that render's `picture` is stale (null) and the map stayed
  // empty until the next change (seen in bench console: no mark in 120 s).
  const latest = useRef<Picture | null>(null);
  latest.current = picture.data;
  useEffect(() => {
    let gone = false;
    if (holder.current) {
      createMap(holder.current).then((map) => {
        if (gone) {
          map.remove();
          return;
        }
        mapRef.current = { map, layer: L.layerGroup().addTo(map), fitted: false };
        if (latest.current) drawOn(latest.current);
      });
    }
    return () => {
      gone = true;
      mapRef.current?.map.remove();
      mapRef.current = null;
    };
  }, []);
  const drawOn = (data: Picture) => {
    const held = mapRef.current;
    if (!held) return;
    drawPicture(held.map, held.layer, data);
    if (!held.fitted && data.wards.length) {
      fitWards(held.map, data.wards);
      held.fitted = true;
    }
    if (holder.current && holder.current.getAttribute("data-ready") !== "true") {
      holder.current.setAttribute("data-ready", "true");
      // The first map drawn with its wards, stations, requests and teams: bench/console.py reads
      // this mark's time (from the navigation's start) in Chromium.
      performance.mark(MAP_DRAWN, { detail: { requests: data.requests.length, wards: data.wards.length } });
    }
  };
  useEffect(() => {
    if (picture.data) drawOn(picture.data);
  }, [picture.data, lang.value]);
  const data = picture.data;
  return (
    <div class="situation">
      <section class="map-panel" aria-labelledby="map-title">
        <h1 id="map-title">{t("map")}</h1>
        <ErrorNote error={picture.error} />
        <div ref={holder} class="map" role="region" aria-label={t("map")} data-testid="situation-map" />
        <ul class="legend-keys" aria-label={lang.value === "vi" ? "Chú giải" : "Legend"}>
          {(["Extreme", "Severe", "Moderate", "Minor"] as const).map((level) => (
            <li key={level}>
              <span class="dot" style={{ background: SEVERITY_COLOURS[level] }} aria-hidden="true" />{" "}
              {severityWords(level, lang.value)}
            </li>
          ))}
          {[0, 1, 2, 3].map((band) => (
            <li key={`b${band}`}>
              <span class="dot ring" style={{ background: bandColour(band) }} aria-hidden="true" /> {bandWords(band, lang.value)}
            </li>
          ))}
        </ul>
        {data && (
          <p class="legend">
            {data.warnings.length} {t("warnings").toLowerCase()} · {data.stations.length}{" "}
            {t("stations").toLowerCase()} · {formatNumber(data.requests.length, lang.value)}{" "}
            {t("openRequests").toLowerCase()} · {data.teams.length} {t("teams").toLowerCase()}
          </p>
        )}
      </section>
      <NeedsPerson />
    </div>
  );
}
