"""Which backend opens tickets: ``OPSWARDEN_TICKETS_BACKEND`` → one Ticketer (an explicit registry)."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from opswarden.core.clock import Clock
from opswarden.errors import ConfigurationError
from opswarden.settings import Settings
from opswarden.tickets.base import Ticketer
from opswarden.tickets.builtin import BuiltinTicketer


def build_ticketer(settings: Settings, engine: sa.Engine, clock: Clock, http: httpx.Client) -> Ticketer:
    backend = settings.tickets_backend
    if backend == "builtin":
        return BuiltinTicketer(engine, clock, settings.public_url)
    if backend == "jira":
        from opswarden.tickets.jira import JiraTicketer

        return JiraTicketer.from_settings(settings, http)
    if backend == "servicenow":
        from opswarden.tickets.servicenow import ServiceNowTicketer

        return ServiceNowTicketer.from_settings(settings, http)
    if backend == "github":
        from opswarden.tickets.github import GitHubTicketer

        return GitHubTicketer.from_settings(settings, http)
    raise ConfigurationError(f"OPSWARDEN_TICKETS_BACKEND: unknown backend {backend!r}")
