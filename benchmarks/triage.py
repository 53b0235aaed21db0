"""Triage benchmark: decisions/s of the policy engine, ``evaluate(event, policy, org, now)``.

    python benchmarks/triage.py                           # defaults: 100000 events, 200 rules
    python benchmarks/triage.py --events 20000 --rules 50

Generates an org (200 accounts across OUs and teams) and a policy of ``--rules`` leaf rules as YAML
text, loads both with the real loader (``opswarden.policy.load``), then normalises ``--events``
events from the ingest benchmark's templates (AWS Health, Security Hub, CloudWatch alarm, GuardDuty,
Config; accounts from the org) once, untimed. It then times ``evaluate`` over every event with
``time.perf_counter`` (garbage collector on, as in a normal run) and prints decisions/s, µs per
decision (p50 / p95 of per-call timings over a 10k sample), the time the garbage collector took
during the timed run (it keeps every decision, as a backtest would) and the outcome mix.

The policy has a root (channels, severity by deadline bands), a cost route with ``continue: true``,
then ``production`` and ``non-production`` routes on ``account.environment``; the leaf rules under
them mix every matcher kind: equals, lists, glob, regex, ``not``, numeric comparisons on
``days_to_deadline``, ``account.*`` (OU, team, name, tags), ``details.*``; some suppress, some set
severity bands, some ``continue``. Silences follow, some expired, one a future maintenance window.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import random
import statistics
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from opswarden.core.event import Event
from opswarden.policy import Decision, Org, Policy, evaluate, load_org, load_policy
from opswarden.sources.registry import normalise

T0 = 1_767_225_600.0  # 2026-01-01, as in the ingest benchmark
NOW = datetime.fromtimestamp(T0, UTC) + timedelta(days=20)
OUS = ["Core", "Security", "Workloads", "Data", "Sandbox"]
TIERS = ["gold", "silver", "bronze"]
TEAMS = 20
SAMPLE = 10_000


def _ingest() -> ModuleType:
    # benchmarks/ is not a package: load the sibling script by path (as benchmarks/normalise.py does).
    spec = importlib.util.spec_from_file_location("ingest_benchmark", Path(__file__).with_name("ingest.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


INGEST = _ingest()
ACCOUNTS: list[str] = INGEST.ACCOUNTS


# -- org and policy as YAML text --------------------------------------------------------------------------


def org_yaml(accounts: list[str]) -> str:
    teams = [
        {
            "id": f"t{i:02d}",
            "name": f"Team {i:02d}",
            "slack_channel": f"#team-{i:02d}",
            "email": f"t{i:02d}@x.io",
        }
        for i in range(TEAMS)
    ]
    rows = []
    for i, account in enumerate(accounts):
        rows.append(
            {
                "id": account,
                "name": f"acct-{i:03d}",
                # ~70 % production; the last tenth of the accounts is unknown to the org (not listed).
                "environment": "non-production" if i % 10 in (3, 6, 9) else "production",
                "ou": OUS[i % len(OUS)],
                "team": f"t{i % TEAMS:02d}",
                "tags": {"tier": TIERS[i % len(TIERS)], "cost-centre": str(4000 + i % 17)},
            }
        )
    return yaml.safe_dump({"teams": teams, "accounts": rows[: len(rows) * 9 // 10]}, sort_keys=False)


BANDS = {
    "by_deadline": [
        {"within_days": 7, "severity": "critical"},
        {"within_days": 30, "severity": "high"},
        {"within_days": 90, "severity": "medium"},
        {"otherwise": "low"},
    ]
}
SOURCES = ["aws.health", "aws.securityhub", "aws.cloudwatch", "aws.guardduty", "aws.config"]
REGIONS = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"]
CONTROLS = ["S3.8", "EC2.7", "IAM.6", "RDS.1", "CloudTrail.2", "KMS.2"]
HEALTH = ["EC2", "RDS", "EKS", "LAMBDA", "BILLING"]


def _leaf(i: int, rng: random.Random) -> dict[str, Any]:
    """Leaf rule ``i``: specific to a team or OU, as a large organisation's rules tend to be."""
    team = f"t{i % TEAMS:02d}"
    region = REGIONS[i % len(REGIONS)]
    kind = i % 12
    match: dict[str, Any]
    if kind == 0:  # equals + account team
        match = {"source": "aws.health", "account.team": team, "category": "scheduledChange"}
    elif kind == 1:  # in-list + details
        controls = rng.sample(CONTROLS, 2)
        match = {
            "account.team": team,
            "details.security_control_id": controls,
            "severity": ["high", "critical"],
        }
    elif kind == 2:  # glob on type_code + numeric compare
        match = {
            "type_code": {"glob": f"AWS_{HEALTH[i % len(HEALTH)]}_*"},
            "days_to_deadline": {"gte": rng.choice([0, 10, 20]), "lt": rng.choice([45, 60, 90])},
            "account.ou": OUS[i % len(OUS)],
        }
    elif kind == 3:  # regex on title
        match = {"title": {"regex": rf"(?i).*alarm-\d*{i % 10}\b.*"}, "account.tags.tier": TIERS[i % 3]}
    elif kind == 4:  # not + details
        match = {
            "source": "aws.guardduty",
            "region": {"not": region},
            "account.team": team,
            "details.resource_type": "Instance",
        }
    elif kind == 5:  # account name glob + status
        match = {"account.name": {"glob": f"acct-{i % 20:02d}*"}, "status": "open"}
    elif kind == 6:  # details equals + account ou
        match = {
            "source": "aws.config",
            "details.compliance_status": "NON_COMPLIANT",
            "account.ou": OUS[i % 5],
        }
    elif kind == 7:  # numeric: past or close deadline
        match = {"days_to_deadline": {"lt": rng.choice([3, 7, 14])}, "account.tags.tier": "gold"}
    elif kind == 8:  # regex on type_code, account id list
        match = {
            "type_code": {"regex": r"Recon:.*|UnauthorizedAccess:.*|AWS_.*_ISSUE"},
            "account.id": [ACCOUNTS[(i * 7 + k) % len(ACCOUNTS)] for k in range(5)],
        }
    elif kind == 9:  # not with a list, details glob
        match = {
            "category": {"not": ["alarm", "compliance"]},
            "details.eventScopeCode": {"glob": "ACCOUNT_*"},
            "account.team": team,
        }
    elif kind == 10:  # a rule that rarely matches: a specific service and region
        match = {
            "service": HEALTH[i % len(HEALTH)],
            "region": region,
            "account.tags.cost-centre": str(4000 + i % 17),
        }
    else:  # details numeric compare
        match = {
            "source": "aws.guardduty",
            "details.severity_score": {"gte": rng.choice([5, 7])},
            "account.ou": OUS[i % 5],
        }
    rule: dict[str, Any] = {"name": f"rule-{i:03d}", "match": match}
    roll = i % 10
    if roll == 0:
        rule |= {"suppress": True, "reason": f"rule {i}: known noise"}
    elif roll == 1:
        rule |= {"severity": BANDS, "reminders": [30, 7, 1], "open_ticket": True, "teams": ["owner"]}
    elif roll == 2:
        rule |= {"teams": [team, "owner"], "channels": ["slack", "email"], "require_approval": True}
    elif roll == 3:
        rule |= {"severity": rng.choice(["high", "medium", "low"]), "teams": [team]}
    else:
        rule |= {"teams": ["owner"]}
    if i % 25 == 7:
        rule["continue"] = True
    return rule


