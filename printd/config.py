"""Station configuration: one TOML file plus ``PRINTD_*`` environment variables.

Precedence, highest first: values passed in code, environment variables
(``PRINTD_MQTT__HOST=broker``; nested keys joined with ``__``), the TOML file,
the defaults below. Everything is validated at start-up; a bad value stops
start-up with one line per problem naming the key, the value and what is
expected (:class:`ConfigError`).
"""

from __future__ import annotations

import os
import re
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_PATH = Path("/etc/printd/printd.toml")
CONFIG_ENV = "PRINTD_CONFIG"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SECRET_MASK = "********"  # noqa: S105 - the mask shown instead of a secret
_config_path: ContextVar[Path | None] = ContextVar("printd_config_path", default=None)


class ConfigError(Exception):
    """The configuration cannot be used; ``lines`` say why, one problem each."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StationSettings(_Section):
    id: str = Field(default="station-01", description="This station's id, used in MQTT topics.")
    operator: str = Field(
        default="station", description="Name recorded in the ledger when no --by is given."
    )
    state_dir: Path = Field(default=Path("/var/lib/printd"))
    max_queue: int = Field(default=500, ge=1, le=1_000_000)
    max_attempts: int = Field(default=3, ge=1, le=10, description="Blanks tried per job.")
    resume: Literal["manual", "auto"] = Field(
        default="manual",
        description="After a printer fault: wait for `printd printers resume` or resume "
        "by itself when the printer reports the fault cleared.",
    )
    retention_days: float = Field(default=30, ge=0, description="Days payloads are kept.")
    low_stock_threshold: int = Field(default=50, ge=0)

    @field_validator("id")
    @classmethod
    def _topic_safe(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("letters, digits, '.', '_' or '-' (at most 64), no '/', '+' or '#'")
        return value


class TlsSettings(_Section):
    enabled: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure_skip_verify: bool = False

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: set both or neither")
        return self


class MqttSettings(_Section):
    enabled: bool = Field(
        default=True,
        description="Off only for a station without a registry link (a bench, a test bay).",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    protocol: Literal["5", "3.1.1"] = Field(
        default="5",
        description="MQTT version: 5 (persistent session with an expiry), or 3.1.1 for "
        "brokers without 5 (clean session off).",
    )
    client_id: str | None = Field(
        default=None,
        description="Fixed client id for the persistent session; default printd-<station id>.",
    )
    username: str | None = None
    password: SecretStr | None = None
    topic_root: str = "printd/v1"
    pool: str | None = Field(
        default=None, description="Shared-subscription group: stations in one pool share jobs."
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    max_job_bytes: int = Field(default=2_000_000, ge=1024)
    session_expiry_s: int = Field(
        default=30 * 86400,
        ge=60,
        le=0xFFFFFFFF,
        description="How long the broker keeps this station's session (and its queued "
        "jobs) while it is offline (MQTT v5 session expiry).",
    )
    receive_maximum: int = Field(
        default=1000,
        ge=1,
        le=65535,
        description="Jobs the broker may send before the station acknowledges (MQTT v5).",
    )
    intake_batch: int = Field(
        default=500, ge=1, le=65535, description="Jobs committed per transaction at most."
    )
    keep_sent_h: float = Field(
        default=168,
        ge=0,
        description="Hours a sent message is kept, so a registry that finds a gap in the "
        "station's sequence numbers can ask for it again (command resend).",
    )
    intake_workers: int = Field(
        default=2,
        ge=0,
        le=32,
        description="Processes that check received jobs (signature, schema, card) at a "
        "lower CPU priority; 0 checks them in a thread of the daemon.",
    )
    credit_interval_s: float = Field(
        default=30.0, gt=0, description="Credit is re-published at least this often."
    )
    tls: TlsSettings = TlsSettings()

    @field_validator("topic_root")
    @classmethod
    def _no_wildcards(cls, value: str) -> str:
        if not value or any(c in "+#" for c in value) or value.strip("/") != value:
            raise ValueError("a topic prefix without wildcards or leading/trailing '/'")
        return value

    @field_validator("pool")
    @classmethod
    def _pool_name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError("letters, digits, '.', '_' or '-'")
        return value


class SigningSettings(_Section):
    station_key_file: Path = Field(
        default=Path("/etc/printd/station.key"),
        description="This station's Ed25519 private key (PEM); results are signed with it.",
    )
    registry_keys: dict[str, str] = Field(
        default_factory=dict,
        description="Registry public keys by key id: Ed25519, raw 32 bytes in base64.",
    )


class PrinterSettings(_Section):
    name: str
    driver: str = "evolis"
    url: str = Field(description="serial:///dev/ttyUSB0?baudrate=9600, usb://0f49:..., sim://NAME")
    timeout_s: float = Field(default=10.0, gt=0)
    card_timeout_s: float = Field(default=120.0, gt=0)
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _printer_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("letters, digits, '.', '_' or '-' (at most 64)")
        return value


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class MetricsSettings(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=1, le=65535)


class TemplateSettings(_Section):
    dir: Path | None = Field(
        default=None, description="Extra card templates; the shipped ones are always available."
    )


class Settings(BaseSettings):
    """The effective configuration of one station."""

    model_config = SettingsConfigDict(
        env_prefix="PRINTD_",
        env_nested_delimiter="__",
        extra="forbid",
        nested_model_default_partial_update=True,
    )

    station: StationSettings = StationSettings()
    mqtt: MqttSettings = MqttSettings()
    signing: SigningSettings = SigningSettings()
    printers: list[PrinterSettings] = Field(default_factory=list)
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()
    templates: TemplateSettings = TemplateSettings()

    @model_validator(mode="after")
    def _unique_printer_names(self) -> Settings:
        names = [p.name for p in self.printers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"printer names must be unique; repeated: {', '.join(duplicates)}")
        return self

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or f"printd-{self.station.id}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _config_path.get()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def resolve_config_path(explicit: Path | None) -> tuple[Path | None, bool]:
    """Which file to read, and whether the user asked for it by name.

    A file named by ``--config`` or ``PRINTD_CONFIG`` must exist; the default
    path is optional, so a fresh install runs on the embedded defaults.
    """
    if explicit is not None:
        return explicit, True
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env), True
    if DEFAULT_CONFIG_PATH.exists():
        return DEFAULT_CONFIG_PATH, False
    return None, False


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read and validate the configuration; raise :class:`ConfigError` on any problem."""
    file_path, required = resolve_config_path(path)
    if file_path is not None:
        _check_toml(file_path, required)
    token = _config_path.set(file_path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, file_path)) from None
    finally:
        _config_path.reset(token)


def _check_toml(path: Path, required: bool) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise ConfigError([f"config file {path} does not exist"]) from None
        return
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"config file {path} cannot be read: {exc}"]) from None
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"config file {path} is not valid TOML: {exc}"]) from None


def describe_errors(exc: ValidationError, source: Path | None) -> list[str]:
    """One line per problem: key, value, what is expected."""
    where = f" (in {source} or PRINTD_* environment)" if source else " (in PRINTD_* environment)"
    lines = []
    for error in exc.errors(include_url=False):
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            lines.append(f"config: unknown key {key}{where}")
            continue
        if error["type"] == "missing":
            lines.append(f"config: {key} is required{where}")
            continue
        value = error.get("input")
        shown = "<secret>" if "password" in key else repr(value)
        lines.append(f"config: {key} = {shown}: {message}{where}")
    return lines


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The effective configuration as plain data, secrets shown as '********'."""
    data = settings.model_dump(mode="json")
    if settings.mqtt.password is not None:
        data["mqtt"]["password"] = SECRET_MASK
    return data
