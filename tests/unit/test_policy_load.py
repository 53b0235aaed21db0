"""Loading policy.yaml and org.yaml: every error names the file, the line and what to write instead."""

from __future__ import annotations

import re

import pytest

from opswarden.errors import ConfigurationError
from opswarden.policy import load_org, load_policy
from opswarden.policy.model import Channel
from tests.conftest import FIXTURES

pytestmark = pytest.mark.unit

ORG = load_org((FIXTURES / "policy" / "org.yaml").read_text())
HEAD = "route:\n  name: root\n  routes:\n    - name: a\n"  # a child route's keys go on line 5


def error(text: str, org: bool = True) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_policy(text, "p.yaml", org=ORG if org else None)
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEAD + "      supress: true\n", "p.yaml:5: unknown decision 'supress': did you mean 'suppress'?"),
        (
            HEAD + "      severity: hihg\n",
            "p.yaml:5: severity must be one of critical, high, medium, low, informational (got 'hihg'): "
            "did you mean 'high'?",
        ),
        (HEAD + "      channels: [slak]\n", "p.yaml:5: channels must be one of slack, teams, email"),
        (HEAD + "      continue: maybe\n", "p.yaml:5: continue must be true or false (got 'maybe')"),
        (HEAD + "      suppress: true\n", "p.yaml:5: suppress: true needs a reason: write reason:"),
        (HEAD + "      reminders: 7\n", "p.yaml:5: reminders must be a list"),
        (HEAD + "      reminders: [30, x]\n", "p.yaml:5: reminders[1] must be a whole number (got 'x')"),
        (HEAD + "      teams: owner\n", "p.yaml:5: teams must be a list, e.g. teams: [a, b]"),
        ("route: root\n", "p.yaml:1: route must be a mapping of keys to values"),
        (
            HEAD + "      severity: {by_deadline: [{within_day: 3, severity: high}]}\n",
            "p.yaml:5: unknown key 'within_day' in a band: did you mean 'within_days'?",
        ),
        (HEAD + "      teams: [SecOp]\n", "p.yaml:5: unknown team 'SecOp'"),
        (HEAD + "      teams: [Securty]\n", "did you mean 'Security'?"),
        (
            HEAD + "      match:\n        source: x\n        acount.name: y\n",
            "p.yaml:7: unknown field 'acount.name': did you mean 'account.name'?",
        ),
        (HEAD + "      match:\n        title: {globb: x}\n", "p.yaml:6: title: unknown operator 'globb'"),
        (
            HEAD + "      match:\n        expr: 'x > 1'\n",
            "p.yaml:6: expr: CEL expressions need a CEL package",
        ),
        (HEAD + "      match: [source]\n", "p.yaml:5: match must be a mapping of field: condition"),
        (
            "route:\n  name: root\n  severity:\n    by_deadline:\n      - {within_days: 30, severity: hgh}\n",
            "p.yaml:5: severity must be one of critical",
        ),
        (
            "route:\n  name: root\n  severity:\n    by_deadline:\n      - {otherwise: low}\n      - {otherwise: low}\n",
            "p.yaml:5: otherwise must be the last band",
        ),
        (
            "route:\n  name: root\n  severity:\n    by_deadline:\n      - {within_days: 30}\n",
            "p.yaml:5: by_deadline: a band needs within_days and severity",
        ),
        ("route:\n  routes:\n    - {teams: [owner]}\n", "p.yaml:1: this route needs 'name'"),
        ("route:\n  name: root\n  match: {source: x}\n", "p.yaml:3: the root route matches every event"),
        ("route:\n  name: root\n  name: again\n", "p.yaml:3: 'name' is written twice"),
        ("route:\n  name: root\n  routes: [\n", "p.yaml:4: not valid YAML"),
        ("", "p.yaml:1: a policy needs a root route"),
        ("rout:\n  name: root\n", "p.yaml:1: unknown key 'rout' in a policy: did you mean 'route'?"),
        (
            "route: {name: root}\nsilences:\n  - match: {source: x}\n    until: tomorrow\n    reason: r\n",
            "p.yaml:4: until must be a time like 2026-12-01T00:00:00Z (got 'tomorrow')",
        ),
        (
            "route: {name: root}\nsilences:\n  - match: {source: x}\n    until: 2026-12-01T00:00:00\n    reason: r\n",
            "p.yaml:4: until needs a time zone",
        ),
        (
            "route: {name: root}\nsilences:\n  - match: {source: x}\n    until: 2026-12-01T00:00:00Z\n",
            "p.yaml:3: this silence needs 'reason'",
        ),
    ],
)
def test_errors_name_the_file_the_line_and_the_fix(text: str, message: str) -> None:
    assert message in error(text)


