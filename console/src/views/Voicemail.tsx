// A call's recordings in the call log: the voicemail (and a rescue caller's recorded address),
// played in the page. Twilio keeps the audio; its RecordingUrl without an extension serves
// WAV, with ".mp3" MP3 (smaller). The console's CSP allows media from api.twilio.com only.
import { useState } from "preact/hooks";
import { api, unwrap, type Schemas } from "../api/client";
import { formatNumber } from "../format";
import { lang } from "../i18n";
import { ErrorNote } from "./parts";

/** Where the browser fetches a recording from: Twilio's URL as MP3; anything else as given. */
export function playable(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.hostname === "api.twilio.com" && !/\.(mp3|wav)$/.test(parsed.pathname)) {
      parsed.pathname += ".mp3";
    }
    return parsed.toString();
  } catch {
    return url;
  }
}

export function Recordings({ recordings }: { recordings: Schemas["Recording"][] }) {
  const vi = lang.value === "vi";
  if (!recordings.length) return <span>{vi ? "Không có bản ghi âm." : "No recording."}</span>;
  return (
    <ul class="plain recordings">
      {recordings.map((r) => (
        <li key={r.recording_sid}>
          <span>
            {r.kind === "voicemail" ? (vi ? "Lời nhắn" : "Voicemail") : vi ? "Địa chỉ đọc lại" : "Address"}
            {r.duration_s !== null ? ` · ${formatNumber(r.duration_s, lang.value)} s` : ""}
          </span>
          <audio controls preload="none" src={playable(r.url)} aria-label={`${vi ? "Nghe" : "Play"} ${r.recording_sid}`} />
        </li>
      ))}
    </ul>
  );
}

export function Voicemail({ call }: { call: Schemas["CallView"] }) {
  const vi = lang.value === "vi";
  const [recordings, setRecordings] = useState<Schemas["Recording"][] | null>(null);
  const [error, setError] = useState<string | null>(null);
  if (call.outcome !== "voicemail") return <span aria-hidden="true">—</span>;
  if (recordings) return <Recordings recordings={recordings} />;
  const open = async () => {
    setError(null);
    try {
      const detail = await unwrap(api.GET("/api/v1/hotline/calls/{sid}", { params: { path: { sid: call.sid } } }));
      setRecordings(detail.recordings);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <>
      <button type="button" class="link" onClick={open}>
        {vi ? `Nghe lời nhắn của ${call.from}` : `Play ${call.from}'s voicemail`}
      </button>
      <ErrorNote error={error} />
    </>
  );
}
