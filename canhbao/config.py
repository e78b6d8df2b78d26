"""config.toml → frozen dataclasses, checked key by key; secrets come from named env variables."""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from canhbao.config_sections import (
    DEFAULT_STATIONS,
    AlertingConfig,
    AlertStationConfig,
    AutoRuleConfig,
    CameraConfig,
    CameraRetentionConfig,
    CamerasConfig,
    DeviceRateLimitConfig,
    DispatchConfig,
    DispatchOffersConfig,
    EaConfig,
    FeedPollConfig,
    FeedsConfig,
    GeofencesConfig,
    HotlineConfig,
    ImportSourceConfig,
    NwsConfig,
    OpenMeteoConfig,
    PublicConfig,
    ReplayConfig,
    SensorThingsConfig,
    StationConfig,
    VndmsConfig,
)
from canhbao.errors import ConfigError

# The domains' sections live in config_sections.py; they are named here too, as before.
__all__ = [
    "DEFAULT_STATIONS",
    "AlertStationConfig",
    "AlertingConfig",
    "AutoRuleConfig",
    "CameraConfig",
    "CameraRetentionConfig",
    "CamerasConfig",
    "DeviceRateLimitConfig",
    "DispatchConfig",
    "DispatchOffersConfig",
    "EaConfig",
    "FeedPollConfig",
    "FeedsConfig",
    "GeofencesConfig",
    "HotlineConfig",
    "ImportSourceConfig",
    "NwsConfig",
    "OpenMeteoConfig",
    "PublicConfig",
    "ReplayConfig",
    "SensorThingsConfig",
    "StationConfig",
    "VndmsConfig",
]

CONFIG_ENV = "CANHBAO_CONFIG"
DEFAULT_CONFIG_PATH = Path("config.toml")


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    # The URL the public (and Twilio) reach us at; webhook signatures are checked against it.
    public_base_url: str = "http://127.0.0.1:8080"
    max_body_bytes: int = 1_048_576
    shutdown_timeout_s: float = 10.0


@dataclasses.dataclass(frozen=True)
class DatabaseConfig:
    path: str = "var/canhbao.sqlite3"
    busy_timeout_ms: int = 5000


@dataclasses.dataclass(frozen=True)
class FirebaseConfig:
    credentials_env: str = "CANHBAO_FIREBASE_CREDENTIALS"
    project_id: str = ""
    endpoint: str = ""
    timeout_s: float = 10.0
    max_connections: int = 200


@dataclasses.dataclass(frozen=True)
class PushConfig:
    provider: Literal["local", "firebase"] = "local"
    firebase: FirebaseConfig = FirebaseConfig()


@dataclasses.dataclass(frozen=True)
class TwilioConfig:
    account_sid_env: str = "TWILIO_ACCOUNT_SID"
    auth_token_env: str = "TWILIO_AUTH_TOKEN"  # noqa: S105  # a variable name, not a secret
    api_base_url: str = ""
    timeout_s: float = 10.0


@dataclasses.dataclass(frozen=True)
class TelephonyConfig:
    provider: Literal["local", "twilio"] = "local"
    hotline_number: str = "+8419001075"
    twilio: TwilioConfig = TwilioConfig()


@dataclasses.dataclass(frozen=True)
class OutboxConfig:
    concurrency: int = 100
    batch_size: int = 500
    poll_interval_s: float = 0.5
    max_attempts: int = 8
    backoff_base_s: float = 2.0
    backoff_max_s: float = 600.0
    push_per_minute: int = 600_000
    sms_per_second: float = 30.0
    voice_per_second: float = 5.0


@dataclasses.dataclass(frozen=True)
class AuthConfig:
    session_hours: float = 12.0
    # Login backoff (canhbao.auth.throttle) instead of a hard lock-out.
    login_free_failures: int = 5
    login_address_backoff_max_s: float = 900.0
    login_account_backoff_max_s: float = 60.0
    # Reverse proxies whose X-Forwarded-For names the client for the login backoff.
    trusted_proxies: tuple[str, ...] = ()
    password_min_length: int = 12
    # argon2id cost; changing them rehashes each password at its owner's next login.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    # Admins it takes to grant the approver role: 1, or 2 (the grant waits for a second admin).
    approver_grant_admins: int = 1


