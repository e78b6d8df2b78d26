// One table for the lists the views show (the call log, callbacks, rescue requests): a header
// per column, a row per item, "Không có." when there is none, and the API's error instead of
// the table when loading failed.
import type { ComponentChildren } from "preact";
import { t } from "../i18n";
import { Loading } from "./parts";

export interface Column<T> {
  header: string;
  cell: (row: T) => ComponentChildren;
}

export interface DataTableProps<T> {
  rows: T[] | null;
  error?: string | null;
  columns: Column<T>[];
  rowKey: (row: T) => string | number;
  caption?: string;
  testid?: string;
  /** Marks a row (the one chosen): aria-current and a class. */
  chosen?: (row: T) => boolean;
}

export function DataTable<T>(props: DataTableProps<T>) {
  const { rows, columns } = props;
  if (!rows) return <Loading error={props.error} />;
  if (rows.length === 0) return <p>{t("empty")}</p>;
  return (
    <table class="list" data-testid={props.testid}>
      {props.caption && <caption class="visually-hidden">{props.caption}</caption>}
      <thead>
        <tr>
          {columns.map((c) => (
            <th scope="col" key={c.header}>
              {c.header}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => {
          const chosen = props.chosen?.(row) ?? false;
          return (
            <tr key={props.rowKey(row)} class={chosen ? "chosen" : undefined} aria-current={chosen ? "true" : undefined}>
              {columns.map((c) => (
                <td key={c.header}>{c.cell(row)}</td>
              ))}
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
