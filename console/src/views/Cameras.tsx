// Cameras: a wall of each camera's latest still, with its age and its quality flags. The flags
// change live (camera.flagged on the stream); ages tick on screen; nothing polls.
import { api, unwrap, type Schemas } from "../api/client";
import { formatAge, formatTime } from "../format";
import { useLoad, useNow } from "../hooks";
import { lang, t, type Lang } from "../i18n";
import { Loading } from "./parts";

type Camera = Schemas["CameraView"];

const FLAG_WORDS: Record<Schemas["FlagView"]["flag"], [string, string]> = {
  frozen: ["Hình đứng yên", "Frozen picture"],
  dark: ["Quá tối", "Too dark"],
  uniform: ["Hình một màu", "Uniform picture"],
  blurred: ["Bị mờ", "Blurred"],
  unreachable: ["Không kết nối được", "Unreachable"],
};

const STATUS_WORDS: Record<string, [string, string]> = {
  failing: ["đang lỗi", "failing"],
  disabled: ["đã tắt", "disabled"],
};

export function flagWords(flag: Schemas["FlagView"]["flag"], language: Lang): string {
  return FLAG_WORDS[flag]?.[language === "vi" ? 0 : 1] ?? flag;
}

/** A URL of ours, as a path: the page's CSP allows images from this origin only, and the
 * service's public_base_url may name another host (a proxy) than the one staff browse. */
export function ownPath(url: string): string {
  try {
    const parsed = new URL(url, location.origin);
    return parsed.pathname + parsed.search;
  } catch {
    return url;
  }
}

function Tile({ camera, now }: { camera: Camera; now: Date }) {
  const language = lang.value;
  const still = camera.latest;
  return (
    <li class="camera" data-testid="camera" data-flagged={camera.flags.length ? "true" : "false"}>
      <figure>
        {still ? (
          <img
            src={ownPath(still.thumbnail_url)}
            width={320}
            height={Math.round((320 * still.height) / Math.max(1, still.width))}
            alt={`${camera.name}: ${camera.watches}`}
            loading="lazy"
          />
        ) : (
          <div class="no-still">{t("noStill")}</div>
        )}
        <figcaption>
          <strong>{camera.name}</strong>
          {camera.under_warning && <span class="badge warn">{t("underWarning")}</span>}
          <br />
          <span class="muted">
            {camera.ward?.name ?? "—"} · {camera.watches || "—"}
          </span>
          <br />
          {still ? (
            <span title={formatTime(still.fetched_at, language)} data-testid="camera-age">
              {t("stillAge")} {formatAge(still.last_seen_at, now, language)}
            </span>
          ) : (
            <span data-testid="camera-age">—</span>
          )}
          {camera.status !== "ok" && (
            <span class="muted"> · {STATUS_WORDS[camera.status]?.[language === "vi" ? 0 : 1] ?? camera.status}</span>
          )}
          {camera.flags.length > 0 && (
            <ul class="flags" aria-label={t("flags")}>
              {camera.flags.map((f) => (
                <li key={f.flag} class="badge bad" title={f.detail}>
                  {flagWords(f.flag, language)} ({t("since")} {formatTime(f.since, language)})
                </li>
              ))}
            </ul>
          )}
        </figcaption>
      </figure>
    </li>
  );
}

export function Cameras() {
  const now = useNow(1000);
  const cameras = useLoad(
    () => unwrap(api.GET("/api/v1/cameras")).then((r) => r.cameras),
    [],
    ["camera"],
  );
  const list = cameras.data ?? [];
  // Flagged cameras first (they need a look), then by name.
  const sorted = [...list].sort(
    (a, b) => Number(b.flags.length > 0) - Number(a.flags.length > 0) || a.name.localeCompare(b.name, "vi"),
  );
  return (
    <section aria-labelledby="cameras-title">
      <h1 id="cameras-title">{t("cameras")}</h1>
      {!cameras.data ? (
        <Loading error={cameras.error} />
      ) : sorted.length === 0 ? (
        <p>{t("empty")}</p>
      ) : (
        <ul class="camera-wall" data-testid="camera-wall">
          {sorted.map((c) => (
            <Tile key={c.id} camera={c} now={now} />
          ))}
        </ul>
      )}
    </section>
  );
}
