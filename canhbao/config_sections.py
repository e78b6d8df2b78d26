"""The domains' sections of config.toml ([feeds], [geofences], [hotline], [alerting], [cameras]),
as frozen dataclasses; canhbao.config builds them, checks them key by key and re-exports them."""

from __future__ import annotations

import dataclasses
from typing import Literal


@dataclasses.dataclass(frozen=True)
class StationConfig:
    """One [[feeds.stations]] entry; checked further by feeds.setup (thresholds, source)."""

    id: str
    name: str
    kind: Literal["river_level", "rain_gauge", "wind", "flood_depth"]
    lat: float
    lon: float
    source: str
    source_id: str = ""
    river: str = ""
    bao_dong1: float | None = None
    bao_dong2: float | None = None
    bao_dong3: float | None = None
    historic: float | None = None
    reporting_period_s: int = 3600
    max_rate_m_per_h: float = 0.5
    hysteresis_m: float = 0.10
    gross_min: float | None = None
    gross_max: float | None = None


@dataclasses.dataclass(frozen=True)
class FeedPollConfig:
    """What every polled feed source has: the poller's knobs."""

    enabled: bool = False
    interval_s: float = 300.0
    jitter_s: float = 30.0
    timeout_s: float = 20.0
    max_bytes: int = 5_000_000
    backoff_max_s: float = 3600.0


@dataclasses.dataclass(frozen=True)
class VndmsConfig(FeedPollConfig):
    interval_s: float = 600.0
    series_url: str = "https://vndms.dmc.gov.vn/home/detailRain"
    stations_url: str = "https://vndms.dmptc.gov.vn/water_level"
    origin: str = "https://vndms.dmptc.gov.vn"
    time_select: int = 7
    catalogue_interval_s: float = 86400.0


@dataclasses.dataclass(frozen=True)
class SensorThingsConfig(FeedPollConfig):
    base_url: str = ""
    filter: str = ""
    parameter: Literal["water_level", "rainfall", "wind_speed", "wind_gust", "flood_depth"] = (
        "flood_depth"
    )
    max_pages: int = 20


@dataclasses.dataclass(frozen=True)
class EaConfig(FeedPollConfig):
    interval_s: float = 900.0
    base_url: str = "https://environment.data.gov.uk/flood-monitoring"
    measures_query: str = "parameter=level&qualifier=Stage"
    stations_query: str = "parameter=level&qualifier=Stage&_view=full"
    catalogue_interval_s: float = 86400.0


@dataclasses.dataclass(frozen=True)
class OpenMeteoConfig(FeedPollConfig):
    interval_s: float = 3600.0
    base_url: str = "https://api.open-meteo.com/v1/forecast"
    stations: tuple[str, ...] = ("71520", "71518")
    forecast_days: int = 3


@dataclasses.dataclass(frozen=True)
class NwsConfig(FeedPollConfig):
    base_url: str = "https://api.weather.gov"
    user_agent: str = "canhbao (flood warnings; ops@example.org)"


@dataclasses.dataclass(frozen=True)
class ReplayConfig(FeedPollConfig):
    interval_s: float = 10.0
    jitter_s: float = 0.0
    path: str = ""
    speed: float = 60.0
    start: str = ""


DEFAULT_STATIONS = (
    StationConfig(
        id="71520",
        name="Kim Long",
        kind="river_level",
        lat=16.416669845581055,
        lon=107.56670379638672,
        source="vndms",
        river="Hương",
        bao_dong1=1.0,
        bao_dong2=2.0,
        bao_dong3=3.5,
        historic=5.81,
        gross_min=-2.0,
        gross_max=12.0,
    ),
    StationConfig(
        id="71518",
        name="Phú Ốc",
        kind="river_level",
        lat=16.533000946044922,
        lon=107.46700286865234,
        source="vndms",
        river="Bồ",
        bao_dong1=1.5,
        bao_dong2=3.0,
        bao_dong3=4.5,
        historic=5.31,
        gross_min=-2.0,
        gross_max=12.0,
    ),
)


