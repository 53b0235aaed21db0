"""``org sync``: merge the accounts AWS Organizations lists into org.yaml. Pure: data in, data out.

The operator's file wins. A new account is added with its name, OU and tags, its environment from an
``environment`` / ``env`` tag (else the default given) and its owner team from a ``team`` /
``owner-team`` tag when that names a team of the file. An account already in the file keeps what is
written there: its name, OU, tags and team are filled in only where the file leaves them empty, and
its environment is never changed. Accounts the file lists but AWS does not are reported, not removed.
Reference: docs/org-sync.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from opswarden.policy.org import Account, Org, Team

ENVIRONMENT_TAGS = ("environment", "env")
"""Tag keys (compared without case) whose value becomes a new account's environment."""
TEAM_TAGS = ("team", "owner-team", "owner_team")
"""Tag keys (compared without case) whose value, if it names a team of the file, is the owner team."""
ACTIVE = "ACTIVE"


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of an account the sync filled in: ``account.field: before → after``."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class Updated:
    account: str
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What the sync did, account by account, and what it noticed but left alone (``notes``)."""

    added: tuple[Account, ...] = ()
    updated: tuple[Updated, ...] = ()
    unchanged: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # in the file, not in AWS: kept
    skipped: tuple[tuple[str, str], ...] = ()  # (account id, status) of new accounts not ACTIVE
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [account_document(a) for a in self.added],
            "updated": [
                {
                    "id": u.account,
                    "changes": [{"field": c.field, "before": c.before, "after": c.after} for c in u.changes],
                }
                for u in self.updated
            ],
            "unchanged": list(self.unchanged),
            "missing": list(self.missing),
            "skipped": [{"id": i, "status": s} for i, s in self.skipped],
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class SyncResult:
    org: Org
    report: SyncReport


def sync_org(
    org: Org, aws_accounts: Iterable[Mapping[str, Any]], default_environment: str = "non-production"
) -> SyncResult:
    """``org`` with the accounts of ``aws_accounts`` merged in, and the report of what changed.

    Each AWS account is a mapping with ``id`` and optionally ``name``, ``ou`` (the parent OU's name,
    ``None`` under the root), ``status`` (``ACTIVE`` when absent) and ``tags`` (key → value).
    """
    listed = {str(a["id"]): a for a in aws_accounts}
    notes: list[str] = []
    accounts: list[Account] = []
    updated: list[Updated] = []
    unchanged: list[str] = []
    for account in org.accounts:
        aws = listed.get(account.id)
        if aws is None:
            accounts.append(account)
            continue
        merged, changes = _refresh(account, aws, org, notes)
        accounts.append(merged)
        if changes:
            updated.append(Updated(account.id, changes))
        else:
            unchanged.append(account.id)
    known = {a.id for a in org.accounts}
    added: list[Account] = []
    skipped: list[tuple[str, str]] = []
    for account_id in sorted(set(listed) - known):
        aws = listed[account_id]
        status = str(aws.get("status") or ACTIVE)
        if status != ACTIVE:
            skipped.append((account_id, status))
            continue
        new = _new_account(aws, org, default_environment, notes)
        added.append(new)
        accounts.append(new)
    report = SyncReport(
        added=tuple(added),
        updated=tuple(updated),
        unchanged=tuple(unchanged),
        missing=tuple(a.id for a in org.accounts if a.id not in listed),
        skipped=tuple(skipped),
        notes=tuple(notes),
    )
    return SyncResult(Org(teams=org.teams, accounts=tuple(accounts)), report)


def _tags(aws: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (aws.get("tags") or {}).items()}


def _tag(tags: Mapping[str, str], keys: Sequence[str]) -> tuple[str, str] | None:
    """The first tag (key, value) whose key is one of ``keys`` (any case), with a non-empty value."""
    lowered = {k.lower(): (k, v.strip()) for k, v in sorted(tags.items()) if v.strip()}
    return next((lowered[k] for k in keys if k in lowered), None)


def _team(tags: Mapping[str, str], org: Org, account_id: str, notes: list[str]) -> str | None:
    """The id of the team a team tag names, or ``None`` (with a note when it names no team)."""
    found = _tag(tags, TEAM_TAGS)
    if found is None:
        return None
    key, value = found
    team: Team | None = org.team(value)
    if team is None:
        notes.append(
            f"account {account_id}: tag {key}={value} names no team of the file; owner team left empty"
        )
        return None
    return team.id


def _new_account(aws: Mapping[str, Any], org: Org, default_environment: str, notes: list[str]) -> Account:
    account_id = str(aws["id"])
    tags = _tags(aws)
    environment = _tag(tags, ENVIRONMENT_TAGS)
    return Account(
        id=account_id,
        name=str(aws.get("name") or ""),
        environment=environment[1] if environment else default_environment,
        ou=aws.get("ou") or None,
        team=_team(tags, org, account_id, notes),
        tags=tags,
    )


def _refresh(
    account: Account, aws: Mapping[str, Any], org: Org, notes: list[str]
) -> tuple[Account, tuple[FieldChange, ...]]:
    """The account with its empty fields filled from AWS; what is written is kept (noted if AWS differs)."""
    tags = _tags(aws)
    offered: dict[str, Any] = {"name": str(aws.get("name") or ""), "ou": aws.get("ou") or None, "tags": tags}
    if account.team is None:
        offered["team"] = _team(tags, org, account.id, notes)
    changes: list[FieldChange] = []
    update: dict[str, Any] = {}
    for name, value in offered.items():
        current = getattr(account, name)
        if not value or current == value:
            continue
        if current:
            if name != "tags":
                notes.append(f"account {account.id}: kept {name} {current!r} (AWS says {value!r})")
            continue
        update[name] = value
        changes.append(FieldChange(name, current, value))
    environment = _tag(tags, ENVIRONMENT_TAGS)
    if environment is not None and environment[1] != account.environment:
        notes.append(
            f"account {account.id}: kept environment {account.environment!r} "
            f"(AWS tag {environment[0]}={environment[1]})"
        )
    team = _tag(tags, TEAM_TAGS)
    if account.team is not None and team is not None and org.team(team[1]) is not org.team(account.team):
        notes.append(f"account {account.id}: kept team {account.team!r} (AWS tag {team[0]}={team[1]})")
    merged = account.model_copy(update=update) if update else account
    return merged, tuple(changes)


# -- the document ---------------------------------------------------------------------------------------


def account_document(account: Account) -> dict[str, Any]:
    """An account as org.yaml writes it: the id and environment always, other keys when set."""
    doc: dict[str, Any] = {"id": account.id}
    if account.name:
        doc["name"] = account.name
    doc["environment"] = account.environment
    if account.ou:
        doc["ou"] = account.ou
    if account.team:
        doc["team"] = account.team
    if account.tags:
        doc["tags"] = dict(account.tags)
    return doc


def org_document(org: Org) -> dict[str, Any]:
    """The org as plain data, in the key order of docs/policy.md#orgyaml."""
    return {
        "teams": [team.model_dump(exclude_none=True) for team in org.teams],
        "accounts": [account_document(account) for account in org.accounts],
    }


