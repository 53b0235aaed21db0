"""``opswarden policy backtest``: stored example events replayed through the shipped policy and a change."""

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
AT = ["--at", "2026-11-26T00:00:00Z"]
SECURITY_FINDINGS = {"aws.securityhub", "aws.guardduty"}


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (common, policy_cli):
        monkeypatch.setattr(module, "console", Console(width=250))
        monkeypatch.setattr(module, "err_console", Console(stderr=True, width=250))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data dir with the shipped org and policy and every example event ingested."""
    shutil.copy(EXAMPLES / "policy" / "policy.yaml", tmp_path / "policy.yaml")
    shutil.copy(EXAMPLES / "policy" / "org.yaml", tmp_path / "org.yaml")
    ingested = run(tmp_path, "ingest", str(EXAMPLES / "events"))
    assert ingested.exit_code == 0, ingested.output
    return tmp_path


def run(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["--data-dir", str(data_dir), *args])


def candidate(data_dir: Path) -> Path:
    """The shipped policy with two edits: findings go to Infra without a ticket; non-production is told."""
    text = (data_dir / "policy.yaml").read_text()
    security = "          teams: [SecOps]\n          open_ticket: true\n"
    non_production = (
        '      suppress: true\n      reason: "OheroACT: non-production account and no cost impact"\n'
    )
    assert security in text
    assert non_production in text
    text = text.replace(security, "          teams: [Infra]\n").replace(
        non_production, "      teams: [owner]\n"
    )
    path = data_dir / "candidate.yaml"
    path.write_text(text)
    return path


def backtest_json(data_dir: Path, *args: str) -> dict[str, Any]:
    result = run(data_dir, "policy", "backtest", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = orjson.loads(result.stdout)
    return data


def test_the_same_policy_changes_nothing(data_dir: Path) -> None:
    result = run(
        data_dir,
        "policy",
        "backtest",
        "--policy",
        str(data_dir / "policy.yaml"),
        *AT,
        "--since",
        "2020-01-01",
    )

    assert result.exit_code == 0, result.output
    assert (
        "8 event(s) since 2020-01-01 replayed as of 2026-11-26 00:00Z: 8 unchanged, 0 changed"
        in result.output
    )


def test_backtest_reports_each_change_and_the_totals(data_dir: Path) -> None:
    report = backtest_json(data_dir, "--policy", str(candidate(data_dir)), *AT, "--since", "2020-01-01")

    assert (report["replayed"], report["unchanged"], report["changed"]) == (8, 4, 4)
    assert report["by_kind"] == {"notify": 1, "teams": 4, "ticket": 3}
    assert report["now"] == "2026-11-26T00:00:00Z"
    assert report["candidate"] == str(data_dir / "candidate.yaml")
    changes = {(e["source"], e["accounts"][0], e["title"][:40]): e["changes"] for e in report["events"]}
    findings = {k: v for k, v in changes.items() if k[0] in SECURITY_FINDINGS}
    assert len(findings) == 3
    for found in findings.values():
        assert found == [
            {
                "kind": "teams",
                "before": ["sec01"],
                "after": ["inf01"],
                "added": ["inf01"],
                "removed": ["sec01"],
            },
            {"kind": "ticket", "before": True, "after": False},
        ]
    sandbox = changes[("aws.health", "666666666666", "EC2 · Instance store drive performance d")]
    assert sandbox == [
        {"kind": "notify", "before": "suppressed", "after": "notify"},
        {"kind": "teams", "before": [], "after": ["inf01"], "added": ["inf01"], "removed": []},
    ]


def test_the_table_and_fail_on_change(data_dir: Path) -> None:
    result = run(
        data_dir, "policy", "backtest", "--policy", str(candidate(data_dir)), *AT, "--since", "2020-01-01",
        "--fail-on-change",
    )  # fmt: skip

    assert result.exit_code == 1, result.output
    assert "  route root/non-production\n  notify: suppressed → notify\n  teams: +inf01\n" in result.output
    assert result.output.count("  teams: +inf01 -sec01\n  ticket: yes → no\n") == 3
    assert (
        "8 event(s) since 2020-01-01 replayed as of 2026-11-26 00:00Z: 4 unchanged, 4 changed "
        "(notify 1, teams 4, ticket 3)" in result.output
    )


def test_since_selects_events_received_in_the_window(data_dir: Path) -> None:
    recent = backtest_json(data_dir, "--policy", str(candidate(data_dir)))  # default 30d before now
    future = backtest_json(data_dir, "--policy", str(candidate(data_dir)), "--since", "2099-01-01")

    assert recent["replayed"] == 8
    assert (future["replayed"], future["changed"], future["events"]) == (0, 0, [])


def test_an_invalid_candidate_exits_2_with_its_line(data_dir: Path) -> None:
    bad = data_dir / "bad.yaml"
    bad.write_text("route:\n  name: root\n  teams: [Nobody]\n")

    result = run(data_dir, "policy", "backtest", "--policy", str(bad))

    assert result.exit_code == 2
    assert f"{bad}:3: unknown team 'Nobody'" in result.output