@dataclasses.dataclass(frozen=True)
class LogConfig:
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"


@dataclasses.dataclass(frozen=True)
class OffloadConfig:
    """[offload]: the worker processes CPU-heavy work runs in (canhbao.offload)."""

    workers: int = 2
    time_limit_s: float = 120.0
    memory_limit_mb: int = 2048


@dataclasses.dataclass(frozen=True)
class StreamConfig:
    """[stream]: the staff live stream, /api/v1/events/stream (canhbao.stream)."""

    poll_s: float = 0.2
    keepalive_s: float = 15.0
    client_queue: int = 256
    keep_events: int = 50_000
    keep_hours: float = 48.0
    delivery_interval_s: float = 0.5


@dataclasses.dataclass(frozen=True)
class ConsoleConfig:
    """[console]: the staff console at /console (canhbao.console)."""

    tile_url: str = ""
    tile_attribution: str = ""


@dataclasses.dataclass(frozen=True)
class Config:
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    push: PushConfig = PushConfig()
    telephony: TelephonyConfig = TelephonyConfig()
    outbox: OutboxConfig = OutboxConfig()
    auth: AuthConfig = AuthConfig()
    log: LogConfig = LogConfig()
    offload: OffloadConfig = OffloadConfig()
    geofences: GeofencesConfig = GeofencesConfig()
    feeds: FeedsConfig = FeedsConfig()
    alerting: AlertingConfig = AlertingConfig()
    hotline: HotlineConfig = HotlineConfig()
    cameras: CamerasConfig = CamerasConfig()
    public: PublicConfig = PublicConfig()
    dispatch: DispatchConfig = DispatchConfig()
    stream: StreamConfig = StreamConfig()
    console: ConsoleConfig = ConsoleConfig()
    # Where the file was read from; relative paths in it are relative to this folder.
    base_dir: Path = dataclasses.field(default=Path("."), metadata={"internal": True})

    def resolve(self, path: str) -> Path:
        """A path from the config, taken relative to the config file's folder."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.base_dir / candidate


T = TypeVar("T")


def choose_config_path(cli_value: str | None) -> Path:
    """`--config` wins, then $CANHBAO_CONFIG, then ./config.toml."""
    if cli_value:
        return Path(cli_value)
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else DEFAULT_CONFIG_PATH


def load_config(path: Path) -> Config:
    """Read and check a config file; every problem raises ConfigError naming the key path."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    config = parse_config(raw)
    config = dataclasses.replace(config, base_dir=path.resolve().parent)
    check_config(config)
    return config


def parse_config(raw: Mapping[str, Any]) -> Config:
    """Build a Config from parsed TOML, refusing unknown keys and wrong types."""
    return _build(Config, raw, "")


def check_config(config: Config) -> None:
    """Rules that span keys; type checks are already done by the parser."""
    if not config.server.public_base_url.startswith(("http://", "https://")):
        raise ConfigError("server.public_base_url: must start with http:// or https://")
    if config.push.provider == "firebase" and not config.push.firebase.project_id:
        raise ConfigError("push.firebase.project_id: required when push.provider = 'firebase'")
    if not config.telephony.hotline_number.startswith("+"):
        raise ConfigError("telephony.hotline_number: must be in E.164 form, e.g. +8419001075")
    offload = config.offload
    if offload.workers < 1 or offload.time_limit_s <= 0 or offload.memory_limit_mb < 256:
        raise ConfigError("offload: workers ≥ 1, time_limit_s > 0 and memory_limit_mb ≥ 256")
    require_positive(
        config.outbox,
        "outbox",
        "concurrency",
        "batch_size",
        "max_attempts",
        "push_per_minute",
        minimum=1,
    )
    require_positive(config.stream, "stream", "poll_s", "keepalive_s", "delivery_interval_s")
    require_positive(config.stream, "stream", "client_queue", "keep_events", minimum=1)
    require_positive(config.stream, "stream", "keep_hours")


