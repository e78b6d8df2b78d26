import { render } from "preact";
import { afterEach, describe, expect, it } from "vitest";
import { lang } from "../i18n";
import { DataTable } from "./DataTable";

interface Row {
  id: number;
  name: string;
}

const columns = [
  { header: "Số", cell: (r: Row) => r.id },
  { header: "Tên", cell: (r: Row) => r.name },
];

describe("the shared list table", () => {
  afterEach(() => {
    document.body.innerHTML = "";
    lang.value = "vi";
  });

  it("draws a header per column and a row per item, the chosen one marked", () => {
    render(
      <DataTable rows={[{ id: 1, name: "Kim Long" }, { id: 2, name: "Phú Xuân" }]} columns={columns} rowKey={(r) => r.id} chosen={(r) => r.id === 2} />,
      document.body,
    );
    const heads = [...document.querySelectorAll("th")].map((th) => th.textContent);
    expect(heads).toEqual(["Số", "Tên"]);
    const rows = [...document.querySelectorAll("tbody tr")];
    expect(rows.map((r) => r.textContent)).toEqual(["1Kim Long", "2Phú Xuân"]);
    expect(rows.map((r) => r.getAttribute("aria-current"))).toEqual([null, "true"]);
  });

  it("says there is none, or shows the API's error instead of an empty table", () => {
    render(<DataTable rows={[]} columns={columns} rowKey={(r) => r.id} />, document.body);
    expect(document.body.textContent).toBe("Không có.");
    render(<DataTable rows={null} error="403 forbidden: needs dispatcher" columns={columns} rowKey={(r) => r.id} />, document.body);
    expect(document.querySelector("[role=alert]")?.textContent).toBe("403 forbidden: needs dispatcher");
  });
});
