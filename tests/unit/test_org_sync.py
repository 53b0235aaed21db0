"""sync_org(): AWS Organizations accounts merged into org.yaml; the file's own words are kept."""

from __future__ import annotations

from typing import Any

import pytest

from opswarden.policy import load_org
from opswarden.policy.orgsync import FieldChange, Updated, dump_org, leading_comments, sync_org
from tests.conftest import FIXTURES

pytestmark = pytest.mark.unit

ORG_TEXT = """# Our organisation.
# Maintained by hand and by opswarden org sync.

teams:
  - id: inf01
    name: Infra   # networking
    slack_channel: "#infra"
  - {id: sec01, name: SecOps}
accounts:
  - {id: "111111111111", name: core-repo, environment: production, ou: Core, team: inf01}
  - {id: "222222222222", environment: production}
  - {id: "333333333333", name: gone, environment: production, ou: Core}
"""
ORG = load_org(ORG_TEXT)


def aws(
    account_id: str, name: str = "", ou: str | None = None, status: str = "ACTIVE", **tags: str
) -> dict[str, Any]:
    return {"id": account_id, "name": name, "ou": ou, "status": status, "tags": tags}


def test_a_new_account_takes_environment_and_team_from_its_tags() -> None:
    result = sync_org(
        ORG, [aws("444444444444", "payments", "Workloads", Environment="production", team="SecOps")]
    )

    added = result.report.added[0]
    assert (added.id, added.name, added.environment, added.ou, added.team) == (
        "444444444444",
        "payments",
        "production",
        "Workloads",
        "sec01",  # the team's id, whether the tag gives the id or the name
    )
    assert added.tags == {"Environment": "production", "team": "SecOps"}
    assert result.org.account("444444444444") == added


def test_a_new_account_without_tags_gets_the_default_environment_and_no_team() -> None:
    result = sync_org(ORG, [aws("444444444444", "sandbox")], default_environment="sandbox")

    added = result.report.added[0]
    assert (added.environment, added.team, added.ou, added.tags) == ("sandbox", None, None, {})
    assert sync_org(ORG, [aws("444444444444")]).report.added[0].environment == "non-production"


@pytest.mark.parametrize("key", ["environment", "Environment", "env", "ENV"])
def test_environment_tag_spellings(key: str) -> None:
    result = sync_org(ORG, [aws("444444444444", **{key: "staging"})])

    assert result.report.added[0].environment == "staging"


def test_a_team_tag_naming_no_team_leaves_the_team_empty_with_a_note() -> None:
    result = sync_org(ORG, [aws("444444444444", **{"owner-team": "Payments"})])

    assert result.report.added[0].team is None
    assert result.report.notes == (
        "account 444444444444: tag owner-team=Payments names no team of the file; owner team left empty",
    )


def test_existing_accounts_keep_what_the_file_says_and_fill_in_what_it_leaves_empty() -> None:
    result = sync_org(
        ORG,
        [
            aws("111111111111", "core-repo-prod", "Platform", environment="non-production", team="SecOps"),
            aws("222222222222", "logs", "Security", team="sec01", env="production"),
            aws("333333333333", "gone", "Core"),
        ],
    )

    core, written = result.org.account("111111111111"), ORG.account("111111111111")
    assert written is not None
    assert core == written.model_copy(update={"tags": {"environment": "non-production", "team": "SecOps"}})
    logs = result.org.account("222222222222")
    assert logs is not None
    assert (logs.name, logs.ou, logs.team, logs.environment) == ("logs", "Security", "sec01", "production")
    report = result.report
    assert report.updated == (
        Updated(
            "111111111111",
            (FieldChange("tags", {}, {"environment": "non-production", "team": "SecOps"}),),
        ),
        Updated(
            "222222222222",
            (
                FieldChange("name", "", "logs"),
                FieldChange("ou", None, "Security"),
                FieldChange("tags", {}, {"team": "sec01", "env": "production"}),
                FieldChange("team", None, "sec01"),
            ),
        ),
    )
    assert report.unchanged == ("333333333333",)
    assert report.notes == (
        "account 111111111111: kept name 'core-repo' (AWS says 'core-repo-prod')",
        "account 111111111111: kept ou 'Core' (AWS says 'Platform')",
        "account 111111111111: kept environment 'production' (AWS tag environment=non-production)",
        "account 111111111111: kept team 'inf01' (AWS tag team=SecOps)",
    )


def test_accounts_gone_from_aws_are_reported_and_kept() -> None:
    result = sync_org(ORG, [aws("111111111111", "core-repo", "Core")])

    assert result.report.missing == ("222222222222", "333333333333")
    assert result.org.accounts == ORG.accounts
    assert not result.report.changed
    assert result.report.unchanged == ("111111111111",)


def test_new_accounts_that_are_not_active_are_skipped() -> None:
    result = sync_org(
        ORG, [aws("444444444444", status="SUSPENDED"), aws("555555555555", status="PENDING_CLOSURE")]
    )

    assert result.report.added == ()
    assert result.report.skipped == (("444444444444", "SUSPENDED"), ("555555555555", "PENDING_CLOSURE"))


def test_new_accounts_are_appended_in_id_order_after_the_files_own() -> None:
    result = sync_org(ORG, [aws("999999999999"), aws("444444444444"), aws("111111111111")])

    assert [a.id for a in result.org.accounts] == [
        "111111111111",
        "222222222222",
        "333333333333",
        "444444444444",
        "999999999999",
    ]


def test_the_written_text_reads_back_to_the_same_org() -> None:
    result = sync_org(
        ORG,
        [
            aws(
                "012345678901",
                "zero: leading",
                "Work loads",
                env="production",
                team="inf01",
                **{"cost centre": "42"},
            )
        ],
    )

    text = dump_org(result.org, leading_comments(ORG_TEXT))

    assert load_org(text) == result.org
    assert text.startswith("# Our organisation.\n# Maintained by hand and by opswarden org sync.\n\nteams:\n")
    assert (
        '  - {id: "012345678901", name: "zero: leading", environment: production, ou: Work loads, team: inf01,'
        in text
    )
    assert '  - id: inf01\n    name: Infra\n    slack_channel: "#infra"\n' in text


def test_the_shipped_example_org_round_trips() -> None:
    for path in [
        FIXTURES / "policy" / "org.yaml",
        FIXTURES.parent.parent / "examples" / "policy" / "org.yaml",
    ]:
        org = load_org(path.read_text())

        assert load_org(dump_org(org)) == org
        assert sync_org(org, []).report.missing == tuple(a.id for a in org.accounts)


def test_leading_comments() -> None:
    assert leading_comments("") == ""
    assert leading_comments("teams: []\n# not a header\n") == ""
    assert leading_comments("\n# one\n#two\n\naccounts: []\n") == "\n# one\n#two\n\n"


def test_report_as_data() -> None:
    report = sync_org(ORG, [aws("444444444444", "new"), aws("222222222222", "logs")]).report

    assert report.to_dict() == {
        "added": [{"id": "444444444444", "name": "new", "environment": "non-production"}],
        "updated": [{"id": "222222222222", "changes": [{"field": "name", "before": "", "after": "logs"}]}],
        "unchanged": [],
        "missing": ["111111111111", "333333333333"],
        "skipped": [],
        "notes": [],
    }
