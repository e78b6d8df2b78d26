// Admin: staff accounts and their roles (create one), machine tokens, the audit log, feed sources.
import { useState } from "preact/hooks";
import { api, problemOf, session, unwrap, type Schemas } from "../api/client";
import { formatTime } from "../format";
import { useLoad } from "../hooks";
import { lang, t } from "../i18n";
import { DataTable } from "./DataTable";
import { ErrorNote, Loading } from "./parts";

const ROLES = ["issuer", "approver", "operator", "dispatcher", "admin"] as const;
type Role = (typeof ROLES)[number];

const ROLE_WORDS: Record<Role, [string, string]> = {
  issuer: ["soạn cảnh báo", "issuer"],
  approver: ["phê duyệt", "approver"],
  operator: ["điện thoại viên", "operator"],
  dispatcher: ["điều phối cứu hộ", "dispatcher"],
  admin: ["quản trị", "admin"],
};

function roleWords(role: string, vi: boolean): string {
  const pair = ROLE_WORDS[role as Role];
  return pair ? pair[vi ? 0 : 1] : role;
}

type User = Schemas["UserView"];

/** A user's roles as checkboxes, saved together (PUT replaces them); a grant another admin
 * made waits here for this admin's confirmation. */
function UserRoles({ user, onDone }: { user: User; onDone: () => void }) {
  const vi = lang.value === "vi";
  const [roles, setRoles] = useState<string[]>(user.roles);
  const [error, setError] = useState<string | null>(null);
  const changed = [...roles].sort().join() !== [...user.roles].sort().join();
  const save = async () => {
    setError(null);
    const { data, error: failed, response } = await api.PUT("/api/v1/users/{username}/roles", {
      params: { path: { username: user.username } },
      body: { roles: roles as Role[] },
    });
    if (!data) setError(problemOf(response, failed).message);
    onDone();
  };
  const confirm = async () => {
    setError(null);
    const { data, error: failed, response } = await api.POST("/api/v1/users/{username}/roles/confirm", {
      params: { path: { username: user.username } },
    });
    if (!data) setError(problemOf(response, failed).message);
    onDone();
  };
  return (
    <fieldset class="roles" data-testid={`roles-${user.username}`}>
      <legend class="visually-hidden">
        {vi ? "Vai trò của" : "Roles of"} {user.username}
      </legend>
      {ROLES.map((role) => (
        <label key={role} class="inline">
          <input
            type="checkbox"
            checked={roles.includes(role)}
            onChange={(e) => setRoles(e.currentTarget.checked ? [...roles, role] : roles.filter((r) => r !== role))}
          />
          {roleWords(role, vi)}
        </label>
      ))}
      <button type="button" disabled={!changed} onClick={save}>
        {vi ? `Lưu vai trò của ${user.username}` : `Save ${user.username}'s roles`}
      </button>
      {user.pending_roles.length > 0 && (
        <p class="note">
          {vi ? "Chờ quản trị viên thứ hai xác nhận" : "Waiting for a second admin"}:{" "}
          {user.pending_roles.map((r) => roleWords(r, vi)).join(", ")}{" "}
          <button type="button" onClick={confirm}>
            {vi ? "Xác nhận" : "Confirm"}
          </button>
        </p>
      )}
      <ErrorNote error={error} />
    </fieldset>
  );
}

function UserState({ user, onDone }: { user: User; onDone: () => void }) {
  const vi = lang.value === "vi";
  const [error, setError] = useState<string | null>(null);
  const me = session.value?.user.username === user.username;
  const toggle = async () => {
    setError(null);
    const params = { params: { path: { username: user.username } } };
    const { data, error: failed, response } = user.disabled_at
      ? await api.POST("/api/v1/users/{username}/enable", params)
      : await api.POST("/api/v1/users/{username}/disable", params);
    if (!data) setError(problemOf(response, failed).message);
    onDone();
  };
  return (
    <>
      {user.disabled_at ? (vi ? "đã khoá" : "disabled") : vi ? "đang dùng" : "active"}{" "}
      {!me && (
        <button type="button" onClick={toggle}>
          {user.disabled_at ? (vi ? `Mở lại ${user.username}` : `Enable ${user.username}`) : vi ? `Khoá ${user.username}` : `Disable ${user.username}`}
        </button>
      )}
      <ErrorNote error={error} />
    </>
  );
}

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
            {roleWords(role, vi)}
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
          <DataTable
            rows={users.data}
            error={users.error}
            rowKey={(u) => u.id}
            testid="users"
            caption={vi ? "Tài khoản" : "Accounts"}
            columns={[
              {
                header: vi ? "Người dùng" : "User",
                cell: (u) => (
                  <>
                    {u.display_name || u.username} <span class="muted">({u.username})</span>
                  </>
                ),
              },
              { header: vi ? "Vai trò" : "Roles", cell: (u) => <UserRoles user={u} onDone={users.reload} /> },
              { header: t("state"), cell: (u) => <UserState user={u} onDone={users.reload} /> },
            ]}
          />
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
