// Small pieces every view uses.
import { t } from "../i18n";

/** The API's message, shown where it happened (never swallowed). */
export function ErrorNote({ error }: { error: string | null | undefined }) {
  if (!error) return null;
  return (
    <p role="alert" class="error">
      {error}
    </p>
  );
}

export function Loading({ error }: { error?: string | null }) {
  return error ? <ErrorNote error={error} /> : <p class="loading">{t("loading")}</p>;
}
