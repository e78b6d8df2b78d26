// Warnings by state, newest first; live from the stream.
import { api, hasRole, unwrap } from "../api/client";
import { Link } from "../App";
import { useLoad } from "../hooks";
import { lang, stateWords, t } from "../i18n";
import { Loading } from "./parts";

const GROUPS = ["submitted", "approved", "draft", "issued", "rejected", "cancelled", "superseded", "expired", "withdrawn"];

export function Warnings() {
  const list = useLoad(() => unwrap(api.GET("/api/v1/alerts")).then((r) => r.alerts), [], ["alert"]);
  const language = lang.value;
  return (
    <section aria-labelledby="warnings-title">
      <h1 id="warnings-title">{t("warnings")}</h1>
      {hasRole("issuer") && (
        <p>
          <Link href="/warnings/new" class="button primary">
            {t("newWarning")}
          </Link>
        </p>
      )}
      {!list.data ? (
        <Loading error={list.error} />
      ) : (
        GROUPS.map((state) => {
          const alerts = list.data!.filter((a) => a.state === state);
          if (!alerts.length) return null;
          return (
            <section key={state} aria-labelledby={`group-${state}`}>
              <h2 id={`group-${state}`}>
                {stateWords(state, language)} ({alerts.length})
              </h2>
              <table class="list">
                <thead>
                  <tr>
                    <th scope="col">{t("headline")}</th>
                    <th scope="col">{t("author")}</th>
                    <th scope="col">CAP</th>
                  </tr>
                </thead>
                <tbody>
                  {alerts.map((a) => (
                    <tr key={a.identifier} data-state={a.state}>
                      <td>
                        <Link href={`/warnings/${encodeURIComponent(a.identifier)}`}>{a.headline || a.identifier}</Link>
                      </td>
                      <td>{a.author}</td>
                      <td>
                        {a.msgType} · {a.status}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          );
        })
      )}
    </section>
  );
}