@dataclasses.dataclass(frozen=True)
class FeedsConfig:
    stations: tuple[StationConfig, ...] = DEFAULT_STATIONS
    vndms: VndmsConfig = VndmsConfig()
    sensorthings: SensorThingsConfig = SensorThingsConfig()
    ea: EaConfig = EaConfig()
    openmeteo: OpenMeteoConfig = OpenMeteoConfig()
    nws: NwsConfig = NwsConfig()
    replay: ReplayConfig = ReplayConfig()
    schedule: bool = True
    ingest_max_rows: int = 10_000
    series_max_points: int = 1000


@dataclasses.dataclass(frozen=True)
class DeviceRateLimitConfig:
    per_second: float = 20.0
    burst: int = 200
    max_clients: int = 100_000


@dataclasses.dataclass(frozen=True)
class GeofencesConfig:
    topic_prefix: str = "area-"
    bleed_m: float = 161.0
    location_max_age_h: float = 24.0
    max_subscriptions: int = 10
    max_import_bytes: int = 67_108_864
    max_import_vertices: int = 500_000
    max_repair_crossings: int = 5_000
    max_warning_vertices: int = 20_000
    outline_max_points: int = 250
    max_contact_rows: int = 100_000
    topic_flush_interval_s: float = 2.0
    topic_flush_batch: int = 50_000
    maintenance_interval_s: float = 60.0
    areas_refresh_interval_s: float = 2.0
    first_start_hue_wards: bool = False
    rate_limit: DeviceRateLimitConfig = DeviceRateLimitConfig()


@dataclasses.dataclass(frozen=True)
class HotlineConfig:
    """[hotline]: the 1900 1075 voice menu, queue, callbacks and SMS SOS (hotline package)."""

    voice: str = "Google.vi-VN-Standard-A"
    local_auth_token: str = "local-development-token"  # noqa: S105  # only for provider "local"
    queue_name: str = "hotline"
    callback_queue_name: str = "hotline-callbacks"
    gather_timeout_s: int = 6
    operator_ring_timeout_s: int = 20
    operator_answer_timeout_s: float = 90.0
    average_handle_time_s: float = 180.0
    callback_delays_min: tuple[float, ...] = (2.0, 10.0, 30.0)
    callback_poll_interval_s: float = 15.0
    callback_silent_after_min: float = 15.0
    location_max_age_min: float = 60.0
    address_max_length_s: int = 30
    voicemail_max_length_s: int = 120
    key_stations: tuple[str, ...] = ("71520", "71518")
    fallback_number: str = ""


@dataclasses.dataclass(frozen=True)
class AlertStationConfig:
    """One [[alerting.stations]] entry: the wards a station's threshold events draft for."""

    station_id: str
    ward_codes: tuple[str, ...]
    area_desc: str = ""


@dataclasses.dataclass(frozen=True)
class AutoRuleConfig:
    """What a threshold rule does: draft only, or issue at once for the named severities."""

    policy: Literal["draft", "issue"] = "draft"
    issue_severities: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ImportSourceConfig:
    """One [[alerting.imports]] entry: an upstream whose CAP alerts staff see and may re-issue."""

    name: str
    kind: Literal["cap-atom", "cap", "nws-geojson"]
    url: str
    enabled: bool = True
    interval_s: float = 300.0
    jitter_s: float = 30.0
    timeout_s: float = 20.0
    max_bytes: int = 5_000_000
    backoff_max_s: float = 3600.0
    max_entries: int = 100
    document_hosts: tuple[str, ...] = ()
    user_agent: str = "canhbao CAP import"


