// A station's series as uPlot columns: time in seconds, the values, the QC-flagged values apart
// (suspect 3 and fail 4 drawn as points, not joined into the line), and the BĐ I–III lines.

export interface Point {
  t: string;
  value: number | null;
  flag?: number;
}

export interface Columns {
  times: number[];
  good: (number | null)[];
  flagged: (number | null)[];
  flaggedCount: number;
}

const FLAGGED = new Set([3, 4]);

export function toColumns(points: Point[]): Columns {
  const times: number[] = [];
  const good: (number | null)[] = [];
  const flagged: (number | null)[] = [];
  let flaggedCount = 0;
  for (const point of points) {
    const at = Date.parse(point.t);
    if (Number.isNaN(at)) continue;
    times.push(at / 1000); // uPlot wants seconds; sub-second times are kept as fractions
    const bad = point.flag !== undefined && FLAGGED.has(point.flag);
    if (bad) flaggedCount += 1;
    good.push(bad ? null : point.value);
    flagged.push(bad ? point.value : null);
  }
  return { times, good, flagged, flaggedCount };
}

/** The báo động lines that exist for the station, as [label, level] (spoken words). */
export function alarmLines(
  station: { bao_dong1: number | null; bao_dong2: number | null; bao_dong3: number | null },
  language: "vi" | "en",
): [string, number][] {
  const names = language === "vi" ? ["BĐ một", "BĐ hai", "BĐ ba"] : ["Alarm 1", "Alarm 2", "Alarm 3"];
  return [station.bao_dong1, station.bao_dong2, station.bao_dong3]
    .map((level, i) => [names[i] ?? "", level] as [string, number | null])
    .filter((pair): pair is [string, number] => pair[1] !== null);
}
