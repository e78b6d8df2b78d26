import { useState } from "preact/hooks";
import { api, expired, problemOf, session } from "../api/client";
import { t } from "../i18n";
import { ErrorNote } from "./parts";

export function Login(props: { onDone: () => void; expired: boolean }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const { data, error: failed, response } = await api.POST("/api/v1/auth/login", {
      body: { username, password },
    });
    setBusy(false);
    if (!data) {
      setError(problemOf(response, failed).message);
      return;
    }
    session.value = data;
    expired.value = false;
    props.onDone();
  };
  return (
    <main class="login" id="main">
      <h1>{t("appName")}</h1>
      {props.expired && <p role="status" class="note">{t("sessionEnded")}</p>}
      <form onSubmit={submit}>
        <label>
          {t("username")}
          <input
            name="username"
            autoComplete="username"
            required
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        </label>
        <label>
          {t("password")}
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        <ErrorNote error={error} />
        <button type="submit" disabled={busy}>
          {t("login")}
        </button>
      </form>
    </main>
  );
}
