// Stations: each with its latest level and báo động band (in words), rain and source status.
import { api, unwrap } from "../api/client";
import { formatNumber, formatTime } from "../format";
import { bandColour } from "../geo";
import { useLoad } from "../hooks";
import { bandWords, lang, t } from "../i18n";
import { useState } from "preact/hooks";
import { Loading } from "./parts";
import { StationChart } from "./StationChart";

export function Stations() {
  const language = lang.value;
  const list = useLoad(() => unwrap(api.GET("/api/v1/stations")).then((r) => r.stations), [], ["station", "source"]);
  const [chosen, setChosen] = useState<string | null>(null);
  const station = list.data?.find((s) => s.id === chosen) ?? list.data?.[0];
  return (
    <section aria-labelledby="stations-title">
      <h1 id="stations-title">{t("stations")}</h1>
      {!list.data ? (
        <Loading error={list.error} />
      ) : (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">{t("stations")}</th>
              <th scope="col">{t("level")}</th>
              <th scope="col">{t("band")}</th>
              <th scope="col">{t("status")}</th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((s) => {
              const river = s.water_level;
              return (
                <tr key={s.id}>
                  <td>
                    <button type="button" class="link" aria-pressed={station?.id === s.id} onClick={() => setChosen(s.id)}>
                      {s.name}
                      {s.river ? ` (${s.river})` : ""}
                    </button>
                  </td>
                  <td>
                    {river?.value === null || river?.value === undefined
                      ? "—"
                      : `${formatNumber(river.value, language, 2)} m · ${formatTime(river.observed_at, language)}`}
                  </td>
                  <td>
                    <span class="dot" style={{ background: bandColour(river?.band ?? null) }} aria-hidden="true" />{" "}
                    {river ? bandWords(river.band, language) : "—"}
                  </td>
                  <td>
                    {s.status}
                    {s.status_reason ? `: ${s.status_reason}` : ""}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {station && <StationChart station={station} />}
    </section>
  );
}