def require_positive(
    section: object, where: str, *keys: str, minimum: int | float | None = None
) -> None:
    """ConfigError naming `where.key` for the first of `keys` in `section` below its bound.

    Without `minimum` a value must be greater than 0 (durations, rates); with it, at least
    `minimum` (counts: `minimum=1`). The one check every section's positive settings share:
    domains' setup checks call it too, e.g. `require_positive(config.hotline, "hotline",
    "gather_timeout_s", minimum=1)`.
    """
    for key in keys:
        value = getattr(section, key)
        if minimum is None and not value > 0:
            raise ConfigError(f"{where}.{key}: must be greater than 0")
        if minimum is not None and not value >= minimum:
            raise ConfigError(f"{where}.{key}: must be at least {minimum}")


def read_secret(env_name: str, key_path: str) -> str:
    """The value of a secret's environment variable, or ConfigError naming both."""
    value = os.environ.get(env_name, "")
    if not value:
        raise ConfigError(f"{key_path}: environment variable {env_name} is not set")
    return value


def config_fields(cls: type[Any], prefix: str = "") -> list[str]:
    """Every key path a config class accepts (used by the documentation test)."""
    paths: list[str] = []
    hints = get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.metadata.get("internal"):
            continue
        path = f"{prefix}{field.name}"
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            paths.extend(config_fields(typing.cast(type[Any], kind), f"{path}."))
        elif get_origin(kind) is tuple and dataclasses.is_dataclass(get_args(kind)[0]):
            # A list of tables ([[feeds.stations]]): its entries' keys.
            paths.extend(config_fields(typing.cast(type[Any], get_args(kind)[0]), f"{path}."))
        else:
            paths.append(path)
    return paths


def _build(cls: type[T], raw: Any, prefix: str) -> T:
    where = prefix.rstrip(".") or "top level"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table, got {_describe(raw)}")
    hints = get_type_hints(cls)
    fields = {
        f.name: f
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]  # cls is a dataclass type
        if not f.metadata.get("internal")
    }
    for key in raw:
        if key not in fields:
            raise ConfigError(f"{prefix}{key}: unknown key")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        path = f"{prefix}{name}"
        if name not in raw:
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                raise ConfigError(f"{path}: required key is missing")
            continue
        values[name] = _convert(hints[name], raw[name], path)
    return cls(**values)


def _convert(kind: Any, value: Any, path: str) -> Any:
    origin = get_origin(kind)
    if dataclasses.is_dataclass(kind):
        return _build(typing.cast(type[Any], kind), value, f"{path}.")
    if origin is Literal:
        choices = get_args(kind)
        if value not in choices:
            listed = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"{path}: expected one of {listed}, got {value!r}")
        return value
    if origin in (types.UnionType, typing.Union):
        options = get_args(kind)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, path)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{path}: unexpected value")
    if origin is tuple:
        item_kind = get_args(kind)[0]
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {_describe(value)}")
        return tuple(_convert(item_kind, item, f"{path}[{i}]") for i, item in enumerate(value))
    if origin is dict:
        key_kind, value_kind = get_args(kind)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a table, got {_describe(value)}")
        return {
            _convert(key_kind, k, f"{path}.{k}"): _convert(value_kind, v, f"{path}.{k}")
            for k, v in value.items()
        }
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {_describe(value)}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected a whole number, got {_describe(value)}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: expected a number, got {_describe(value)}")
        if not math.isfinite(value):
            # TOML has nan and inf; no setting means either (a NaN passes every `<= 0` check).
            raise ConfigError(f"{path}: expected a finite number, got {value}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {_describe(value)}")
        return value
    raise ConfigError(f"{path}: unsupported config type {kind!r}")  # a programming error


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"
