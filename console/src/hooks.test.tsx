import { render } from "preact";
import { act } from "preact/test-utils";
import { describe, expect, it } from "vitest";
import { useLoad } from "./hooks";

describe("useLoad", () => {
  it("coalesces reloads asked while one is in flight into one more", async () => {
    const resolvers: ((n: number) => void)[] = [];
    let calls = 0;
    const load = () =>
      new Promise<number>((resolve) => {
        calls += 1;
        resolvers.push(resolve);
      });
    let reload: () => void = () => undefined;
    let shown: number | null = null;
    function Probe() {
      const loaded = useLoad(load, []);
      reload = loaded.reload;
      shown = loaded.data;
      return null;
    }
    const root = document.createElement("div");
    await act(() => render(<Probe />, root));
    expect(calls).toBe(1);
    for (let i = 0; i < 50; i += 1) reload(); // a burst of live events
    expect(calls).toBe(1);
    await act(async () => resolvers[0]!(1));
    expect(calls).toBe(2); // one more, for the whole burst
    await act(async () => resolvers[1]!(2));
    expect(calls).toBe(2);
    expect(shown).toBe(2);
  });
});
