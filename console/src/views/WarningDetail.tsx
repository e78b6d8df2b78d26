// One warning: its map and exact texts (the approval screen for a second person), the actions
// its state allows, the delivery report live from the stream, and the CAP XML once issued.
import L from "leaflet";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, getText, hasRole, problemOf, session, unwrap, type Schemas } from "../api/client";
import { Link } from "../App";
import { formatNumber, formatPercent, formatTime } from "../format";
import { useLoad } from "../hooks";
import { lang, severityWords, stateWords, t } from "../i18n";
import { createMap, loadWards } from "../map";
import { deliveryProgress } from "../delivery";
import { navigate } from "../router";
import { ErrorNote, Loading } from "./parts";
import { infos, wardCodesOf, type CapInfoLike } from "./warningData";

type Action = "submit" | "approve" | "issue";

function AreaMap({ view }: { view: Schemas["AlertView"] }) {
  const holder = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let map: L.Map | null = null;
    let gone = false;
    (async () => {
      if (!holder.current) return;
      map = await createMap(holder.current);
      if (gone) return map.remove();
      const codes = new Set(wardCodesOf(view));
      const bounds: L.LatLngExpression[] = [];
      for (const ward of await loadWards()) {
        const on = codes.has(ward.code);
        L.polygon(ward.rings, { color: "#37474f", weight: 1, fillColor: on ? "#c62828" : "#90a4ae", fillOpacity: on ? 0.45 : 0.1 })
          .bindTooltip(ward.name)
          .addTo(map);
        if (on) bounds.push(...ward.rings.flat());
      }
      for (const area of infos(view)[0]?.area ?? []) {
        for (const ring of area.polygon ?? []) {
          L.polygon(ring, { color: "#b71c1c", weight: 3, fillOpacity: 0.2 }).addTo(map);
          bounds.push(...ring);
        }
      }
      if (bounds.length) map.fitBounds(L.latLngBounds(bounds), { padding: [10, 10] });
      holder.current.setAttribute("data-ready", "true");
    })();
    return () => {
      gone = true;
      map?.remove();
    };
  }, [view.identifier]);
  return <div ref={holder} class="map small" role="region" aria-label={t("area")} data-testid="warning-map" />;
}

function InfoText({ info }: { info: CapInfoLike }) {
  const language = lang.value;
  return (
    <article class="info" lang={info.language?.slice(0, 2)}>
      <h3>
        {info.language === "vi-VN" ? "Tiếng Việt" : "English"} · {info.event}
      </h3>
      <p class="headline">{info.headline}</p>
      <p>{info.description}</p>
      <p>
        <strong>{t("instruction")}:</strong> {info.instruction}
      </p>
      <p class="muted">
        {severityWords(info.severity ?? "", language)} · {info.urgency} · {info.certainty} · {info.area?.map((a) => a.areaDesc).join("; ")}
        {info.expires ? ` · ${language === "vi" ? "hết hiệu lực" : "expires"} ${formatTime(info.expires, language)}` : ""}
      </p>
    </article>
  );
}

const STATUS_WORDS: Record<string, [string, string]> = {
  sent: ["đã gửi", "sent"],
  queued: ["đang chờ", "queued"],
  sending: ["đang gửi", "sending"],
  failed: ["lỗi, sẽ thử lại", "failed, will retry"],
  dead: ["bỏ cuộc", "given up"],
};
const CHANNEL_WORDS: Record<string, [string, string]> = {
  push: ["Thông báo đẩy", "Push"],
  sms: ["SMS", "SMS"],
  voice: ["Cuộc gọi thoại", "Voice"],
};

function words(table: Record<string, [string, string]>, key: string, language: string): string {
  return table[key]?.[language === "vi" ? 0 : 1] ?? key;
}

