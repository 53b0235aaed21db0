"""The organisation: accounts (environment, OU, owner team, tags) and teams (where to reach them).

Read from ``org.yaml`` by :func:`opswarden.policy.load.load_org`; reference: docs/policy.md#orgyaml.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ACCOUNT_ID = re.compile(r"\d{12}")


class LocatedError(ValueError):
    """A validation problem at ``path`` below the value being validated (the loader finds its line)."""

    def __init__(self, message: str, *path: str | int) -> None:
        super().__init__(message)
        self.path = path


class Team(BaseModel):
    """A team that owns accounts and receives events."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, description="Short id, e.g. inf01.")
    name: str = Field(min_length=1, description="Display name, e.g. Infra.")
    slack_channel: str | None = None
    teams_webhook: str | None = None
    email: str | None = None


class Account(BaseModel):
    """An AWS account and what the org knows about it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str = ""
    environment: str = Field(default="production", description="e.g. production, non-production.")
    ou: str | None = None
    team: str | None = Field(default=None, description="The owner team's id (or name).")
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("id", mode="before")
    @classmethod
    def _twelve_digits(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not _ACCOUNT_ID.fullmatch(value):
            raise ValueError(f"account id must be 12 digits in quotes, e.g. '111111111111' (got {value!r})")
        return value

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value


class Org(BaseModel):
    """Accounts and teams, looked up by id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    teams: tuple[Team, ...] = ()
    accounts: tuple[Account, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> Org:
        teams: dict[str, Team] = {}
        for i, team in enumerate(self.teams):
            for ref in (team.id, team.name):
                if teams.setdefault(ref, team) is not team:
                    raise LocatedError(
                        f"two teams are called {ref!r}: ids and names must be unique", "teams", i
                    )
        seen: set[str] = set()
        for i, account in enumerate(self.accounts):
            if account.id in seen:
                raise LocatedError(f"account {account.id} is listed twice", "accounts", i, "id")
            seen.add(account.id)
            if account.team is not None and account.team not in teams:
                known = ", ".join(t.id for t in self.teams) or "none defined"
                raise LocatedError(
                    f"account {account.id}: unknown team {account.team!r}; write a team id from teams ({known})",
                    "accounts",
                    i,
                    "team",
                )
        return self

    # Indexes as cached properties: plain attribute reads on the hot path (pydantic's private
    # attributes go through __getattr__, several times slower).
    @cached_property
    def _account_index(self) -> dict[str, Account]:
        return {account.id: account for account in self.accounts}

    @cached_property
    def _team_index(self) -> dict[str, Team]:
        return {ref: team for team in self.teams for ref in (team.name, team.id)}

    def account(self, account_id: str) -> Account | None:
        return self._account_index.get(account_id)

    def team(self, ref: str) -> Team | None:
        """A team by id or name."""
        return self._team_index.get(ref)

    def owner(self, account_id: str) -> Team | None:
        """The owner team of an account, if the org knows it."""
        account = self._account_index.get(account_id)
        return None if account is None or account.team is None else self._team_index.get(account.team)


EMPTY_ORG = Org()
