"""Where a decision's messages go: (channel, address) pairs from the teams' addresses in org.yaml.

A decision names teams and channels; each team has an address per channel (Slack channel, Teams
webhook, e-mail). A channel that is not configured (no Slack token, no SMTP host), or a team without an
address for it, falls back to the console sink, and the fallback is explained — nothing is dropped
silently. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from opswarden.policy.evaluate import Decision
from opswarden.policy.model import Channel
from opswarden.policy.org import Org, Team

CONSOLE = "console"
TICKETS = "tickets"  # a ticket per owner team: its "thread" is the ticket (notify/channels/tickets.py)


@dataclass(frozen=True, slots=True, order=True)
class Target:
    channel: str
    address: str


@dataclass(frozen=True, slots=True)
class Reach:
    """What the deployment can reach: configured channels and default addresses."""

    configured: frozenset[str] = frozenset({CONSOLE})
    slack_default: str | None = None
    webhook_url: str | None = None


def resolve(decision: Decision, org: Org, reach: Reach) -> tuple[list[Target], list[str]]:
    """The targets for ``decision`` and notes on every fallback, in a stable order."""
    targets: list[Target] = []
    notes: list[str] = []
    teams = [org.team(t) for t in decision.teams]
    for channel in decision.channels or (Channel.CONSOLE,):
        name = channel.value
        if name != CONSOLE and name not in reach.configured:
            notes.append(f"{name} is not configured: sent to the console instead")
            targets.append(Target(CONSOLE, CONSOLE))
            continue
        if channel is Channel.CONSOLE:
            targets.append(Target(CONSOLE, CONSOLE))
        elif channel is Channel.WEBHOOK:
            targets.append(Target(name, reach.webhook_url or ""))
        else:
            targets += _team_targets(channel, decision.teams, teams, reach, notes)
    if decision.open_ticket and decision.notify and TICKETS in reach.configured:
        if decision.require_approval:
            notes.append("open_ticket waits for the approval: the ticket is opened when someone approves")
        elif not decision.teams:
            notes.append("open_ticket without an owner team: no ticket")
        else:
            targets += [Target(TICKETS, team) for team in decision.teams]
    unique = list(dict.fromkeys(targets))
    return unique, notes


def _team_targets(
    channel: Channel, refs: tuple[str, ...], teams: list[Team | None], reach: Reach, notes: list[str]
) -> list[Target]:
    field = {Channel.SLACK: "slack_channel", Channel.TEAMS: "teams_webhook", Channel.EMAIL: "email"}[channel]
    found: list[Target] = []
    for ref, team in zip(refs, teams, strict=True):
        address = getattr(team, field, None) if team is not None else None
        if address:
            found.append(Target(channel.value, address))
        elif channel is Channel.SLACK and reach.slack_default:
            notes.append(f"team {ref} has no slack_channel: sent to {reach.slack_default}")
            found.append(Target(channel.value, reach.slack_default))
        else:
            notes.append(f"team {ref} has no {field}: sent to the console instead")
            found.append(Target(CONSOLE, CONSOLE))
    if not refs:
        if channel is Channel.SLACK and reach.slack_default:
            found.append(Target(channel.value, reach.slack_default))
        else:
            notes.append(f"no team to reach on {channel.value}: sent to the console instead")
            found.append(Target(CONSOLE, CONSOLE))
    return found
