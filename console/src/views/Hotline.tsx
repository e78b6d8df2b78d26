// The hotline now: calls in the menu, queued (position and wait), with an operator; operators
// on duty with a toggle; the call log; callbacks with their attempts; today's figures.
import { useState } from "preact/hooks";
import { api, problemOf, unwrap, type Schemas } from "../api/client";
import { callStage, queueOf } from "../calls";
import { formatAge, formatNumber, formatPercent, formatTime } from "../format";
import { useLoad, useNow } from "../hooks";
import { lang, t } from "../i18n";
import { DataTable } from "./DataTable";
import { ErrorNote, Loading } from "./parts";
import { Voicemail } from "./Voicemail";

const STAGE_WORDS: Record<string, [string, string]> = {
  menu: ["Đang nghe lời chào", "In the menu"],
  queued: ["Đang chờ", "Queued"],
  operator: ["Đang nói chuyện với điện thoại viên", "With an operator"],
  ended: ["Đã kết thúc", "Ended"],
};

function Operators() {
  const language = lang.value;
  const list = useLoad(() => unwrap(api.GET("/api/v1/hotline/operators")).then((r) => r.operators), [], ["operator"]);
  const [error, setError] = useState<string | null>(null);
  const toggle = async (op: Schemas["OperatorView"]) => {
    setError(null);
    const { data, error: failed, response } = await api.PUT("/api/v1/hotline/operators/{id}", {
      params: { path: { id: op.id } },
      body: { name: op.name, phone: op.phone, shift_start: op.shift_start, shift_end: op.shift_end, active: !op.active },
    });
    if (!data) setError(problemOf(response, failed).message);
    list.reload();
  };
  return (
    <section aria-labelledby="operators-title">
      <h2 id="operators-title">{t("operators")}</h2>
      <ErrorNote error={error} />
      {!list.data ? (
        <Loading error={list.error} />
      ) : list.data.length === 0 ? (
        <p>{t("empty")}</p>
      ) : (
        <ul class="plain">
          {list.data.map((op) => (
            <li key={op.id}>
              <label class="toggle">
                <input type="checkbox" checked={op.active} onChange={() => toggle(op)} />
                {op.name} ({op.phone}) · {op.shift_start}–{op.shift_end} · {op.active ? t("onDuty") : language === "vi" ? "nghỉ" : "off"}
              </label>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Figures() {
  const language = lang.value;
  const figures = useLoad(
    () => unwrap(api.GET("/api/v1/hotline/figures", { params: { query: { days: 1 } } })),
    [],
    ["call.left", "callback"],
  );
  if (!figures.data) return <Loading error={figures.error} />;
  const today = figures.data.total;
  const share = (v: number | null) => (v === null ? "—" : formatPercent(v, language));
  return (
    <section aria-labelledby="figures-title">
      <h2 id="figures-title">{t("today")}</h2>
      <dl class="figures">
        <dt>{t("calls")}</dt>
        <dd>{formatNumber(today.calls, language)}</dd>
        <dt>{t("answered15")}</dt>
        <dd>{share(today.answered_within_15s)}</dd>
        <dt>{t("abandonment")}</dt>
        <dd>{share(today.abandonment_rate)}</dd>
        <dt>{t("callbacks")}</dt>
        <dd>
          {formatNumber(today.callbacks_reached, language)} / {formatNumber(today.callbacks_made, language)}
        </dd>
      </dl>
    </section>
  );
}

function Callbacks() {
  const language = lang.value;
  const list = useLoad(
    () => unwrap(api.GET("/api/v1/hotline/callbacks", { params: { query: { limit: 50 } } })).then((r) => r.callbacks),
    [],
    ["callback"],
  );
  return (
    <section aria-labelledby="callbacks-title">
      <h2 id="callbacks-title">{t("callbacks")}</h2>
      <DataTable
        rows={list.data}
        error={list.error}
        rowKey={(c) => c.id}
        testid="callbacks"
        columns={[
          { header: t("from"), cell: (c) => c.phone },
          { header: t("status"), cell: (c) => `${c.status} · ${c.reason}` },
          { header: t("attempts"), cell: (c) => formatNumber(c.attempts, language) },
          { header: language === "vi" ? "Lần gọi tới" : "Next attempt", cell: (c) => formatTime(c.next_attempt_at, language) },
          { header: t("received"), cell: (c) => formatTime(c.created_at, language) },
        ]}
      />
    </section>
  );
}

export function Hotline() {
  const language = lang.value;
  const now = useNow(1000);
  const [number, setNumber] = useState("");
  const calls = useLoad(
    () =>
      unwrap(
        api.GET("/api/v1/hotline/calls", { params: { query: { limit: 100, ...(number ? { number } : {}) } } }),
      ).then((r) => r.calls),
    [number],
    ["call"],
  );
  const live = (calls.data ?? []).filter((c) => callStage(c) !== "ended");
  const queue = queueOf(calls.data ?? []);
  return (
    <section aria-labelledby="hotline-title" class="hotline">
      <h1 id="hotline-title">{t("hotline")} 1900 1075</h1>
      <div class="columns">
        <div class="column">
          <section aria-labelledby="now-title" aria-live="polite">
            <h2 id="now-title">{t("callsNow")}</h2>
            {!calls.data ? (
              <Loading error={calls.error} />
            ) : live.length === 0 ? (
              <p>{t("empty")}</p>
            ) : (
              <ul class="plain" data-testid="calls-now">
                {live.map((c) => (
                  <li key={c.sid} data-stage={callStage(c)}>
                    <strong>{c.from}</strong> · {STAGE_WORDS[callStage(c)]?.[language === "vi" ? 0 : 1]} ·{" "}
                    {formatAge(c.received_at, now, language)}
                  </li>
                ))}
              </ul>
            )}
          </section>
          <section aria-labelledby="queue-title">
            <h2 id="queue-title">
              {t("queue")} ({queue.length})
            </h2>
            <ol data-testid="queue">
              {queue.map(({ call }) => (
                <li key={call.sid}>
                  {call.from} · {t("waited")} {formatAge(call.enqueued_at, now, language)}
                </li>
              ))}
            </ol>
          </section>
          <Operators />
          <Figures />
        </div>
        <div class="column">
          <section aria-labelledby="log-title">
            <h2 id="log-title">{t("callLog")}</h2>
            <label>
              {t("from")}
              <input type="search" name="number" value={number} onChange={(e) => setNumber(e.currentTarget.value)} />
            </label>
            <DataTable
              rows={calls.data}
              error={calls.error}
              rowKey={(c) => c.sid}
              testid="call-log"
              columns={[
                { header: t("received"), cell: (c) => formatTime(c.received_at, language) },
                { header: t("from"), cell: (c) => c.from },
                { header: t("status"), cell: (c) => c.outcome ?? c.status ?? "—" },
                {
                  header: t("waited"),
                  cell: (c) => (c.queue_wait_s === null ? "—" : `${formatNumber(c.queue_wait_s, language)} s`),
                },
                { header: t("voicemail"), cell: (c) => <Voicemail call={c} /> },
              ]}
            />
          </section>
          <Callbacks />
        </div>
      </div>
    </section>
  );
}