@dataclasses.dataclass(frozen=True)
class AlertingConfig:
    identifier_prefix: str = "2.49.0.1.704.46"
    sender: str = "pctt.hue.gov.vn"
    sender_name: str = "Ban Chỉ huy Phòng thủ dân sự thành phố Huế"
    contact: str = "1900 1075"
    web: str = ""
    status: Literal["Actual", "Exercise", "Test"] = "Actual"
    # Set by `canhbao exercise run` alone (the exercise's name): every message is then status
    # Exercise with a <note> naming the exercise, whatever its author asked for.
    exercise: str = ""
    default_expiry_h: float = 6.0
    max_expiry_h: float = 24.0
    two_person_statuses: tuple[str, ...] = ("Actual", "Exercise")
    expiry_interval_s: float = 30.0
    feed_max_entries: int = 500
    voice_for_vulnerable: bool = True
    stations: tuple[AlertStationConfig, ...] = (
        AlertStationConfig(
            "71518", ("hue.huong-tra", "hue.kim-tra", "hue.quang-dien"), "Hạ lưu sông Bồ"
        ),
        AlertStationConfig(
            "71520",
            ("hue.kim-long", "hue.phu-xuan", "hue.thuy-xuan", "hue.huong-an", "hue.thuan-hoa"),
            "Ven sông Hương",
        ),
    )
    river: AutoRuleConfig = AutoRuleConfig()
    rain: AutoRuleConfig = AutoRuleConfig()
    wind: AutoRuleConfig = AutoRuleConfig()
    imports: tuple[ImportSourceConfig, ...] = ()
    import_statuses: tuple[str, ...] = ("Actual",)
    import_expired: bool = False
    import_schedule: bool = True


@dataclasses.dataclass(frozen=True)
class CameraConfig:
    """One [[cameras.cameras]] entry; checked further by cameras.setup (URL, credentials)."""

    id: str
    name: str
    lat: float
    lon: float
    url: str
    watches: str = ""
    kind: Literal["snapshot", "mjpeg", "onvif"] = "snapshot"
    auth: Literal["none", "basic", "digest"] = "none"
    username: str = ""
    password_env: str = ""
    interval_s: float = 0.0  # 0: [cameras] interval_s
    timeout_s: float = 0.0  # 0: [cameras] timeout_s
    redirect_hosts: tuple[str, ...] = ()
    enabled: bool = True


@dataclasses.dataclass(frozen=True)
class CameraRetentionConfig:
    keep_all_days: float = 7.0
    hourly_days: float = 90.0
    max_disk_bytes: int = 20_000_000_000
    interval_s: float = 3600.0


@dataclasses.dataclass(frozen=True)
class CamerasConfig:
    """[cameras]: flood-road camera stills: fetching, checks, storage and retention."""

    cameras: tuple[CameraConfig, ...] = ()
    storage_dir: str = "var/cameras"
    schedule: bool = True
    interval_s: float = 300.0
    warning_interval_s: float = 60.0
    tick_s: float = 5.0
    max_concurrent: int = 16
    timeout_s: float = 10.0
    max_bytes: int = 5_000_000
    backoff_max_s: float = 1800.0
    max_pixels: int = 16_000_000
    decode_time_limit_s: float = 10.0
    thumbnail_width: int = 320
    frozen_polls: int = 6
    frozen_max_distance: int = 4
    dark_max_mean: float = 24.0
    uniform_max_stddev: float = 6.0
    blur_min_sharpness: float = 40.0
    unreachable_after_failures: int = 2
    fetches_keep_days: float = 30.0
    image_cache_s: int = 60
    retention: CameraRetentionConfig = CameraRetentionConfig()


@dataclasses.dataclass(frozen=True)
class PublicConfig:
    """[public]: the citizens' server-rendered pages (public package)."""

    # Seconds between looks at whether a page's inputs changed (one cheap read for all pages).
    recheck_s: float = 1.0
    # Seconds a built page is served before it is built again even if nothing changed.
    rebuild_s: float = 60.0
    # Cache-Control max-age for phones and proxies (they revalidate with the ETag after it).
    browser_max_age_s: int = 30
    # Most pages kept in memory (one per page and language).
    max_pages: int = 2000
    # The hotline as dialled from a phone in Vietnam (the tel: link and the button).
    hotline: str = "19001075"


@dataclasses.dataclass(frozen=True)
class DispatchOffersConfig:
    """[dispatch.offers]: offering rescue requests to teams, timeouts and escalation."""

    auto_offer: bool = True
    ack_timeout_s: float = 180.0
    max_failed_offers: int = 3
    position_fresh_min: float = 15.0
    voice: bool = False
    duty_phones: tuple[str, ...] = ()
    poll_interval_s: float = 30.0


@dataclasses.dataclass(frozen=True)
class DispatchConfig:
    """[dispatch]: rescue dispatch (dispatch package)."""

    offers: DispatchOffersConfig = DispatchOffersConfig()
