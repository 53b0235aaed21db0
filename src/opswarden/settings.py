"""Settings from environment variables (``OPSWARDEN_*``), read once at start-up.

Secrets are ``SecretStr`` (they print as ``**********``) and may come from a file: set
``OPSWARDEN_API_KEY_FILE=/run/secrets/api_key`` instead of ``OPSWARDEN_API_KEY``. See
docs/configuration.md for every setting.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from opswarden.errors import ConfigurationError
from opswarden.sources.eventbridge import FingerprintRule

_SECRET_FIELDS = ("api_key", "hmac_secret")


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/opswarden``, else ``~/.local/share/opswarden``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "opswarden"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPSWARDEN_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="Where all local state lives.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file opswarden.db in the data dir."
    )
    api_key: SecretStr | None = Field(default=None, description="Key for POST /events (X-Api-Key).")
    hmac_secret: SecretStr | None = Field(
        default=None, description="Secret for HMAC-SHA256 request signatures on POST /events."
    )
    host: str = "127.0.0.1"
    port: int = 8080
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    ingest_workers: int = Field(
        default_factory=lambda: min(os.cpu_count() or 1, 8),
        ge=1,
        le=64,
        description="Processes that normalise large inputs (files, stdin) in parallel; 1 = none.",
    )
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    fingerprints: tuple[FingerprintRule, ...] = Field(
        default=(), description="JSON list of identity rules for custom EventBridge events."
    )

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        for name in _SECRET_FIELDS:
            path = os.environ.get(f"OPSWARDEN_{name.upper()}_FILE")
            if path and not values.get(name):
                try:
                    values[name] = Path(path).read_text().strip()
                except OSError as exc:
                    raise ValueError(f"OPSWARDEN_{name.upper()}_FILE: cannot read {path}: {exc}") from exc
        return values

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'opswarden.db'}"

    def redacted(self) -> dict[str, Any]:
        """The settings as shown to people: secrets masked, URL passwords hidden."""
        shown = self.model_dump(mode="json")
        for name in _SECRET_FIELDS:
            shown[name] = "**********" if getattr(self, name) else None
        shown["database_url"] = _hide_password(self.database)
        return shown


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment plus explicit overrides (CLI flags), or a ConfigurationError."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"OPSWARDEN_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from None