def test_every_problem_is_reported_in_line_order() -> None:
    text = HEAD + "      severity: hihg\n    - name: b\n      supress: true\n"

    lines = error(text).splitlines()

    assert [line.split(":")[1] for line in lines] == ["5", "7"]


def test_team_references_are_checked_only_against_an_org() -> None:
    policy = load_policy(HEAD + "      teams: [nobody]\n", org=None)

    assert policy.route.routes[0].teams == ("nobody",)


def test_a_valid_policy_loads_with_its_options() -> None:
    policy = load_policy(
        HEAD + "      continue: true\n      teams: [owner, Security]\n      channels: [slack, email]\n",
        org=ORG,
    )

    route = policy.route.routes[0]
    assert route.continue_
    assert route.teams == ("owner", "Security")
    assert route.channels == (Channel.SLACK, Channel.EMAIL)
    assert [path for path, _ in policy.route.walk()] == ["root", "root/a"]


def test_org_lookups() -> None:
    account = ORG.account("111111111111")

    assert account is not None
    assert (account.name, account.environment, account.ou, account.tags) == (
        "shop",
        "production",
        "Retail",
        {"tier": "gold"},
    )
    owner = ORG.owner("111111111111")
    assert owner is not None
    assert owner.id == "ops"
    assert ORG.team("Security") is ORG.team("sec")
    assert ORG.account("999999999999") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("accounts:\n  - {id: 12}\n", "o.yaml:2: id: account id must be 12 digits in quotes"),
        (
            "teams: []\naccounts:\n  - {id: '111111111111', team: b}\n",
            "o.yaml:3: account 111111111111: unknown team 'b'",
        ),
        (
            "teams:\n  - id: a\n    name: A\n    slack: '#a'\n",
            "o.yaml:4: unknown key 'slack' in a team: did you mean",
        ),
        ("teams:\n  - {id: a, name: A}\n  - {id: a, name: B}\n", "o.yaml:3: two teams are called 'a'"),
        (
            "accounts:\n  - {id: '111111111111'}\n  - {id: '111111111111'}\n",
            "o.yaml:3: account 111111111111 is listed twice",
        ),
        ("- a\n", "o.yaml:1: org.yaml holds a mapping"),
    ],
)
def test_org_errors_name_the_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_org(text, "o.yaml")

    assert message in str(caught.value)


def test_account_ids_keep_leading_zeros_and_accept_unquoted_numbers() -> None:
    org = load_org("accounts:\n  - {id: 012345670123}\n  - {id: 111111111111}\n")

    assert [a.id for a in org.accounts] == ["012345670123", "111111111111"]


def test_the_shipped_example_loads() -> None:
    examples = FIXTURES.parent.parent / "examples" / "policy"
    org = load_org((examples / "org.yaml").read_text())

    policy = load_policy((examples / "policy.yaml").read_text(), org=org)

    assert len(org.accounts) == 7
    assert {t.name for t in org.teams} == {"Leadership", "FinOps", "SecOps", "Infra", "App"}
    assert len(policy.route.walk()) > 5


def test_routes_after_a_catch_all_are_reported_unreachable() -> None:
    policy = load_policy(
        HEAD + "    - name: b\n      routes:\n        - {name: c, continue: true}\n        - {name: d}\n"
    )

    assert policy.unreachable() == [("root/b", "root/a")]


def test_the_yaml_examples_in_the_policy_reference_load() -> None:
    docs = (FIXTURES.parent.parent / "docs" / "policy.md").read_text()
    blocks = re.findall(r"^```yaml\n(.*?)^```", docs, re.MULTILINE | re.DOTALL)
    orgs = [b for b in blocks if b.startswith("teams:")]
    policies = [b for b in blocks if b.startswith("route:")]
    assert orgs
    assert policies
    examples = FIXTURES.parent.parent / "examples" / "policy"
    org = load_org((examples / "org.yaml").read_text())

    for block in orgs:
        load_org(block, "docs/policy.md")
    for block in policies:
        load_policy(block, "docs/policy.md", org=org)