def policy_yaml(rules: int) -> str:
    rng = random.Random(11)
    leaves = [_leaf(i, rng) for i in range(rules)]
    prod_count = rules * 3 // 4
    production = [*leaves[:prod_count], {"name": "remediation", "teams": ["owner"], "require_approval": True}]
    non_production = [
        *leaves[prod_count:],
        {"name": "rest", "suppress": True, "reason": "non-production account and no rule above"},
    ]
    root = {
        "name": "root",
        "channels": ["slack"],
        "severity": BANDS,
        "routes": [
            {
                "name": "cost",
                "continue": True,
                "match": {"service": {"regex": "(?i)billing|budgets|ce|cur|savingsplans"}},
                "teams": ["t00"],
            },
            {
                "name": "informational",
                "match": {"severity": "informational", "details.actionability": {"not": ["ACTION_REQUIRED"]}},
                "suppress": True,
                "reason": "informational, no action",
            },
            {"name": "production", "match": {"account.environment": "production"}, "routes": production},
            {
                "name": "non-production",
                "match": {"account.known": True, "account.environment": {"not": "production"}},
                "routes": non_production,
            },
        ],
    }

    def when(days: float) -> str:
        return (NOW + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    silences = []
    for i in range(12):
        expired = i % 3 == 0
        silence: dict[str, Any] = {
            "name": f"silence-{i:02d}",
            "match": {"account.id": ACCOUNTS[(i * 13) % len(ACCOUNTS)], "source": SOURCES[i % len(SOURCES)]},
            "until": when(-2 if expired else 10),
            "reason": f"CHG-{1000 + i}",
        }
        if i == 11:  # a maintenance window that has not started
            silence |= {"starts": when(3), "until": when(4), "match": {"account.ou": "Sandbox"}}
        silences.append(silence)
    silences.append(
        {
            "name": "probe-noise",
            "match": {"type_code": {"glob": "Recon:*"}, "region": "ap-southeast-2"},
            "until": when(30),
            "reason": "port probes in ap-southeast-2 are expected",
        }
    )
    return yaml.safe_dump({"route": root, "silences": silences}, sort_keys=False)


# -- events and timing ------------------------------------------------------------------------------------


def make_events(ingest: ModuleType, count: int) -> list[Event]:
    rng = random.Random(7)
    events: list[Event] = []
    n = 0
    while len(events) < count:
        template = ingest.TEMPLATES[n % len(ingest.TEMPLATES)]
        events.extend(normalise(template(n, T0 + n * 30, rng, n % 10 == 0)))
        n += 1
    return events[:count]


def outcome(decision: Decision) -> str:
    if decision.suppressed:
        return "suppressed"
    if decision.silenced_by is not None:
        return "silenced"
    if not decision.matched:
        return "no rule"
    return "notify"


class _GcClock:
    """A ``gc.callbacks`` hook: the time spent collecting, and how many collections were full."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        self.seconds += time.perf_counter() - self._began
        self.full += info["generation"] == 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=200, help="leaf rules in the generated policy")
    args = parser.parse_args()

    started = time.perf_counter()
    org: Org = load_org(org_yaml(ACCOUNTS), "org.yaml")
    text = policy_yaml(args.rules)
    policy: Policy = load_policy(text, "policy.yaml", org)
    loading = time.perf_counter() - started
    routes = len(policy.route.walk())
    print(
        f"policy: {args.rules} leaf rules, {routes} routes, {len(policy.silences)} silences, "
        f"{text.count(chr(10))} lines; org: {len(org.accounts)} accounts, {len(org.teams)} teams; "
        f"loaded in {loading * 1e3:.0f} ms"
    )

    started = time.perf_counter()
    events = make_events(INGEST, args.events)
    print(f"events: {len(events)} normalised in {time.perf_counter() - started:.1f} s (not timed)")

    for event in events[:1000]:  # warm-up: compiled tree, org indexes
        evaluate(event, policy, org, NOW)

    collecting = _GcClock()
    gc.callbacks.append(collecting)
    started = time.perf_counter()
    decisions = [evaluate(event, policy, org, NOW) for event in events]
    seconds = time.perf_counter() - started
    gc.callbacks.remove(collecting)

    sample = events[:: max(1, len(events) // SAMPLE)][:SAMPLE]
    clock = time.perf_counter_ns
    per_call = []
    for event in sample:
        begun = clock()
        evaluate(event, policy, org, NOW)
        per_call.append(clock() - begun)
    cuts = statistics.quantiles(per_call, n=100)

    print(
        f"evaluate: {len(events) / seconds:,.0f} decisions/s, {seconds / len(events) * 1e6:.1f} µs mean "
        f"({seconds:.2f} s for {len(events)})"
    )
    print(f"per decision ({len(per_call)} sampled): p50 {cuts[49] / 1e3:.1f} µs, p95 {cuts[94] / 1e3:.1f} µs")
    print(
        f"garbage collector during the timed run: {collecting.seconds * 1e3:.0f} ms "
        f"({collecting.full} full collections)"
    )
    mix = Counter(outcome(d) for d in decisions)
    shown = ", ".join(
        f"{name} {mix[name]} ({mix[name] / len(decisions):.1%})"
        for name in ("notify", "suppressed", "silenced", "no rule")
    )
    print(f"outcomes: {shown}")
    hit = Counter(route for d in decisions for route in d.routes)
    several = sum(len(d.routes) > 1 for d in decisions)
    print(
        f"routes that decided: {len(hit)} of {routes}; events decided by several routes (continue): {several}"
    )


if __name__ == "__main__":
    main()
