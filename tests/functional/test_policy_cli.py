"""``opswarden policy check|test`` on the shipped example org and policy and the example events."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from opswarden.cli import common
from opswarden.cli import policy as policy_cli
from opswarden.cli.main import app

pytestmark = pytest.mark.functional

ROOT = Path(__file__).parent.parent.parent
EXAMPLES = ROOT / "examples"
FILES = ["--policy", str(EXAMPLES / "policy" / "policy.yaml"), "--org", str(EXAMPLES / "policy" / "org.yaml")]
AT = ["--at", "2026-11-26T00:00:00Z"]


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (common, policy_cli):
        monkeypatch.setattr(module, "console", Console(width=250))
        monkeypatch.setattr(module, "err_console", Console(stderr=True, width=250))


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["--data-dir", str(tmp_path), *args], env=env)


def decisions(tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    result = run(tmp_path, "policy", "test", *args, *FILES, *AT, "--format", "json")
    assert result.exit_code == 0, result.output
    data: list[dict[str, Any]] = orjson.loads(result.stdout)
    return data


def test_check_accepts_the_shipped_example_and_prints_its_routes(tmp_path: Path) -> None:
    result = run(tmp_path, "policy", "check", *FILES)

    assert result.exit_code == 0, result.output
    assert "production: account.environment production" in result.output
    assert "non-production: account.known true" in result.output
    assert "ok: " in result.output
    assert "7 account(s), 5 team(s)" in result.output


def test_check_reads_the_files_from_the_data_dir_by_default(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "policy" / "policy.yaml", tmp_path / "policy.yaml")
    shutil.copy(EXAMPLES / "policy" / "org.yaml", tmp_path / "org.yaml")

    assert run(tmp_path, "policy", "check").exit_code == 0


def test_check_reads_the_files_named_by_settings(tmp_path: Path) -> None:
    env = {
        "OPSWARDEN_POLICY_FILE": str(EXAMPLES / "policy" / "policy.yaml"),
        "OPSWARDEN_ORG_FILE": str(EXAMPLES / "policy" / "org.yaml"),
    }

    assert run(tmp_path, "policy", "check", env=env).exit_code == 0


def test_check_exits_2_with_the_file_and_line_of_a_mistake(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("route:\n  name: root\n  routes:\n    - name: a\n      supress: true\n")

    result = run(tmp_path, "policy", "check", "--policy", str(bad), "--org", FILES[3])

    assert result.exit_code == 2
    assert f"{bad}:5: unknown decision 'supress': did you mean 'suppress'?" in result.output


def test_check_exits_2_when_a_file_is_missing(tmp_path: Path) -> None:
    result = run(tmp_path, "policy", "check")

    assert result.exit_code == 2
    assert "cannot read the org file" in result.output


def test_the_example_events_route_as_the_runbook_says(tmp_path: Path) -> None:
    results = decisions(tmp_path, str(EXAMPLES / "events"))

    by_file = {(Path(r["origin"].split(":")[0]).name, r["decision"]["routes"][0]) for r in results}
    assert by_file == {
        ("01_eks_end_of_support.json", "root/production/lifecycle"),
        ("02_eks_end_of_support_update.json", "root/production/lifecycle"),
        ("03_ec2_issue_sandbox.json", "root/non-production"),
        ("04_securityhub_findings.json", "root/production/security"),
        ("05_guardduty_finding.json", "root/production/security"),
        ("06_cloudwatch_alarm.ndjson", "root/production/networking"),
        ("06_cloudwatch_alarm.ndjson", "root/production/informational"),
        ("07_config_noncompliant.json", "root/production/networking"),
        ("08_rds_issue_production.json", "root/production/remediation"),
    }
    sandbox = next(r for r in results if r["origin"].endswith("03_ec2_issue_sandbox.json"))
    assert sandbox["decision"]["suppressed"] is True
    assert sandbox["decision"]["notify"] is False
    assert sandbox["decision"]["reason"] == "OheroACT: non-production account and no cost impact"
    assert (
        "account.environment = non-production (666666666666) [not production]"
        in sandbox["decision"]["explanation"][0]["matched"]
    )
    eks = results[0]["decision"]
    assert (eks["teams"], eks["severity"], eks["original_severity"]) == (["inf01"], "low", "medium")
    assert eks["reminders"] == [30, 7, 1]
    assert eks["open_ticket"] is True


def test_severity_follows_the_deadline_as_of_the_given_time(tmp_path: Path) -> None:
    event = str(EXAMPLES / "events" / "01_eks_end_of_support.json")  # deadline 2027-03-27
    result = run(tmp_path, "policy", "test", event, *FILES, "--at", "2027-03-01T00:00:00Z", "-f", "json")

    assert orjson.loads(result.stdout)[0]["decision"]["severity"] == "high"


def test_a_cost_event_in_non_production_goes_to_finops(tmp_path: Path) -> None:
    payload = orjson.loads((EXAMPLES / "events" / "03_ec2_issue_sandbox.json").read_bytes())
    payload["detail"]["service"] = "BILLING"
    payload["detail"]["eventTypeCode"] = "AWS_BILLING_NOTIFICATION"
    (tmp_path / "billing.json").write_bytes(orjson.dumps(payload))

    [result] = decisions(tmp_path, str(tmp_path / "billing.json"))

    assert result["decision"]["routes"] == ["root/cost-service"]
    assert result["decision"]["teams"] == ["fin01"]
    assert result["decision"]["suppressed"] is False


def test_the_table_shows_the_decision_and_why_and_stores_nothing(tmp_path: Path) -> None:
    result = run(tmp_path, "policy", "test", str(EXAMPLES / "events"), *FILES, *AT)

    assert result.exit_code == 0, result.output
    assert "suppressed: OheroACT: non-production account and no cost impact" in result.output
    assert "root/production/security: category = finding" in result.output
    assert "10 event(s) as of 2026-11-26 00:00Z: 8 to notify, 2 suppressed" in result.output
    assert not (tmp_path / "opswarden.db").exists()


def test_unreadable_input_is_reported_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "junk.json").write_text('{"hello": "world"}')

    result = run(tmp_path, "policy", "test", str(tmp_path / "junk.json"), *FILES, *AT, "-f", "json")

    assert result.exit_code == 1
    [row] = orjson.loads(result.stdout)
    assert "not a recognised event format" in row["error"]


def test_check_warns_about_routes_no_event_can_reach(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "route:\n  name: root\n  routes:\n    - {name: all, teams: [owner]}\n    - {name: late}\n"
    )

    result = run(tmp_path, "policy", "check", "--policy", str(policy), "--org", FILES[3])

    assert result.exit_code == 0, result.output
    assert "warning: route root/late is never reached: root/all before it has no match" in result.output
