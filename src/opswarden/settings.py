"""Settings from environment variables (``OPSWARDEN_*``), read once at start-up.

Secrets are ``SecretStr`` (they print as ``**********``) and may come from a file: set
``OPSWARDEN_API_KEY_FILE=/run/secrets/api_key`` instead of ``OPSWARDEN_API_KEY``. See
docs/configuration.md for every setting.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from opswarden.errors import ConfigurationError
from opswarden.sources.eventbridge import FingerprintRule

_SECRET_FIELDS = (
    "embeddings_api_key",
    "model_api_key",
    "jira_api_token",
    "servicenow_password",
    "github_token",
    "api_key",
    "hmac_secret",
    "link_secret",
    "slack_bot_token",
    "slack_signing_secret",
    "smtp_password",
    "webhook_secret",
)
# What to write instead, for settings whose validation message alone does not say it.
_EXAMPLES = {
    "fingerprints": 'a JSON list like [{"source": "com.example.*", "fields": ["detail.orderId"]}]',
}
_FIELD_IN_SETTINGS_ERROR = re.compile(r'field "(\w+)"')


def _default_workers() -> int:
    """One process per spare core; none on two cores or fewer, where the store's writer is the limit
    and extra processes only compete with it (measured: benchmarks/ingest.py, docs/testing.md)."""
    cores = os.cpu_count() or 1
    return 1 if cores <= 2 else min(cores - 1, 8)


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
        default_factory=_default_workers,
        ge=1,
        le=64,
        description="Processes that normalise large inputs (files, stdin) in parallel; 1 = none.",
    )
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    fingerprints: tuple[FingerprintRule, ...] = Field(
        default=(), description="JSON list of identity rules for custom EventBridge events."
    )
    policy_file: Path | None = Field(
        default=None, description="The routing policy (policy.yaml); default: policy.yaml in the data dir."
    )
    org_file: Path | None = Field(
        default=None, description="Accounts and teams (org.yaml); default: org.yaml in the data dir."
    )

    # -- triage and notification (docs/notifications.md) --------------------------------------------
    public_url: str | None = Field(
        default=None,
        description="Where people reach `opswarden serve` (approval links in e-mails and Teams cards).",
    )
    link_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs approval links; default: a random key kept in the data dir.",
    )
    link_ttl_hours: float = Field(default=72, gt=0, description="How long an approval link stays valid.")
    console_sink: str | None = Field(
        default=None,
        description="File the console channel appends to ('-' for stdout); default: notifications.log "
        "in the data dir.",
    )
    slack_bot_token: SecretStr | None = Field(default=None, description="Bot token (xoxb-…) for Slack.")
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="Verifies requests from Slack (interactivity, events)."
    )
    slack_api_url: str = Field(default="https://slack.com/api/", description="Slack Web API base URL.")
    slack_default_channel: str | None = Field(
        default=None, description="Channel for events routed to no team with a Slack channel."
    )
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    email_from: str = "opswarden@localhost"
    webhook_url: str | None = Field(default=None, description="Generic JSON webhook for every message.")
    webhook_secret: SecretStr | None = Field(
        default=None, description="Signs webhook bodies (X-Opswarden-Signature, HMAC-SHA256)."
    )
    digest_to: tuple[str, ...] = Field(
        default=("console",),
        description="Where `report digest --send` goes: channel:address items, e.g. "
        '["slack:#ops-digest", "email:ops@example.com", "teams:<webhook URL>", "webhook", "console"].',
    )
    outbox_max_attempts: int = Field(default=8, ge=1, le=100)
    outbox_backoff_seconds: float = Field(default=10, gt=0, description="First retry delay; doubles.")
    notify_timeout_seconds: float = Field(default=10, gt=0)
    process_interval_seconds: float = Field(
        default=15, gt=0, description="How often `serve` runs triage, reminders and delivery when idle."
    )

    # -- tickets (docs/tickets.md) ------------------------------------------------------------------
    tickets_backend: Literal["builtin", "jira", "servicenow", "github"] = Field(
        default="builtin",
        description="Where tickets are opened: builtin (the store), jira, servicenow, github.",
    )
    ticket_on_resolved: Literal["close", "comment"] = Field(
        default="close", description="When the event closes upstream: close its tickets, or only comment."
    )
    ticket_on_manual_close: Literal["reopen", "comment"] = Field(
        default="comment",
        description="When someone closes a ticket while its event is still open: reopen it, or comment.",
    )
    ticket_fields: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='Per-team ticket fields, JSON: {"inf01": {"assignment_group": "Network Ops"}}.',
    )
    ticket_sync_minutes: float = Field(
        default=10, gt=0, description="How often processing pulls the status of open tickets back."
    )
    jira_url: str | None = Field(default=None, description="https://your-site.atlassian.net")
    jira_email: str | None = None
    jira_api_token: SecretStr | None = None
    jira_project: str | None = Field(default=None, description="Project key, e.g. OPS.")
    jira_issue_type: str = "Task"
    jira_done_transition: str = Field(default="Done", description="Transition name that closes an issue.")
    jira_reopen_transition: str = Field(default="To Do", description="Transition name that reopens one.")
    servicenow_url: str | None = Field(default=None, description="https://your-instance.service-now.com")
    servicenow_username: str | None = None
    servicenow_password: SecretStr | None = None
    servicenow_table: str = "incident"
    github_api_url: str = "https://api.github.com"
    github_repo: str | None = Field(default=None, description="owner/name of the repository for issues.")
    github_token: SecretStr | None = None

    # -- knowledge base and assistant ----------------------------------------------------------------
    model: str | None = Field(
        default=None,
        description="The assistant's model, e.g. bedrock:anthropic.claude-…, openai:gpt-…, anthropic:claude-…; "
        "unset: retrieval mode (ranked passages with citations, no prose).",
    )
    model_base_url: str | None = Field(
        default=None,
        description="Base URL of the model's API: an OpenAI-compatible /v1 endpoint (Ollama, vLLM, LM Studio) "
        "for openai:…, a proxy for anthropic:…, an endpoint URL for bedrock:….",
    )
    model_api_key: SecretStr | None = Field(
        default=None,
        description="API key for openai:… or anthropic:… (else OPENAI_API_KEY / ANTHROPIC_API_KEY).",
    )
    kb_path: Path | None = Field(
        default=None, description="The knowledge base (SQLite with FTS5); default: kb.db in the data dir."
    )
    embeddings: Literal["none", "onnx", "openai", "bedrock"] = Field(
        default="onnx",
        description="Dense embeddings for the knowledge base: a local ONNX model (the default when "
        "OPSWARDEN_EMBEDDINGS_MODEL_DIR is set), an OpenAI-compatible endpoint, Bedrock Titan, or none "
        "(keyword search only).",
    )
    embeddings_model_dir: Path | None = Field(
        default=None,
        description="Folder of a local ONNX sentence-embedding model (model.onnx, tokenizer.json).",
    )
    embeddings_url: str | None = Field(
        default=None, description="OpenAI-compatible /v1 base URL for embeddings."
    )
    embeddings_model: str | None = Field(
        default=None, description="Embedding model name (OpenAI-compatible, Bedrock)."
    )
    embeddings_api_key: SecretStr | None = None

    # -- the event lake (docs/lake.md) -----------------------------------------------------------
    lake_uri: str | None = Field(
        default=None,
        description="Where the Parquet lake lives: a folder or s3://bucket/prefix; default: lake/ in the "
        "data dir.",
    )
    lake_s3_endpoint: str | None = Field(
        default=None, description="Endpoint of an S3-compatible store for an s3:// lake (MinIO, tests)."
    )
    lake_batch_rows: int = Field(default=50_000, ge=1, description="Rows per archive micro-batch.")
    lake_retention_days: int | None = Field(
        default=None, ge=1, description="Delete lake partitions older than this; default: keep everything."
    )
    query_max_rows: int = Field(default=10_000, ge=1, description="Rows `opswarden query` returns at most.")
    query_timeout_seconds: float = Field(default=30, gt=0, description="Time a lake query may take.")

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
                    # Not a ValueError: pydantic would file it under no field ("OPSWARDEN_: Value error").
                    raise ConfigurationError(
                        f"OPSWARDEN_{name.upper()}_FILE: cannot read {path} ({exc.strerror or exc}): "
                        f"write the path of a readable file, or set OPSWARDEN_{name.upper()} instead"
                    ) from None
        return values

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'opswarden.db'}"

    @property
    def kb(self) -> Path:
        return self.kb_path or self.data_dir / "kb.db"

    @property
    def lake(self) -> str:
        """The lake's URI: a local folder path, or ``s3://bucket/prefix``."""
        return self.lake_uri or str(self.data_dir / "lake")

    @property
    def policy_path(self) -> Path:
        return self.policy_file or self.data_dir / "policy.yaml"

    @property
    def org_path(self) -> Path:
        return self.org_file or self.data_dir / "org.yaml"

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
    """Settings from the environment plus explicit overrides (CLI flags), or a ConfigurationError.

    Every message names the environment variable and what is wrong with it, e.g.
    ``invalid settings: OPSWARDEN_BATCH_SIZE: Input should be greater than or equal to 1``.
    """
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problem = _validation_problems(exc)
    except SettingsError as exc:  # a complex setting (a list) whose value is not JSON
        problem = _parse_problem(exc)
    except ConfigurationError as exc:
        problem = str(exc)
    raise ConfigurationError(f"invalid settings: {problem}")


def _validation_problems(exc: ValidationError) -> str:
    """``OPSWARDEN_<FIELD>: [<path in the value>: ]<message>``, one clause per variable."""
    by_field: defaultdict[str, list[str]] = defaultdict(list)
    for error in exc.errors():
        field, *inner = error["loc"] or ("",)
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in inner).removeprefix(".")
        by_field[str(field)].append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(
        f"{_variable(field)}: {', '.join(messages)}" + _instead(field) for field, messages in by_field.items()
    )


def _parse_problem(exc: SettingsError) -> str:
    match = _FIELD_IN_SETTINGS_ERROR.search(str(exc))
    if match is None:
        return str(exc)
    field, cause = match.group(1), exc.__cause__
    reason = (
        f"not valid JSON ({cause.msg} at line {cause.lineno} column {cause.colno})"
        if isinstance(cause, json.JSONDecodeError)
        else "not valid JSON"
    )
    return f"{_variable(field)}: {reason}" + (_instead(field) or ": write valid JSON")


def _variable(field: str) -> str:
    return f"OPSWARDEN_{field.upper()}" if field else "settings"


def _instead(field: str) -> str:
    return f": write {_EXAMPLES[field]}" if field in _EXAMPLES else ""
