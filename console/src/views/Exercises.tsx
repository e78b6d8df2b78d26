// Exercises: the banner every page shows while this server runs an exercise, and the trainer's
// controls (pause, resume, speed, stop). /api/v1/exercise exists on an exercise's own server
// only (`canhbao exercise run`, README "Exercises"): it is not in the OpenAPI schema, so these
// are plain fetches.
import { signal } from "@preact/signals";
import { useEffect, useState } from "preact/hooks";
import { hasRole, problemOf, session } from "../api/client";
import { formatTime } from "../format";
import { lang } from "../i18n";
import { ErrorNote, Loading } from "./parts";

export interface ExerciseStatus {
  exercise: string;
  title: string;
  state: "starting" | "running" | "paused" | "stopped" | "ended" | "failed";
  speed: number;
  flood_time: string;
  start: string;
  end: string;
  progress: Record<string, number | string | Record<string, number>>;
}

/** The exercise this server runs; null: a real server (the API answers 404). */
export const exercise = signal<ExerciseStatus | null>(null);

const PATH = "/api/v1/exercise";

async function load(): Promise<ExerciseStatus | null> {
  const response = await fetch(PATH, { credentials: "same-origin" });
  if (response.status === 404) return null;
  if (!response.ok) throw problemOf(response, await response.json().catch(() => undefined));
  return (await response.json()) as ExerciseStatus;
}

async function control(action: string, body?: { speed: number }): Promise<ExerciseStatus> {
  const response = await fetch(`${PATH}/${action}`, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "Content-Type": "application/json",
      "X-CSRF-Token": session.value?.csrf_token ?? "",
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) throw problemOf(response, await response.json().catch(() => undefined));
  return (await response.json()) as ExerciseStatus;
}

/** "DIỄN TẬP / EXERCISE" across the top of every page of an exercise's console. */
export function ExerciseBanner() {
  useEffect(() => {
    let live = true;
    let timer = 0;
    const look = () =>
      load().then(
        (found) => {
          if (live) exercise.value = found;
          // A real server (404): nothing to follow, and no request every five seconds.
          if (found === null) window.clearInterval(timer);
        },
        () => undefined,
      );
    void look();
    timer = window.setInterval(look, 5000);
    return () => {
      live = false;
      window.clearInterval(timer);
    };
  }, []);
  const current = exercise.value;
  if (!current) return null;
  return (
    <p class="exercise-banner" role="status">
      <strong>DIỄN TẬP / EXERCISE</strong> {current.title} · {formatTime(current.flood_time, lang.value)} ·{" "}
      {current.speed}×{current.state === "paused" ? (lang.value === "vi" ? " · tạm dừng" : " · paused") : ""}
    </p>
  );
}

const STATES: Record<ExerciseStatus["state"], [string, string]> = {
  starting: ["Đang chuẩn bị", "Starting"],
  running: ["Đang diễn tập", "Running"],
  paused: ["Tạm dừng", "Paused"],
  stopped: ["Đã dừng", "Stopped"],
  ended: ["Đã kết thúc", "Ended"],
  failed: ["Lỗi", "Failed"],
};

export function Exercises() {
  const vi = lang.value === "vi";
  const [status, setStatus] = useState<ExerciseStatus | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [speed, setSpeed] = useState("");
  useEffect(() => {
    load().then(setStatus, (err: Error) => setError(err.message));
  }, []);
  const act = async (action: string, body?: { speed: number }) => {
    setError(null);
    try {
      const next = await control(action, body);
      setStatus(next);
      exercise.value = next;
    } catch (err) {
      setError((err as Error).message);
    }
  };
  if (status === undefined) return <Loading error={error} />;
  if (status === null) {
    return (
      <section>
        <h2>{vi ? "Diễn tập" : "Exercises"}</h2>
        <p>
          {vi
            ? "Máy chủ này không chạy diễn tập. Bắt đầu diễn tập trận lũ tháng 11/2025 bằng lệnh dưới đây; diễn tập chạy trên cổng và cơ sở dữ liệu riêng, không gửi gì tới người thật."
            : "This server runs no exercise. Start the November 2025 flood exercise with the command below; it runs on its own port and database and reaches no real person."}
        </p>
        <pre>canhbao exercise run scenarios/hue-2025-11.toml</pre>
      </section>
    );
  }
  const admin = hasRole("admin");
  const over = ["stopped", "ended", "failed"].includes(status.state);
  return (
    <section>
      <h2>{vi ? "Diễn tập" : "Exercise"}: {status.title}</h2>
      <dl>
        <dt>{vi ? "Trạng thái" : "State"}</dt>
        <dd>{STATES[status.state][vi ? 0 : 1]}</dd>
        <dt>{vi ? "Giờ của trận lũ" : "Flood time"}</dt>
        <dd>{formatTime(status.flood_time, lang.value)}</dd>
        <dt>{vi ? "Tốc độ" : "Speed"}</dt>
        <dd>{status.speed}×</dd>
      </dl>
      <table>
        <tbody>
          {Object.entries(status.progress).map(([key, value]) => (
            <tr key={key}>
              <th scope="row">{key}</th>
              <td>{typeof value === "object" ? JSON.stringify(value) : String(value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {admin && !over && (
        <div class="actions">
          {status.state === "paused" ? (
            <button type="button" onClick={() => act("resume")}>
              {vi ? "Tiếp tục" : "Resume"}
            </button>
          ) : (
            <button type="button" onClick={() => act("pause")}>
              {vi ? "Tạm dừng" : "Pause"}
            </button>
          )}
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void act("speed", { speed: Number(speed) });
            }}
          >
            <label>
              {vi ? "Tốc độ mới" : "New speed"}
              <input type="number" min="1" max="3600" required value={speed} onInput={(e) => setSpeed(e.currentTarget.value)} />
            </label>
            <button type="submit">{vi ? "Đổi tốc độ" : "Set speed"}</button>
          </form>
          <button type="button" class="danger" onClick={() => act("stop")}>
            {vi ? "Dừng diễn tập" : "Stop the exercise"}
          </button>
        </div>
      )}
      <ErrorNote error={error} />
    </section>
  );
}
