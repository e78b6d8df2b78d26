import { describe, expect, it } from "vitest";
import { match, safeReturn } from "./router";

describe("routes", () => {
  it("reads the named parts of a path", () => {
    expect(match("/warnings/:id", "/warnings/urn%3Aoid%3A2.49")).toEqual({ id: "urn:oid:2.49" });
    expect(match("/warnings/:id", "/warnings")).toBeNull();
    expect(match("/warnings/new", "/warnings/new")).toEqual({});
  });

  it("returns after login only to a path of the console", () => {
    expect(safeReturn("/warnings/abc")).toBe("/warnings/abc");
    expect(safeReturn("//evil.example/x")).toBe("/");
    expect(safeReturn("https://evil.example")).toBe("/");
    expect(safeReturn("/login")).toBe("/");
    expect(safeReturn(null)).toBe("/");
  });
});
