// Rescue: open requests by priority and age, a request's timeline, the recommended team with its
// reason, offer and claim; live from the stream.
import { useState } from "preact/hooks";
import { api, problemOf, unwrap, type Schemas } from "../api/client";
import { formatAge, formatTime } from "../format";
import { PRIORITY_COLOURS } from "../geo";
import { useLoad, useNow } from "../hooks";
import { lang, t } from "../i18n";
import { ErrorNote, Loading } from "./parts";

const PRIORITY_WORDS: Record<string, [string, string]> = {
  emergency: ["khẩn cấp", "emergency"],
  high: ["cao", "high"],
  medium: ["trung bình", "medium"],
  low: ["thấp", "low"],
};

function wardName(request: Schemas["RequestView"]): string {
  const ward = request.ward as { name?: string } | null;
  return ward?.name ?? "—";
}

function Detail({ request }: { request: Schemas["RequestView"] }) {
  const language = lang.value;
  const path = { params: { path: { id: request.id } } };
  const timeline = useLoad(
    () => unwrap(api.GET("/api/v1/dispatch/requests/{id}/timeline", path)),
    [request.id],
    ["rescue"],
  );
  const recommendation = useLoad(
    () => unwrap(api.GET("/api/v1/dispatch/requests/{id}/recommendation", path)),
    [request.id],
    ["rescue"],
  );
  const [error, setError] = useState<string | null>(null);
  const offer = async () => {
    setError(null);
    const { data, error: failed, response } = await api.POST("/api/v1/dispatch/requests/{id}/offers", {
      ...path,
      body: { team_id: null },
    });
    if (!data) setError(problemOf(response, failed).message);
  };
  const claim = async () => {
    setError(null);
    const { data, error: failed, response } = await api.POST("/api/v1/dispatch/requests/{id}/claim", path);
    if (!data) setError(problemOf(response, failed).message);
  };
  const entries = (timeline.data?.history ?? []) as {
    at?: string;
    actor?: string;
    kind?: string;
    from_state?: string | null;
    to_state?: string | null;
  }[];
  return (
    <section aria-labelledby="request-title">
      <h2 id="request-title">
        {language === "vi" ? "Yêu cầu" : "Request"} {request.number}
      </h2>
      <ErrorNote error={error} />
      {recommendation.data ? (
        <p>
          <strong>{language === "vi" ? "Đề xuất" : "Recommended"}:</strong> {recommendation.data.reason}
        </p>
      ) : (
        <Loading error={recommendation.error} />
      )}
      <div class="buttons">
        <button type="button" class="primary" disabled={!recommendation.data?.team_id} onClick={offer}>
          {language === "vi" ? "Giao cho đội đề xuất" : "Offer to the recommended team"}
        </button>
        <button type="button" onClick={claim}>
          {language === "vi" ? "Nhận xử lý (khoá 10 phút)" : "Claim (10-minute lock)"}
        </button>
      </div>
      <h3>{language === "vi" ? "Diễn biến" : "Timeline"}</h3>
      {!timeline.data ? (
        <Loading error={timeline.error} />
      ) : (
        <ol>
          {entries.map((entry, i) => (
            <li key={i}>
              {formatTime(entry.at, language)} · {entry.actor} · {entry.kind}
              {entry.to_state ? ` · ${entry.from_state ?? "—"} → ${entry.to_state}` : ""}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

export function Rescue() {
  const language = lang.value;
  const now = useNow(15_000);
  const list = useLoad(() => unwrap(api.GET("/api/v1/dispatch/requests/open")).then((r) => r.rescue_requests), [], ["rescue"]);
  const [chosen, setChosen] = useState<number | null>(null);
  const request = list.data?.find((r) => r.id === chosen) ?? null;
  return (
    <section aria-labelledby="rescue-title">
      <h1 id="rescue-title">{t("openRequests")}</h1>
      <div class="columns">
        <div class="column">
          {!list.data ? (
            <Loading error={list.error} />
          ) : list.data.length === 0 ? (
            <p>{t("empty")}</p>
          ) : (
            <table class="list">
              <thead>
                <tr>
                  <th scope="col">{t("number")}</th>
                  <th scope="col">{t("priority")}</th>
                  <th scope="col">{t("state")}</th>
                  <th scope="col">{t("ward")}</th>
                  <th scope="col">{t("waited")}</th>
                </tr>
              </thead>
              <tbody>
                {list.data.map((r) => (
                  <tr key={r.id}>
                    <td>
                      <button type="button" class="link" aria-pressed={chosen === r.id} onClick={() => setChosen(r.id)}>
                        {r.number}
                      </button>
                    </td>
                    <td>
                      <span class="dot" style={{ background: PRIORITY_COLOURS[r.priority] ?? "#455a64" }} aria-hidden="true" />{" "}
                      {PRIORITY_WORDS[r.priority]?.[language === "vi" ? 0 : 1] ?? r.priority}
                    </td>
                    <td>{r.state}</td>
                    <td>{wardName(r)}</td>
                    <td>{formatAge(r.created_at, now, language)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <div class="column">{request && <Detail request={request} />}</div>
      </div>
    </section>
  );
}
