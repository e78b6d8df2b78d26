// Phone (Local mode): per registered device, the notifications the Local push provider recorded.
import { useState } from "preact/hooks";
import { formatTime } from "../format";
import { useLoad } from "../hooks";
import { lang, t } from "../i18n";
import { deviceNotifications, listDevices } from "../simulator";
import { Loading } from "./parts";

function Notifications({ id }: { id: string }) {
  const language = lang.value;
  const list = useLoad(() => deviceNotifications(id), [id], ["delivery", "alert.issued", "alert.updated", "alert.cancelled"]);
  if (!list.data) return <Loading error={list.error} />;
  if (!list.data.length) return <p>{t("noNotifications")}</p>;
  return (
    <ol class="notifications" data-testid="notifications">
      {list.data.map((n, i) => (
        <li key={i} class="notification" lang={n.language?.slice(0, 2)}>
          <strong>{n.title}</strong>
          <p>{n.body}</p>
          <p class="muted">
            {n.language} · {formatTime(n.arrived_at, language)}
          </p>
        </li>
      ))}
    </ol>
  );
}

export function Phone() {
  const devices = useLoad(listDevices, [], ["delivery"]);
  const [chosen, setChosen] = useState<string>("");
  const id = chosen || devices.data?.[0]?.device_id || "";
  return (
    <section aria-labelledby="phone-title">
      <h1 id="phone-title">{t("phone")}</h1>
      <p class="muted">{t("phoneIntro")}</p>
      {!devices.data ? (
        <Loading error={devices.error} />
      ) : devices.data.length === 0 ? (
        <p>{t("empty")}</p>
      ) : (
        <>
          <label>
            {t("device")}
            <select name="device" value={id} onChange={(e) => setChosen(e.currentTarget.value)}>
              {devices.data.map((d) => (
                <option key={d.device_id} value={d.device_id}>
                  {d.device_id} {d.language ? `(${d.language})` : ""}
                </option>
              ))}
            </select>
          </label>
          <div class="phone-frame">{id && <Notifications id={id} />}</div>
        </>
      )}
    </section>
  );
}
