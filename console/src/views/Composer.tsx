// The composer: starting texts, CAP codes, the area (wards clicked or a polygon drawn), and the
// live recipient preview before the draft is saved.
import L from "leaflet";
import "@geoman-io/leaflet-geoman-free";
import "@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, problemOf, unwrap, type Schemas } from "../api/client";
import { draftBody, previewGeometry, type DraftForm } from "../draft";
import { formatNumber } from "../format";
import type { LatLon } from "../geo";
import { lang, severityWords, t } from "../i18n";
import { createMap, fitWards, loadWards, type Ward } from "../map";
import { CERTAINTIES, PRESETS, SEVERITIES, URGENCIES, type PresetText } from "../presets";
import { navigate } from "../router";
import { ErrorNote } from "./parts";
import { Preview } from "./Preview";

function initialForm(): DraftForm {
  const preset = PRESETS[0]!;
  return {
    category: preset.category,
    severity: preset.severity,
    urgency: preset.urgency,
    certainty: preset.certainty,
    responseType: preset.responseType,
    vi: { ...preset.vi },
    en: { ...preset.en },
    expiresHours: 12,
    areaDesc: "",
    wardCodes: [],
    polygon: null,
  };
}

function Texts(props: { title: string; lang: string; text: PresetText; onChange: (t: PresetText) => void }) {
  const field = (key: keyof PresetText, label: string, long = false) => (
    <label>
      {label}
      {long ? (
        <textarea
          lang={props.lang}
          name={`${props.lang}-${key}`}
          rows={3}
          value={props.text[key]}
          onInput={(e) => props.onChange({ ...props.text, [key]: e.currentTarget.value })}
        />
      ) : (
        <input
          lang={props.lang}
          name={`${props.lang}-${key}`}
          value={props.text[key]}
          onInput={(e) => props.onChange({ ...props.text, [key]: e.currentTarget.value })}
        />
      )}
    </label>
  );
  return (
    <fieldset>
      <legend>{props.title}</legend>
      {field("event", t("event"))}
      {field("headline", t("headline"))}
      {field("description", t("description"), true)}
      {field("instruction", t("instruction"), true)}
    </fieldset>
  );
}

