"""``opswarden org sync`` against AWS Organizations as moto fakes it: OUs, tags, pages, errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from opswarden.cli import common
from opswarden.cli import org as org_cli
from opswarden.cli.main import app
from opswarden.errors import ConfigurationError
from opswarden.policy import load_org

pytestmark = pytest.mark.integration

moto = pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")

ORG_TEXT = """# Hand-written header: kept by org sync.

teams:
  - {id: inf01, name: Infra}
  - {id: sec01, name: SecOps}
accounts:
  - {id: "999999999999", name: decommissioned, environment: production, team: inf01}
"""


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for module in (common, org_cli):
        monkeypatch.setattr(module, "console", Console(width=250))
        monkeypatch.setattr(module, "err_console", Console(stderr=True, width=250))


@pytest.fixture
def organisation() -> Iterator[dict[str, str]]:
    """An organisation: the management account under the root, three accounts in two OUs."""
    with moto.mock_aws():
        client = boto3.client("organizations", region_name="us-east-1")
        client.create_organization(FeatureSet="ALL")
        root = client.list_roots()["Roots"][0]["Id"]
        ous = {
            name: client.create_organizational_unit(ParentId=root, Name=name)["OrganizationalUnit"]["Id"]
            for name in ("Workloads", "Security")
        }
        ids: dict[str, str] = {}
        for name, ou, tags in [
            ("payments-prod", "Workloads", {"Environment": "production", "team": "Infra"}),
            ("payments-dev", "Workloads", {"env": "development", "cost-centre": "4200"}),
            ("log-archive", "Security", {"owner-team": "sec01"}),
        ]:
            status = client.create_account(
                Email=f"{name}@example.com",
                AccountName=name,
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )["CreateAccountStatus"]
            account_id = status["AccountId"]
            client.move_account(AccountId=account_id, SourceParentId=root, DestinationParentId=ous[ou])
            ids[name] = account_id
        ids["management"] = client.describe_organization()["Organization"]["MasterAccountId"]
        yield ids


def run(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["--data-dir", str(tmp_path), "org", "sync", *args])


def accounts(path: Path) -> dict[str, dict[str, Any]]:
    return {a.id: a.model_dump() for a in load_org(path.read_text()).accounts}


def test_sync_adds_the_organisations_accounts_with_ou_tags_environment_and_team(
    tmp_path: Path, organisation: dict[str, str]
) -> None:
    org_file = tmp_path / "org.yaml"
    org_file.write_text(ORG_TEXT)

    result = run(tmp_path, "--org", str(org_file))

    assert result.exit_code == 0, result.output
    found = accounts(org_file)
    assert found[organisation["payments-prod"]] == {
        "id": organisation["payments-prod"],
        "name": "payments-prod",
        "environment": "production",
        "ou": "Workloads",
        "team": "inf01",
        "tags": {"Environment": "production", "team": "Infra"},
    }
    dev = found[organisation["payments-dev"]]
    assert (dev["environment"], dev["ou"], dev["team"]) == ("development", "Workloads", None)
    logs = found[organisation["log-archive"]]
    assert (logs["environment"], logs["ou"], logs["team"]) == ("non-production", "Security", "sec01")
    management = found[organisation["management"]]
    assert (management["ou"], management["environment"]) == (None, "non-production")
    assert found["999999999999"]["name"] == "decommissioned"  # gone from AWS: kept
    assert org_file.read_text().startswith("# Hand-written header: kept by org sync.\n\nteams:\n")
    assert "4 added, 0 updated, 0 unchanged, 1 missing from AWS, 0 skipped" in result.output
    assert "missing  999999999999: in the file, not in AWS (kept)" in result.output
    assert f"wrote {org_file}" in result.output

    again = run(tmp_path, "--org", str(org_file))

    assert again.exit_code == 0, again.output
    assert "0 added, 0 updated, 4 unchanged, 1 missing from AWS" in again.output
    assert "wrote" not in again.output


def test_dry_run_writes_nothing_and_prints_the_diff(tmp_path: Path, organisation: dict[str, str]) -> None:
    org_file = tmp_path / "org.yaml"
    org_file.write_text(ORG_TEXT)

    result = run(tmp_path, "--org", str(org_file), "--dry-run", "--default-environment", "sandbox")

    assert result.exit_code == 0, result.output
    assert org_file.read_text() == ORG_TEXT
    prod = organisation["payments-prod"]
    assert (
        f'+  - {{id: "{prod}", name: payments-prod, environment: production, ou: Workloads, team: inf01, '
        in result.output
    )
    assert (
        f"added    {organisation['log-archive']} log-archive (environment sandbox, ou Security, team sec01)"
        in (result.output)
    )
    assert "wrote" not in result.output


def test_output_and_json_and_a_file_that_does_not_exist_yet(
    tmp_path: Path, organisation: dict[str, str]
) -> None:
    out = tmp_path / "synced.yaml"

    result = run(tmp_path, "--output", str(out), "--format", "json")

    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["written"] is True
    assert sorted(a["id"] for a in report["added"]) == sorted(organisation.values())
    assert set(accounts(out)) == set(organisation.values())
    assert not (tmp_path / "org.yaml").exists()


def test_existing_accounts_are_filled_in_not_overwritten(
    tmp_path: Path, organisation: dict[str, str]
) -> None:
    prod, dev = organisation["payments-prod"], organisation["payments-dev"]
    org_file = tmp_path / "org.yaml"
    org_file.write_text(
        ORG_TEXT
        + f'  - {{id: "{prod}", name: payments, environment: non-production, team: sec01}}\n'
        + f'  - {{id: "{dev}"}}\n'
    )

    result = run(tmp_path, "--org", str(org_file))

    assert result.exit_code == 0, result.output
    found = accounts(org_file)
    assert found[prod] == {
        "id": prod,
        "name": "payments",
        "environment": "non-production",
        "ou": "Workloads",
        "team": "sec01",
        "tags": {"Environment": "production", "team": "Infra"},
    }
    assert (found[dev]["name"], found[dev]["environment"]) == ("payments-dev", "production")
    assert f"updated  {prod}: ou - → Workloads; tags" in result.output
    assert f"note: account {prod}: kept environment 'non-production' (AWS tag Environment=production)" in (
        result.output
    )


def test_an_aws_error_says_what_the_credentials_need(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.stub import Stubber

    from opswarden.aws import organizations

    client = boto3.client("organizations", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_client_error("list_accounts", "AccessDeniedException", "You don't have permissions")
    stubber.activate()
    monkeypatch.setattr(organizations, "organizations_client", lambda profile=None: client)

    result = run(tmp_path, "--org", str(tmp_path / "org.yaml"))

    assert result.exit_code == 2
    assert "AWS Organizations: AccessDeniedException: You don't have permissions" in result.output
    assert "organizations:ListAccounts" in result.output
    assert not (tmp_path / "org.yaml").exists()


def test_an_invalid_org_file_is_reported_before_aws_is_asked(tmp_path: Path) -> None:
    org_file = tmp_path / "org.yaml"
    org_file.write_text("accounts:\n  - {id: '111111111111', team: nobody}\n")

    result = run(tmp_path, "--org", str(org_file))

    assert result.exit_code == 2
    assert f"{org_file}:2: account 111111111111: unknown team 'nobody'" in result.output


def test_without_boto3_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from opswarden.aws.organizations import organizations_client

    monkeypatch.setitem(sys.modules, "boto3", None)

    with pytest.raises(ConfigurationError, match=r"pip install 'opswarden\[aws\]'"):
        organizations_client()
