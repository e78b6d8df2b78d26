import { render } from "preact";
import { afterEach, describe, expect, it } from "vitest";
import type { Schemas } from "../api/client";
import { lang } from "../i18n";
import { playable, Recordings } from "./Voicemail";

const twilio = "https://api.twilio.com/2010-04-01/Accounts/AC0123/Recordings/RE0123";

describe("voicemail in the call log", () => {
  afterEach(() => {
    document.body.innerHTML = "";
    lang.value = "vi";
  });

  it("plays Twilio's recording as MP3, and other URLs as given", () => {
    expect(playable(twilio)).toBe(`${twilio}.mp3`);
    expect(playable(`${twilio}.wav`)).toBe(`${twilio}.wav`);
    expect(playable("http://127.0.0.1:8080/rec/1.mp3")).toBe("http://127.0.0.1:8080/rec/1.mp3");
  });

  it("shows each recording with its kind, length and a player", () => {
    const recordings = [
      { recording_sid: "RE1", kind: "voicemail", url: twilio, duration_s: 1234, status: "completed", created_at: "2026-12-03T10:00:00Z" },
    ] as Schemas["Recording"][];
    render(<Recordings recordings={recordings} />, document.body);
    expect(document.body.textContent).toContain("Lời nhắn · 1.234 s");
    const audio = document.querySelector("audio");
    expect(audio?.getAttribute("src")).toBe(`${twilio}.mp3`);
    expect(audio?.getAttribute("aria-label")).toBe("Nghe RE1");
    render(<Recordings recordings={[]} />, document.body);
    expect(document.body.textContent).toBe("Không có bản ghi âm.");
  });
});
