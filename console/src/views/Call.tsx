// Call (Local mode): a dial pad into the IVR through the same webhook path Twilio would take;
// the spoken prompts shown as text; an SMS box.
import { useState } from "preact/hooks";
import { lang, t } from "../i18n";
import { hangUp, placeCall, sendDigits, sendSms, type SimCall } from "../simulator";
import { ErrorNote } from "./parts";

const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];

// The call's status as the simulator names it (Twilio's words), said to staff.
const STATUS_WORDS: Record<string, [string, string]> = {
  "in-progress": ["Đang trong cuộc gọi", "In progress"],
  queued: ["Đang chờ điện thoại viên", "Waiting for an operator"],
  completed: ["Cuộc gọi đã kết thúc", "Call ended"],
};

export function Call() {
  const language = lang.value;
  const [from, setFrom] = useState("+84905123456");
  const [call, setCall] = useState<SimCall | null>(null);
  const [said, setSaid] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [sms, setSms] = useState("");
  const [smsAnswer, setSmsAnswer] = useState<string | null>(null);
  const run = async (step: () => Promise<SimCall>) => {
    setError(null);
    try {
      const next = await step();
      setCall(next);
      setSaid((s) => [...s, ...(next.prompts ?? [])]);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  const dial = (e: Event) => {
    e.preventDefault();
    setSaid([]);
    run(() => placeCall(from));
  };
  const press = (key: string) => call && run(() => sendDigits(call.call_sid, key));
  // The keys work while the call waits for digits (in the menu, or in the queue's options).
  const listening = call !== null && call.status !== "completed" && call.expects !== "none";
  const sendText = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const answer = await sendSms(from, sms);
      setSmsAnswer(answer.replies.length ? answer.replies.join("\n") : language === "vi" ? "Đã gửi." : "Sent.");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <section aria-labelledby="call-title" class="call">
      <h1 id="call-title">{t("call")}</h1>
      <ErrorNote error={error} />
      <div class="columns">
        <div class="column">
          <form onSubmit={dial}>
            <label>
              {t("fromNumber")}
              <input name="from" type="tel" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
            </label>
            <div class="buttons">
              <button type="submit" class="primary">
                {t("dial")} 1900 1075
              </button>
              <button
                type="button"
                disabled={!call || call.status === "completed"}
                onClick={() => call && run(() => hangUp(call.call_sid))}
              >
                {t("hangup")}
              </button>
            </div>
          </form>
          <div class="dialpad" role="group" aria-label={language === "vi" ? "Bàn phím số" : "Dial pad"}>
            {KEYS.map((k) => (
              <button type="button" key={k} disabled={!listening} onClick={() => press(k)} aria-label={`${language === "vi" ? "Phím" : "Key"} ${k}`}>
                {k}
              </button>
            ))}
          </div>
        </div>
        <div class="column">
          <h2>{t("prompts")}</h2>
          <ol class="prompts" aria-live="polite" data-testid="prompts">
            {said.map((p, i) => (
              <li key={i} lang="vi">
                {p}
              </li>
            ))}
          </ol>
          {call?.status && (
            <p class="muted" data-testid="call-status">
              {STATUS_WORDS[call.status]?.[language === "vi" ? 0 : 1] ?? call.status}
              {call.queue_position ? ` · ${language === "vi" ? "vị trí trong hàng chờ" : "place in the queue"} ${call.queue_position}` : ""}
            </p>
          )}
          <form onSubmit={sendText}>
            <h2>{t("smsBox")}</h2>
            <label>
              {t("smsBody")}
              <textarea name="sms" rows={2} value={sms} onInput={(e) => setSms(e.currentTarget.value)} required />
            </label>
            <button type="submit">{t("send")}</button>
            {smsAnswer && (
              <p role="status" class="note" data-testid="sms-replies">
                {smsAnswer}
              </p>
            )}
          </form>
        </div>
      </div>
    </section>
  );
}
