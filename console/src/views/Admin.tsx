// Admin: staff accounts and their roles (create one), machine tokens, the audit log, feed sources.
import { useState } from "preact/hooks";
import { api, problemOf, unwrap } from "../api/client";
import { formatTime } from "../format";
import { useLoad } from "../hooks";
import { lang } from "../i18n";
import { ErrorNote, Loading } from "./parts";

const ROLES = ["issuer", "approver", "operator", "dispatcher", "admin"] as const;
type Role = (typeof ROLES)[number];

function NewUser({ onDone }: { onDone: () => void }) {
  const vi = lang.value === "vi";
  const [username, setUsername] = useState("");
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [roles, setRoles] = useState<Role[]>(["issuer"]);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const { data, error: failed, response } = await api.POST("/api/v1/users", {
      body: { username, password, roles, display_name: name },
    });
    if (!data) return setError(problemOf(response, failed).message);
    setUsername("");
    setName("");
    setPassword("");
    onDone();
  };
  return (
    <form onSubmit={submit}>
      <h3>{vi ? "Tạo tài khoản" : "New account"}</h3>
      <label>
        {vi ? "Tên đăng nhập" : "Username"}
        <input required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
      </label>
      <label>
        {vi ? "Họ tên" : "Display name"}
        <input value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label>
        {vi ? "Mật khẩu" : "Password"}
        <input type="password" autoComplete="new-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
      </label>
      <fieldset>
        <legend>{vi ? "Vai trò" : "Roles"}</legend>
        {ROLES.map((role) => (
          <label key={role}>
            <input
              type="checkbox"
              checked={roles.includes(role)}
              onChange={(e) => setRoles(e.currentTarget.checked ? [...roles, role] : roles.filter((r) => r !== role))}
            />
            {role}
          </label>
        ))}
      </fieldset>
      <ErrorNote error={error} />
      <button type="submit" class="primary">
        {vi ? "Tạo" : "Create"}
      </button>
    </form>
  );
}

export function Admin() {
  const language = lang.value;
  const vi = language === "vi";
  const users = useLoad(() => unwrap(api.GET("/api/v1/users")).then((r) => r.items), []);
  const tokens = useLoad(() => unwrap(api.GET("/api/v1/tokens")).then((r) => r.items), []);
  const audit = useLoad(() => unwrap(api.GET("/api/v1/audit", { params: { query: { limit: 50 } } })).then((r) => r.items), []);
  const sources = useLoad(() => unwrap(api.GET("/api/v1/feeds/sources")).then((r) => r.sources), [], ["source"]);
  return (
    <section aria-labelledby="admin-title">
      <h1 id="admin-title">{vi ? "Quản trị" : "Admin"}</h1>
      <div class="columns">
        <div class="column">
          <h2>{vi ? "Tài khoản" : "Accounts"}</h2>
          {!users.data ? (
            <Loading error={users.error} />
          ) : (
            <table class="list">
              <tbody>
                {users.data.map((u) => (
                  <tr key={u.id}>
                    <td>
                      {u.display_name || u.username} <span class="muted">({u.username})</span>
                    </td>
                    <td>
                      {u.roles.join(", ")}
                      {u.pending_roles.length ? ` · ${vi ? "chờ xác nhận" : "pending"}: ${u.pending_roles.join(", ")}` : ""}
                    </td>
                    <td>{u.disabled_at ? (vi ? "đã khoá" : "disabled") : ""}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <NewUser onDone={users.reload} />
          <h2>{vi ? "Mã truy cập máy" : "Machine tokens"}</h2>
          {!tokens.data ? (
            <Loading error={tokens.error} />
          ) : (
            <ul>
              {tokens.data.map((tk) => (
                <li key={tk.id}>
                  {tk.name} · {tk.roles.join(", ")} · {formatTime(tk.created_at, language)}
                  {tk.revoked_at ? ` · ${vi ? "đã thu hồi" : "revoked"}` : ""}
                </li>
              ))}
            </ul>
          )}
          <h2>{vi ? "Nguồn dữ liệu" : "Feed sources"}</h2>
          {!sources.data ? (
            <Loading error={sources.error} />
          ) : (
            <ul>
              {sources.data.map((s) => (
                <li key={s.name}>
                  {s.name}: {s.status} · {formatTime(s.last_success_at, language)}
                  {s.last_error ? ` · ${s.last_error}` : ""}
                </li>
              ))}
            </ul>
          )}
        </div>
        <div class="column">
          <h2>{vi ? "Nhật ký kiểm toán" : "Audit log"}</h2>
          {!audit.data ? (
            <Loading error={audit.error} />
          ) : (
            <ol class="plain">
              {audit.data.map((entry, i) => (
                <li key={i}>
                  {formatTime(String(entry.at ?? entry.created_at ?? ""), language)} · {String(entry.actor ?? "")} ·{" "}
                  {String(entry.action ?? "")} {String(entry.entity ?? "")} {String(entry.entity_id ?? "")}
                </li>
              ))}
            </ol>
          )}
        </div>
      </div>
    </section>
  );
}
