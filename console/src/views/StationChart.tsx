// A station's level (or rain) over a chosen window with the BĐ lines; QC-flagged points shown
// as separate marks.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, unwrap, type Schemas } from "../api/client";
import { formatNumber, formatTime } from "../format";
import { useLoad } from "../hooks";
import { lang, t } from "../i18n";
import { alarmLines, toColumns, type Point } from "../series";
import { Loading } from "./parts";

const WINDOWS: [number, string, string][] = [
  [24, "24 giờ", "24 h"],
  [72, "3 ngày", "3 days"],
  [168, "7 ngày", "7 days"],
];

export function StationChart({ station }: { station: Schemas["StationView"] }) {
  const language = lang.value;
  const [hours, setHours] = useState(24);
  const parameter = station.kind === "rain_gauge" ? "rainfall" : "water_level";
  const series = useLoad(
    () => {
      const until = new Date();
      const since = new Date(until.getTime() - hours * 3_600_000);
      return unwrap(
        api.GET("/api/v1/stations/{station_id}/readings", {
          params: {
            path: { station_id: station.id },
            query: { parameter, since: since.toISOString(), until: until.toISOString(), max_points: 600 },
          },
        }),
      );
    },
    [station.id, hours],
    ["station"],
  );
  const holder = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!series.data || !holder.current) return;
    const columns = toColumns(series.data.points as Point[]);
    const lines = parameter === "water_level" ? alarmLines(station, language) : [];
    const colours = ["#f9a825", "#ef6c00", "#c62828"];
    const plot = new uPlot(
      {
        width: Math.min(holder.current.clientWidth || 640, 900),
        height: 260,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Asia/Ho_Chi_Minh"),
        series: [
          {},
          { label: series.data.unit, stroke: "#0b5394", width: 2 },
          { label: language === "vi" ? "bị gắn cờ QC" : "QC-flagged", stroke: "#a50e0e", paths: () => null, points: { show: true, size: 7 } },
          ...lines.map(([label], i) => ({ label, stroke: colours[i] ?? "#555", dash: [6, 4], points: { show: false } })),
        ],
      },
      [columns.times, columns.good, columns.flagged, ...lines.map(([, level]) => columns.times.map(() => level))],
      holder.current,
    );
    return () => plot.destroy();
  }, [series.data, language]);
  return (
    <section aria-labelledby={`chart-${station.id}`}>
      <h2 id={`chart-${station.id}`}>{station.name}</h2>
      <div role="group" aria-label={language === "vi" ? "Khoảng thời gian" : "Window"} class="buttons">
        {WINDOWS.map(([h, vi, en]) => (
          <button type="button" key={h} aria-pressed={hours === h} onClick={() => setHours(h)}>
            {language === "vi" ? vi : en}
          </button>
        ))}
      </div>
      {!series.data ? (
        <Loading error={series.error} />
      ) : (
        <>
          <div ref={holder} class="chart" />
          <p class="muted">
            {formatNumber(series.data.points.length, language)} {language === "vi" ? "điểm" : "points"} ·{" "}
            {formatTime(series.data.since, language)} → {formatTime(series.data.until, language)}
            {series.data.downsampled ? (language === "vi" ? " · đã gộp theo khoảng" : " · downsampled") : ""}
          </p>
        </>
      )}
      <p class="muted">
        {t("status")}: {station.status}
        {station.status_reason ? ` (${station.status_reason})` : ""} · {station.source}
      </p>
    </section>
  );
}
