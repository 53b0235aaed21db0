"""The organisation: accounts (environment, OU, owner team, tags) and teams (where to reach them).

Read from ``org.yaml`` by :func:`opswarden.policy.load.load_org`; reference: docs/policy.md#orgyaml.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

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
    _accounts: dict[str, Account] = PrivateAttr(default_factory=dict)
    _teams: dict[str, Team] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _index(self) -> Org:
        for i, team in enumerate(self.teams):
            for ref in (team.id, team.name):
                if self._teams.get(ref, team) is not team:
                    raise LocatedError(
                        f"two teams are called {ref!r}: ids and names must be unique", "teams", i
                    )
                self._teams[ref] = team
        for i, account in enumerate(self.accounts):
            if account.id in self._accounts:
                raise LocatedError(f"account {account.id} is listed twice", "accounts", i, "id")
            if account.team is not None and account.team not in self._teams:
                known = ", ".join(t.id for t in self.teams) or "none defined"
                raise LocatedError(
                    f"account {account.id}: unknown team {account.team!r}; write a team id from teams ({known})",
                    "accounts",
                    i,
                    "team",
                )
            self._accounts[account.id] = account
        return self

    def account(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def team(self, ref: str) -> Team | None:
        """A team by id or name."""
        return self._teams.get(ref)

    def owner(self, account_id: str) -> Team | None:
        """The owner team of an account, if the org knows it."""
        account = self._accounts.get(account_id)
        return None if account is None or account.team is None else self._teams.get(account.team)


EMPTY_ORG = Org()
