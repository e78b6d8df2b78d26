// The shell: who is logged in, the navigation, the live link, and the view for the route.
import { useEffect, useState } from "preact/hooks";
import { api, expired, hasRole, session } from "./api/client";
import { lang, setLang, t } from "./i18n";
import { connected, startLive, stopLive } from "./live";
import { BASE, match, navigate, route, safeReturn } from "./router";
import { Login } from "./views/Login";
import { Situation } from "./views/Situation";
import { Warnings } from "./views/Warnings";
import { Composer } from "./views/Composer";
import { WarningDetail } from "./views/WarningDetail";
import { Hotline } from "./views/Hotline";
import { Phone } from "./views/Phone";
import { Call } from "./views/Call";
import { Stations } from "./views/Stations";
import { Rescue } from "./views/Rescue";
import { Admin } from "./views/Admin";
import { Cameras } from "./views/Cameras";
import { ExerciseBanner, Exercises } from "./views/Exercises";

export function Link(props: { href: string; children: preact.ComponentChildren; class?: string }) {
  return (
    <a
      href={BASE + props.href}
      class={props.class}
      aria-current={route.value === props.href ? "page" : undefined}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(props.href);
      }}
    >
      {props.children}
    </a>
  );
}

function View({ path }: { path: string }) {
  if (path === "/" || path === "") return <Situation />;
  if (path === "/warnings") return <Warnings />;
  if (path === "/warnings/new") return <Composer />;
  const warning = match("/warnings/:id", path);
  if (warning) return <WarningDetail identifier={warning.id ?? ""} />;
  if (path === "/hotline") return <Hotline />;
  if (path === "/phone") return <Phone />;
  if (path === "/call") return <Call />;
  if (path === "/stations") return <Stations />;
  if (path === "/rescue") return <Rescue />;
  if (path === "/cameras") return <Cameras />;
  if (path === "/admin") return <Admin />;
  if (path === "/exercises") return <Exercises />;
  return <p role="alert">404: {path}</p>;
}

export function App() {
  const [checked, setChecked] = useState(false);
  useEffect(() => {
    api.GET("/api/v1/auth/me").then(({ data }) => {
      if (data && "csrf_token" in data) session.value = data;
      setChecked(true);
    }, () => setChecked(true));
  }, []);
  const user = session.value;
  useEffect(() => {
    if (user) startLive();
    else stopLive();
  }, [user?.csrf_token]);
  const path = route.value;
  useEffect(() => {
    // Not logged in (or the session ended): the login page, then back to where the user was.
    if (checked && !user && path !== "/login") {
      navigate(`/login?next=${encodeURIComponent(path + location.search)}`, true);
    }
  }, [checked, user, path]);
  if (!checked) return <p class="loading">{t("loading")}</p>;
  if (!user || path === "/login") {
    const next = safeReturn(new URLSearchParams(location.search).get("next"));
    return <Login onDone={() => navigate(next, true)} expired={expired.value} />;
  }
  const logout = async () => {
    await api.POST("/api/v1/auth/logout");
    session.value = null;
    expired.value = false;
  };
  return (
    <div class="shell">
      <a class="skip" href="#main">
        {lang.value === "vi" ? "Bỏ qua điều hướng" : "Skip to content"}
      </a>
      <header class="top">
        <strong class="brand">{t("appName")}</strong>
        <nav aria-label={lang.value === "vi" ? "Các trang" : "Pages"}>
          <Link href="/">{t("situation")}</Link>
          {hasRole("issuer", "approver") && <Link href="/warnings">{t("warnings")}</Link>}
          <Link href="/stations">{t("stations")}</Link>
          {hasRole("operator", "dispatcher") && <Link href="/hotline">{t("hotline")}</Link>}
          {hasRole("operator", "dispatcher") && <Link href="/rescue">{t("rescue")}</Link>}
          <Link href="/cameras">{t("cameras")}</Link>
          {hasRole("admin") && <Link href="/admin">{lang.value === "vi" ? "Quản trị" : "Admin"}</Link>}
          <Link href="/exercises">{lang.value === "vi" ? "Diễn tập" : "Exercises"}</Link>
          <Link href="/phone">{t("phone")}</Link>
          <Link href="/call">{t("call")}</Link>
        </nav>
        <span class={connected.value ? "live on" : "live off"} role="status">
          {connected.value ? t("live") : t("offline")}
        </span>
        <label class="lang">
          <span class="visually-hidden">{t("language")}</span>
          <select
            value={lang.value}
            onChange={(e) => setLang((e.currentTarget.value as "vi" | "en") ?? "vi")}
          >
            <option value="vi">Tiếng Việt</option>
            <option value="en">English</option>
          </select>
        </label>
        <span class="who">{user.user.display_name || user.user.username}</span>
        <button type="button" onClick={logout}>
          {t("logout")}
        </button>
      </header>
      <ExerciseBanner />
      <main id="main" tabIndex={-1}>
        <View path={path} />
      </main>
    </div>
  );
}
