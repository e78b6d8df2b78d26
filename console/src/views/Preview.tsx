// The recipient preview: totals per route, the people in the wards wholly inside, per ward.
import type { Schemas } from "../api/client";
import { formatNumber } from "../format";
import { lang, t } from "../i18n";
import type { Ward } from "../map";

const COVERAGE: Record<string, [string, string]> = {
  whole: ["toàn bộ", "whole"],
  partial: ["một phần", "partly"],
  bleed: ["giáp ranh", "edge"],
};

function coverageWords(coverage: string, language: string): string {
  return COVERAGE[coverage]?.[language === "vi" ? 0 : 1] ?? coverage;
}

export function Preview({ preview, wards }: { preview: Schemas["PlanPreview"] | null; wards: Ward[] }) {
  const language = lang.value;
  if (!preview) return <p>{t("previewEmpty")}</p>;
  const population = preview.areas.reduce((sum, area) => {
    const ward = wards.find((w) => w.code === area.code);
    return sum + (area.coverage === "whole" ? ward?.population ?? 0 : 0);
  }, 0);
  const totals = preview.totals as Schemas["TargetingTotals"] & { by_voice?: number };
  return (
    <div data-testid="preview">
      <dl class="figures">
        <dt>{t("devices")}</dt>
        <dd data-testid="preview-devices">{formatNumber(totals.devices, language)}</dd>
        <dt>{t("byTopic")}</dt>
        <dd>{formatNumber(totals.by_topic, language)}</dd>
        <dt>{t("byToken")}</dt>
        <dd>{formatNumber(totals.by_token, language)}</dd>
        <dt>{t("bySms")}</dt>
        <dd>{formatNumber(totals.by_sms, language)}</dd>
        {totals.by_voice !== undefined && (
          <>
            <dt>{t("byVoice")}</dt>
            <dd>{formatNumber(totals.by_voice, language)}</dd>
          </>
        )}
        <dt>{t("people")}</dt>
        <dd data-testid="preview-people">{formatNumber(population, language)}</dd>
      </dl>
      <table>
        <caption class="visually-hidden">{t("preview")}</caption>
        <thead>
          <tr>
            <th scope="col">{t("ward")}</th>
            <th scope="col">{t("byTopic")}</th>
            <th scope="col">{t("byToken")}</th>
            <th scope="col">{t("bySms")}</th>
          </tr>
        </thead>
        <tbody>
          {preview.areas.map((a) => (
            <tr key={a.code}>
              <td>
                {a.name} <span class="muted">({coverageWords(a.coverage, language)})</span>
              </td>
              <td>{formatNumber(a.by_topic, language)}</td>
              <td>{formatNumber(a.by_token, language)}</td>
              <td>{formatNumber(a.by_sms, language)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