export function Composer() {
  const [form, setForm] = useState<DraftForm>(initialForm);
  const [wards, setWards] = useState<Ward[]>([]);
  const [preview, setPreview] = useState<Schemas["PlanPreview"] | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const holder = useRef<HTMLDivElement>(null);
  const mapRef = useRef<{ map: L.Map; wardLayers: Map<string, L.Polygon>; drawn: L.Layer | null } | null>(null);
  const selected = useRef<Set<string>>(new Set());
  const language = lang.value;

  const update = (change: Partial<DraftForm>) => setForm((f) => ({ ...f, ...change }));

  const styleWards = () => {
    for (const [code, layer] of mapRef.current?.wardLayers ?? []) {
      const on = selected.current.has(code);
      layer.setStyle({ fillColor: on ? "#c62828" : "#90a4ae", fillOpacity: on ? 0.5 : 0.15 });
    }
  };
  const toggleWard = (code: string) => {
    const set = selected.current;
    if (set.has(code)) set.delete(code);
    else set.add(code);
    styleWards();
    update({ wardCodes: [...set] });
  };

  useEffect(() => {
    let gone = false;
    (async () => {
      if (!holder.current) return;
      const map = await createMap(holder.current);
      if (gone) return map.remove();
      const held = { map, wardLayers: new Map<string, L.Polygon>(), drawn: null as L.Layer | null };
      mapRef.current = held;
      map.pm.addControls({
        position: "topleft",
        drawPolygon: true,
        drawMarker: false,
        drawCircleMarker: false,
        drawPolyline: false,
        drawRectangle: false,
        drawCircle: false,
        drawText: false,
        editMode: true,
        dragMode: false,
        cutPolygon: false,
        removalMode: false,
        rotateMode: false,
      });
      map.on("pm:create", (e: { layer: L.Layer }) => {
        if (held.drawn) map.removeLayer(held.drawn);
        held.drawn = e.layer;
        const readRing = () => {
          const ring = ((e.layer as L.Polygon).getLatLngs()[0] as L.LatLng[]).map(
            (p) => [p.lat, p.lng] as LatLon,
          );
          update({ polygon: ring });
        };
        readRing();
        e.layer.on("pm:edit", readRing);
      });
      try {
        const all = await loadWards();
        if (gone) return;
        setWards(all);
        for (const ward of all) {
          const layer = L.polygon(ward.rings, { color: "#37474f", weight: 1, fillColor: "#90a4ae", fillOpacity: 0.15 });
          layer.bindTooltip(ward.name);
          layer.on("click", () => {
            // A click while drawing places a corner, not a selection.
            if (!map.pm.globalDrawModeEnabled()) toggleWard(ward.code);
          });
          layer.addTo(map);
          held.wardLayers.set(ward.code, layer);
        }
        fitWards(map, all);
        holder.current?.setAttribute("data-ready", "true");
      } catch (err) {
        setError(err instanceof Error ? err.message : String(err));
      }
    })();
    return () => {
      gone = true;
      mapRef.current?.map.remove();
      mapRef.current = null;
    };
  }, []);

  // The area's name follows the chosen wards until staff type their own.
  const [areaDescTouched, setAreaDescTouched] = useState(false);
  const autoDesc = useMemo(() => {
    const names = wards.filter((w) => form.wardCodes.includes(w.code)).map((w) => w.name);
    if (form.polygon) names.push(language === "vi" ? "vùng đã vẽ" : "the drawn area");
    return names.join(", ");
  }, [form.wardCodes, form.polygon, wards, language]);
  useEffect(() => {
    if (!areaDescTouched) update({ areaDesc: autoDesc });
  }, [autoDesc, areaDescTouched]);

  // The live preview: asked again 300 ms after the area last changed.
  useEffect(() => {
    const rings = wards.filter((w) => form.wardCodes.includes(w.code)).flatMap((w) => w.rings);
    const geometry = previewGeometry(form.polygon, rings);
    if (!geometry) {
      setPreview(null);
      return;
    }
    let stale = false;
    const timer = setTimeout(() => {
      unwrap(api.POST("/api/v1/targeting/preview", { body: { geometry } })).then(
        (answer) => {
          if (stale) return;
          setPreview(answer);
          setPreviewError(null);
        },
        (err: Error) => !stale && setPreviewError(err.message),
      );
    }, 300);
    return () => {
      stale = true;
      clearTimeout(timer);
    };
  }, [form.polygon, form.wardCodes, wards]);

  const choosePreset = (id: string) => {
    const preset = PRESETS.find((p) => p.id === id);
    if (!preset) return;
    update({
      category: preset.category,
      severity: preset.severity,
      urgency: preset.urgency,
      certainty: preset.certainty,
      responseType: preset.responseType,
      vi: { ...preset.vi },
      en: { ...preset.en },
    });
  };

  const clearArea = () => {
    selected.current.clear();
    styleWards();
    const held = mapRef.current;
    if (held?.drawn) held.map.removeLayer(held.drawn);
    if (held) held.drawn = null;
    update({ wardCodes: [], polygon: null });
  };

  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const { data, error: failed, response } = await api.POST("/api/v1/alerts", {
      body: draftBody(form, new Date()),
    });
    setBusy(false);
    if (!data) return setError(problemOf(response, failed).message);
    navigate(`/warnings/${encodeURIComponent(data.identifier)}`);
  };

  const select = (name: keyof DraftForm, label: string, options: string[], words?: (v: string) => string) => (
    <label>
      {label}
      <select name={name} value={form[name] as string} onChange={(e) => update({ [name]: e.currentTarget.value })}>
        {options.map((o) => (
          <option key={o} value={o}>
            {words ? `${words(o)} (${o})` : o}
          </option>
        ))}
      </select>
    </label>
  );

  return (
    <form class="composer" onSubmit={save} aria-labelledby="composer-title">
      <h1 id="composer-title">{t("newWarning")}</h1>
      <div class="columns">
        <div class="column">
          <label>
            {t("template")}
            <select name="template" onChange={(e) => choosePreset(e.currentTarget.value)}>
              {PRESETS.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.label[language === "vi" ? 0 : 1]}
                </option>
              ))}
            </select>
          </label>
          {select("severity", t("severity"), SEVERITIES, (v) => severityWords(v, language))}
          {select("urgency", t("urgency"), URGENCIES)}
          {select("certainty", t("certainty"), CERTAINTIES)}
          <label>
            {t("expiresHours")}
            <input
              type="number"
              name="expires"
              min={1}
              max={24}
              value={form.expiresHours}
              onInput={(e) => update({ expiresHours: Number(e.currentTarget.value) || 1 })}
            />
          </label>
          <Texts title="Tiếng Việt" lang="vi" text={form.vi} onChange={(vi) => update({ vi })} />
          <Texts title="English" lang="en" text={form.en} onChange={(en) => update({ en })} />
        </div>
        <div class="column">
          <fieldset>
            <legend>{t("area")}</legend>
            <p class="muted">{t("areaHelp")}</p>
            <div ref={holder} class="map small" data-testid="composer-map" role="region" aria-label={t("area")} />
            <div class="buttons">
              <button type="button" onClick={() => mapRef.current?.map.pm.enableDraw("Polygon")}>
                {t("drawPolygon")}
              </button>
              <button type="button" onClick={clearArea}>
                {t("clearArea")}
              </button>
            </div>
            <details>
              <summary>{t("ward")} ({form.wardCodes.length})</summary>
              <ul class="ward-list">
                {wards.map((w) => (
                  <li key={w.code}>
                    <label>
                      <input
                        type="checkbox"
                        checked={form.wardCodes.includes(w.code)}
                        onChange={() => toggleWard(w.code)}
                      />
                      {w.name}
                    </label>
                  </li>
                ))}
              </ul>
            </details>
            <label>
              {t("areaDesc")}
              <input
                name="areaDesc"
                required
                value={form.areaDesc}
                onInput={(e) => {
                  setAreaDescTouched(true);
                  update({ areaDesc: e.currentTarget.value });
                }}
              />
            </label>
          </fieldset>
          <section aria-labelledby="preview-title" aria-live="polite">
            <h2 id="preview-title">{t("preview")}</h2>
            <ErrorNote error={previewError} />
            <Preview preview={preview} wards={wards} />
          </section>
          <ErrorNote error={error} />
          <button type="submit" class="primary" disabled={busy || (!form.polygon && !form.wardCodes.length)}>
            {t("saveDraft")}
          </button>
        </div>
      </div>
    </form>
  );
}