class _Flow(dict[str, Any]):
    """A mapping written on one line (``{id: '111111111111', name: core-repo, …}``)."""


class _Quoted(str):
    """Text always written in quotes (account ids: other YAML readers take ``012345678901`` for a number)."""

    __slots__ = ()


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # list items indented under their key

    def choose_scalar_style(self) -> str:
        """Double quotes where quotes are needed, as hand-written org files (and the docs) use them."""
        style: str = super().choose_scalar_style()
        return '"' if style == "'" else style


def _represent_flow(dumper: yaml.SafeDumper, data: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


def _represent_quoted(dumper: yaml.SafeDumper, data: _Quoted) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style='"')


_Dumper.add_representer(_Flow, _represent_flow)
_Dumper.add_representer(_Quoted, _represent_quoted)


def dump_org(org: Org, header: str = "") -> str:
    """org.yaml text for ``org``: teams as blocks, one account per line, ``header`` (comments) first.

    Account ids are quoted, so they stay text; the text reads back to an equal org with ``load_org``.
    """
    doc = org_document(org)
    accounts = [_Flow(account, id=_Quoted(account["id"])) for account in doc["accounts"]]

    def dump(data: dict[str, Any]) -> str:
        return yaml.dump(
            data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=200
        )

    return header + dump({"teams": doc["teams"]}) + "\n" + dump({"accounts": accounts})


def leading_comments(text: str) -> str:
    """The comment and blank lines at the top of a YAML text (kept when the file is rewritten)."""
    kept: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.strip() and not line.lstrip().startswith("#"):
            break
        kept.append(line)
    header = "".join(kept).rstrip("\n")
    return header + "\n\n" if header.strip() else ""
