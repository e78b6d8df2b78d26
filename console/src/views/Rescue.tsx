// Rescue: open requests by priority and age, a request's timeline and claim lock, the
// recommended team with its reason; offer, record the team's answer (assign), reassign to
// another team; duplicate proposals with merge or reject; the teams. Live from the stream.
import { useState } from "preact/hooks";
import { api, problemOf, unwrap, type Schemas } from "../api/client";
import { formatAge, formatNumber, formatTime } from "../format";
import { PRIORITY_COLOURS } from "../geo";
import { useLoad, useNow } from "../hooks";
import { lang, t, type Lang } from "../i18n";
import { DataTable } from "./DataTable";
import { ErrorNote, Loading } from "./parts";

type RescueRequest = Schemas["RequestView"];
type Offer = Schemas["OfferView"];

const PRIORITY_WORDS: Record<string, [string, string]> = {
  emergency: ["khẩn cấp", "emergency"],
  high: ["cao", "high"],
  medium: ["trung bình", "medium"],
  low: ["thấp", "low"],
};

const STATE_WORDS: Record<string, [string, string]> = {
  new: ["Mới", "New"],
  triaged: ["Đã phân loại", "Triaged"],
  offered: ["Đã giao, chờ đội nhận", "Offered"],
  accepted: ["Đội đã nhận", "Accepted"],
  en_route: ["Đội đang đến", "En route"],
  on_scene: ["Đội đã đến nơi", "On scene"],
  resolved: ["Đã xong", "Resolved"],
  cancelled: ["Đã huỷ", "Cancelled"],
  unfounded: ["Không có thật", "Unfounded"],
  duplicate: ["Trùng lặp", "Duplicate"],
};

const OFFER_WORDS: Record<string, [string, string]> = {
  pending: ["chờ trả lời", "waiting for an answer"],
  accepted: ["đã nhận", "accepted"],
  declined: ["từ chối", "declined"],
  timed_out: ["quá hạn", "timed out"],
  withdrawn: ["đã rút", "withdrawn"],
  released: ["đã giải phóng", "released"],
  done: ["đã xong", "done"],
};

const REASON_WORDS: Record<string, [string, string]> = {
  same_phone: ["cùng số điện thoại", "same phone"],
  nearby: ["ở gần nhau", "nearby"],
};

function words(table: Record<string, [string, string]>, key: string, language: Lang): string {
  return table[key]?.[language === "vi" ? 0 : 1] ?? key;
}

/** The fields the dispatch API sends beyond its published RequestView (read loosely). */
interface RequestExtra {
  claim?: { holder: string; expires_at: string } | null;
  people?: number | null;
  address?: string;
}

function extra(request: RescueRequest): RequestExtra {
  return request as unknown as RequestExtra;
}

/** An audit actor ("user:hai", "team:3", "system") as staff read it: the account's name. */
export function actorName(actor: string | null | undefined): string {
  if (!actor) return "—";
  return actor.startsWith("user:") ? actor.slice("user:".length) : actor;
}

function wardName(request: RescueRequest): string {
  const ward = request.ward as { name?: string } | null;
  return ward?.name ?? "—";
}

/** Run one write; the API's message when it is refused. */
async function attempt(
  step: () => Promise<{ data?: unknown; error?: unknown; response: Response }>,
  setError: (message: string | null) => void,
): Promise<boolean> {
  setError(null);
  const { data, error, response } = await step();
  if (data === undefined || !response.ok) {
    setError(problemOf(response, error).message);
    return false;
  }
  return true;
}

