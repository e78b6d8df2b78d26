import { render } from "preact";
import { afterEach, describe, expect, it } from "vitest";
import type { Schemas } from "../api/client";
import { lang } from "../i18n";
import { flagWords, ownPath } from "./Cameras";
import { actorName } from "./Rescue";

describe("the cameras wall's words", () => {
  afterEach(() => {
    document.body.innerHTML = "";
    lang.value = "vi";
  });

  it("says each quality flag in Vietnamese first, English second", () => {
    const flags: Schemas["FlagView"]["flag"][] = ["frozen", "dark", "uniform", "blurred", "unreachable"];
    expect(flags.map((f) => flagWords(f, "vi"))).toEqual([
      "Hình đứng yên",
      "Quá tối",
      "Hình một màu",
      "Bị mờ",
      "Không kết nối được",
    ]);
    expect(flagWords("unreachable", "en")).toBe("Unreachable");
  });

  it("loads stills from this origin whatever host the service names in its URLs", () => {
    expect(ownPath("https://canhbao.example.vn/api/v1/camera-images/ab12/thumbnail")).toBe(
      "/api/v1/camera-images/ab12/thumbnail",
    );
    expect(ownPath("/api/v1/camera-images/ab12?x=1")).toBe("/api/v1/camera-images/ab12?x=1");
  });

  it("names the account behind an audit actor", () => {
    expect(actorName("user:hai")).toBe("hai");
    expect(actorName("dispatch")).toBe("dispatch");
    expect(actorName(null)).toBe("—");
    render(<p>{actorName("user:lan")}</p>, document.body);
    expect(document.body.textContent).toBe("lan");
  });
});