export function DeliveryReport({ identifier }: { identifier: string }) {
  const report = useLoad(
    () => unwrap(api.GET("/api/v1/alerts/{identifier}/delivery", { params: { path: { identifier } } })),
    [identifier],
    ["delivery", "alert"],
  );
  const language = lang.value;
  if (!report.data) return <Loading error={report.error} />;
  const progress = deliveryProgress(report.data);
  const total = Math.max(progress.planned, progress.enqueued);
  return (
    <div data-testid="delivery" data-done={progress.done ? "true" : "false"}>
      <p>
        <progress max={1} value={progress.share} aria-label={t("progress")} />{" "}
        <span data-testid="delivery-share">{formatPercent(progress.share, language)}</span> ·{" "}
        {formatNumber(progress.sent, language)} / {formatNumber(total, language)} {t("sent").toLowerCase()}
        {progress.done && (language === "vi" ? " · đã xong" : " · finished")}
      </p>
      <table>
        <caption class="visually-hidden">{t("delivery")}</caption>
        <tbody>
          {Object.entries(report.data.channels).map(([channel, statuses]) => (
            <tr key={channel}>
              <th scope="row">{words(CHANNEL_WORDS, channel, language)}</th>
              <td>
                {Object.entries(statuses)
                  .map(([status, count]) => `${formatNumber(count, language)} ${words(STATUS_WORDS, status, language)}`)
                  .join(" · ")}
              </td>
            </tr>
          ))}
          {Object.entries(report.data.failures).map(([channel, codes]) => (
            <tr key={`f-${channel}`}>
              <th scope="row">
                {t("failed")} ({words(CHANNEL_WORDS, channel, language)})
              </th>
              <td>
                {Object.entries(codes)
                  .map(([code, count]) => `${code}: ${formatNumber(count, language)}`)
                  .join(" · ")}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function CapXml({ identifier }: { identifier: string }) {
  const [xml, setXml] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    getText(`/cap/alerts/${encodeURIComponent(identifier)}.xml`).then(setXml, (e: Error) => setError(e.message));
  }, [identifier]);
  if (error) return <ErrorNote error={error} />;
  return xml === null ? <Loading /> : <pre class="xml" data-testid="cap-xml">{xml}</pre>;
}

export function WarningDetail({ identifier }: { identifier: string }) {
  const alert = useLoad(
    () => unwrap(api.GET("/api/v1/alerts/{identifier}", { params: { path: { identifier } } })),
    [identifier],
    ["alert"],
  );
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [reason, setReason] = useState("");
  const language = lang.value;
  const view = alert.data;
  if (!view) return <Loading error={alert.error} />;
  const path = { params: { path: { identifier } } };
  const headers = { "If-Match": `"${view.version}"` };
  const act = async (action: Action) => {
    setBusy(true);
    setError(null);
    const url = `/api/v1/alerts/{identifier}/${action}` as const;
    const { data, error: failed, response } = await api.POST(url, { ...path, headers });
    setBusy(false);
    if (!data) return setError(problemOf(response, failed).message);
    alert.reload();
  };
  const reject = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const { data, error: failed, response } = await api.POST("/api/v1/alerts/{identifier}/reject", {
      ...path,
      headers,
      body: { comment: reason },
    });
    setBusy(false);
    if (!data) return setError(problemOf(response, failed).message);
    alert.reload();
  };
  const derive = async (kind: "update" | "cancel") => {
    setBusy(true);
    setError(null);
    const url = `/api/v1/alerts/{identifier}/${kind}` as const;
    const { data, error: failed, response } = await api.POST(url, path);
    setBusy(false);
    if (!data) return setError(problemOf(response, failed).message);
    navigate(`/warnings/${encodeURIComponent(data.identifier)}`);
  };
  const me = session.value?.user.username;
  const texts = infos(view);
  const headline = texts.find((i) => i.language === "vi-VN")?.headline ?? view.identifier;
  return (
    <section aria-labelledby="warning-title" class="warning">
      <p>
        <Link href="/warnings">← {t("warnings")}</Link>
      </p>
      <h1 id="warning-title">{view.state === "submitted" && hasRole("approver") ? `${t("approvalOf")}: ${headline}` : headline}</h1>
      <p>
        <span class={`badge state-${view.state}`} data-testid="warning-state">
          {stateWords(view.state, language)}
        </span>{" "}
        {view.msgType} · {view.status} · {t("author")}: {view.author}
        {view.approved_by ? ` · ${language === "vi" ? "duyệt" : "approved by"}: ${view.approved_by}` : ""}
        {view.comment ? ` · “${view.comment}”` : ""}
      </p>
      {view.problems.length > 0 && (
        <div class="note" role="status">
          <strong>{t("problems")}:</strong>
          <ul>
            {view.problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        </div>
      )}
      <div class="columns">
        <div class="column">
          <AreaMap view={view} />
        </div>
        <div class="column">
          <h2>{t("texts")}</h2>
          {texts.map((info, i) => (
            <InfoText key={i} info={info} />
          ))}
        </div>
      </div>
      <ErrorNote error={error} />
      <div class="actions">
        {view.state === "draft" && hasRole("issuer") && (
          <button type="button" class="primary" disabled={busy} onClick={() => act("submit")}>
            {t("submit")}
          </button>
        )}
        {view.state === "submitted" && hasRole("approver") && (
          <>
            <button type="button" class="primary" disabled={busy} onClick={() => act("approve")}>
              {t("approve")}
            </button>
            <form onSubmit={reject} class="inline">
              <label>
                {t("rejectReason")}
                <input name="reason" required value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
              </label>
              <button type="submit" disabled={busy}>
                {t("reject")}
              </button>
            </form>
          </>
        )}
        {view.state === "approved" && hasRole("approver") && (
          <button type="button" class="primary" disabled={busy} onClick={() => act("issue")}>
            {t("issue")}
          </button>
        )}
        {view.state === "issued" && hasRole("issuer") && (
          <>
            <button type="button" disabled={busy} onClick={() => derive("update")}>
              {t("update")}
            </button>
            <button type="button" class="danger" disabled={busy} onClick={() => derive("cancel")}>
              {t("cancel")}
            </button>
          </>
        )}
      </div>
      {me && view.state === "submitted" && view.author === me && (
        <p class="muted">{language === "vi" ? "Cần một người khác phê duyệt." : "Someone else must approve it."}</p>
      )}
      {["issued", "superseded", "cancelled", "expired"].includes(view.state) && (
        <>
          <section aria-labelledby="delivery-title">
            <h2 id="delivery-title">{t("delivery")}</h2>
            <DeliveryReport identifier={identifier} />
          </section>
          <section aria-labelledby="cap-title">
            <h2 id="cap-title">{t("capXml")}</h2>
            <CapXml identifier={identifier} />
          </section>
        </>
      )}
    </section>
  );
}