function Detail({
  request,
  teams,
  onChanged,
}: {
  request: RescueRequest;
  teams: Schemas["TeamView"][];
  onChanged: () => void;
}) {
  const language = lang.value;
  const vi = language === "vi";
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
  const offers = useLoad(
    () => unwrap(api.GET("/api/v1/dispatch/requests/{id}/offers", path)).then((r) => r.offers),
    [request.id],
    ["rescue"],
  );
  const [error, setError] = useState<string | null>(null);
  const [teamId, setTeamId] = useState<string>("");
  // After this page's own write: what it changed, without waiting for the stream.
  const reload = () => {
    timeline.reload();
    offers.reload();
    recommendation.reload();
    onChanged();
  };
  const live = (offers.data ?? []).find((o) => o.status === "pending" || o.status === "accepted") ?? null;
  const pending = live?.status === "pending" ? live : null;
  const offerTo = (team: number | null) =>
    attempt(() => api.POST("/api/v1/dispatch/requests/{id}/offers", { ...path, body: { team_id: team } }), setError).then(reload);
  const reassign = (team: number) =>
    attempt(() => api.POST("/api/v1/dispatch/requests/{id}/reassign", { ...path, body: { team_id: team } }), setError).then(reload);
  const answer = (offer: Offer, action: "accept" | "decline") =>
    attempt(
      () => api.POST("/api/v1/dispatch/offers/{id}/answer", { params: { path: { id: offer.id } }, body: { action } }),
      setError,
    ).then(reload);
  const claim = () => attempt(() => api.POST("/api/v1/dispatch/requests/{id}/claim", path), setError).then(reload);
  const release = () => attempt(() => api.DELETE("/api/v1/dispatch/requests/{id}/claim", path), setError).then(reload);
  const lock = extra(request).claim;
  const entries = (timeline.data?.history ?? []) as {
    at?: string;
    actor?: string;
    kind?: string;
    from_state?: string | null;
    to_state?: string | null;
  }[];
  const chosenTeam = teamId ? Number(teamId) : null;
  return (
    <section aria-labelledby="request-title" data-testid="rescue-detail">
      <h2 id="request-title">
        {vi ? "Yêu cầu" : "Request"} {request.number}
      </h2>
      <p>
        <span class="badge" data-testid="request-state">
          {words(STATE_WORDS, request.state, language)}
        </span>{" "}
        {extra(request).address || wardName(request)} · {request.phones.join(", ")}
        {extra(request).people ? ` · ${formatNumber(extra(request).people ?? 0, language)} ${vi ? "người" : "people"}` : ""}
      </p>
      <p data-testid="claim">
        {lock
          ? `${vi ? "Đang do" : "Claimed by"} ${actorName(lock.holder)} ${vi ? "xử lý đến" : "until"} ${formatTime(lock.expires_at, language)}`
          : vi
            ? "Chưa ai nhận xử lý."
            : "Nobody has claimed it."}{" "}
        {lock ? (
          <button type="button" onClick={release}>
            {vi ? "Thôi nhận xử lý" : "Release the claim"}
          </button>
        ) : (
          <button type="button" onClick={claim}>
            {vi ? "Nhận xử lý (khoá 10 phút)" : "Claim (10-minute lock)"}
          </button>
        )}
      </p>
      <ErrorNote error={error} />
      {recommendation.data ? (
        <p>
          <strong>{vi ? "Đề xuất" : "Recommended"}:</strong> {recommendation.data.reason}
        </p>
      ) : (
        <Loading error={recommendation.error} />
      )}
      <div class="buttons">
        <button type="button" class="primary" disabled={!recommendation.data?.team_id || live !== null} onClick={() => offerTo(null)}>
          {vi ? "Giao cho đội đề xuất" : "Offer to the recommended team"}
        </button>
      </div>
      <div class="buttons">
        <label>
          {vi ? "Đội cứu hộ" : "Team"}
          <select name="team" value={teamId} onChange={(e) => setTeamId(e.currentTarget.value)}>
            <option value="">{vi ? "— chọn đội —" : "— choose a team —"}</option>
            {teams.map((team) => (
              <option key={team.id} value={String(team.id)} disabled={!team.on_duty}>
                {team.name}
                {team.on_duty ? "" : vi ? " (nghỉ)" : " (off duty)"}
              </option>
            ))}
          </select>
        </label>
        {live ? (
          <button type="button" disabled={chosenTeam === null} onClick={() => chosenTeam !== null && reassign(chosenTeam)}>
            {vi ? "Giao lại cho đội này" : "Reassign to this team"}
          </button>
        ) : (
          <button type="button" disabled={chosenTeam === null} onClick={() => chosenTeam !== null && offerTo(chosenTeam)}>
            {vi ? "Giao cho đội này" : "Offer to this team"}
          </button>
        )}
      </div>
      <h3>{vi ? "Các lần giao" : "Offers"}</h3>
      {!offers.data ? (
        <Loading error={offers.error} />
      ) : offers.data.length === 0 ? (
        <p>{t("empty")}</p>
      ) : (
        <ul class="plain" data-testid="offers">
          {offers.data.map((o) => (
            <li key={o.id} data-status={o.status}>
              <strong>{o.team.name}</strong> · {words(OFFER_WORDS, o.status, language)} · {formatTime(o.offered_at, language)}
              {o === pending && (
                <>
                  {" "}
                  <button type="button" onClick={() => answer(o, "accept")}>
                    {vi ? "Ghi nhận: đội đã nhận" : "Record: team accepted"}
                  </button>{" "}
                  <button type="button" onClick={() => answer(o, "decline")}>
                    {vi ? "Ghi nhận: đội từ chối" : "Record: team declined"}
                  </button>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
      <h3>{vi ? "Diễn biến" : "Timeline"}</h3>
      {!timeline.data ? (
        <Loading error={timeline.error} />
      ) : (
        <ol data-testid="timeline">
          {entries.map((entry, i) => (
            <li key={i}>
              {formatTime(entry.at, language)} · {actorName(entry.actor)} · {entry.kind}
              {entry.to_state
                ? ` · ${words(STATE_WORDS, entry.from_state ?? "", language) || "—"} → ${words(STATE_WORDS, entry.to_state, language)}`
                : ""}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function Duplicates({ onMerged }: { onMerged: () => void }) {
  const language = lang.value;
  const vi = language === "vi";
  const list = useLoad(
    () => unwrap(api.GET("/api/v1/dispatch/duplicates", { params: { query: { status: "proposed" } } })).then(
        // ProposalList publishes its items as loose objects; each is a ProposalView.
        (r) => r.proposals as unknown as Schemas["ProposalView"][],
      ),
    [],
    ["rescue"],
  );
  const [error, setError] = useState<string | null>(null);
  const decide = async (proposal: Schemas["ProposalView"], how: "merge" | "reject") => {
    const params = { params: { path: { id: proposal.id } } };
    const done = await attempt(
      () =>
        how === "merge"
          ? api.POST("/api/v1/dispatch/duplicates/{id}/merge", params)
          : api.POST("/api/v1/dispatch/duplicates/{id}/reject", params),
      setError,
    );
    list.reload();
    if (done) onMerged();
  };
  return (
    <section aria-labelledby="duplicates-title">
      <h2 id="duplicates-title">{vi ? "Có thể trùng lặp" : "Possible duplicates"}</h2>
      <ErrorNote error={error} />
      {!list.data ? (
        <Loading error={list.error} />
      ) : list.data.length === 0 ? (
        <p>{t("empty")}</p>
      ) : (
        <ul class="plain" data-testid="duplicates">
          {list.data.map((p) => (
            <li key={p.id}>
              {p.request} {vi ? "có thể trùng với" : "may be the same as"} {p.candidate} ({words(REASON_WORDS, p.reason, language)}){" "}
              <button type="button" onClick={() => decide(p, "merge")}>
                {vi ? `Gộp ${p.request} vào ${p.candidate}` : `Merge ${p.request} into ${p.candidate}`}
              </button>{" "}
              <button type="button" onClick={() => decide(p, "reject")}>
                {vi ? "Không trùng" : "Not the same"}
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Teams({ teams, error }: { teams: Schemas["TeamView"][] | null; error: string | null }) {
  const language = lang.value;
  const vi = language === "vi";
  return (
    <section aria-labelledby="teams-title">
      <h2 id="teams-title">{t("teams")}</h2>
      <DataTable
        rows={teams}
        error={error}
        rowKey={(team) => team.id}
        testid="teams"
        columns={[
          { header: vi ? "Đội" : "Team", cell: (team) => team.name },
          { header: vi ? "Trực" : "On duty", cell: (team) => (team.on_duty ? (vi ? "đang trực" : "on duty") : vi ? "nghỉ" : "off") },
          { header: vi ? "Việc đang làm" : "Jobs", cell: (team) => `${formatNumber(team.active_jobs, language)} / ${formatNumber(team.capacity, language)}` },
        ]}
      />
    </section>
  );
}

export function Rescue() {
  const language = lang.value;
  const now = useNow(15_000);
  const list = useLoad(() => unwrap(api.GET("/api/v1/dispatch/requests/open")).then((r) => r.rescue_requests), [], ["rescue"]);
  const teams = useLoad(() => unwrap(api.GET("/api/v1/dispatch/teams")).then((r) => r.teams), [], ["rescue"]);
  const [chosen, setChosen] = useState<number | null>(null);
  const request = list.data?.find((r) => r.id === chosen) ?? null;
  return (
    <section aria-labelledby="rescue-title">
      <h1 id="rescue-title">{t("openRequests")}</h1>
      <div class="columns">
        <div class="column">
          <DataTable
            rows={list.data}
            error={list.error}
            rowKey={(r) => r.id}
            testid="requests"
            chosen={(r) => r.id === chosen}
            columns={[
              {
                header: t("number"),
                cell: (r) => (
                  <button type="button" class="link" aria-pressed={chosen === r.id} onClick={() => setChosen(r.id)}>
                    {r.number}
                  </button>
                ),
              },
              {
                header: t("priority"),
                cell: (r) => (
                  <>
                    <span class="dot" style={{ background: PRIORITY_COLOURS[r.priority] ?? "#455a64" }} aria-hidden="true" />{" "}
                    {words(PRIORITY_WORDS, r.priority, language)}
                  </>
                ),
              },
              { header: t("state"), cell: (r) => words(STATE_WORDS, r.state, language) },
              { header: t("ward"), cell: (r) => wardName(r) },
              { header: t("waited"), cell: (r) => formatAge(r.created_at, now, language) },
            ]}
          />
          <Duplicates onMerged={list.reload} />
          <Teams teams={teams.data} error={teams.error} />
        </div>
        <div class="column">{request && (
            <Detail
              request={request}
              teams={teams.data ?? []}
              onChanged={() => {
                list.reload();
                teams.reload();
              }}
            />
          )}</div>
      </div>
    </section>
  );
}
