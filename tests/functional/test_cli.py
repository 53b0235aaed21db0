"""The ``opswarden`` command line, invoked as a user would (Typer's runner, a real data directory)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from opswarden import __version__
from opswarden.cli import common, events, main
from opswarden.cli.main import app
from tests.functional.batch import (
    ACCOUNT,
    ALARM_KEY,
    BATCH,
    BATCH_ORIGINS,
    FINDING_KEY,
    HEALTH_ISSUE_KEY,
    PAYMENT_KEY,
    PIPELINE,
    S3_PUBLIC_KEY,
    STOPPED_KEY,
    TERMINATED_KEY,
)

pytestmark = pytest.mark.functional
CONTRACT = {
    "id",
    "source",
    "type",
    "category",
    "status",
    "severity",
    "title",
    "region",
    "accounts",
    "resources",
    "updated_at",
    "version_count",
}


class Cli:
    """``opswarden --data-dir <tmp> [--database-url URL] …`` through Typer's test runner."""

    def __init__(self, data_dir: Path, database_url: str | None = None) -> None:
        self.root = ["--data-dir", str(data_dir)]
        if database_url:
            self.root += ["--database-url", database_url]
        self.runner = CliRunner()

    def __call__(
        self, *args: str | Path, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> Result:
        return self.runner.invoke(app, [*self.root, *map(str, args)], input=stdin, env=env)

    def json(self, *args: str | Path) -> Any:
        result = self(*args, "--format", "json")
        assert result.exit_code == 0, result.output
        return orjson.loads(result.stdout)

    def keys(self, *args: str) -> set[str]:
        return {row["key"] for row in self.json("events", "list", *args)}


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "data")


def terminal(monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    """Rich output as on a terminal ``width`` columns wide (pytest-xdist workers say COLUMNS=80)."""
    for module in (common, events, main):
        monkeypatch.setattr(module, "console", Console(width=width))
        if hasattr(module, "err_console"):
            monkeypatch.setattr(module, "err_console", Console(stderr=True, width=width))


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal(monkeypatch, 200)


def words(text: str) -> str:
    """Output with Rich's line wrapping and panel borders undone."""
    return " ".join(text.replace("│", " ").split())


def ec2_change(instance: str, state: str, at: datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"{instance}-{state}",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": ACCOUNT,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-west-1",
        "resources": [f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/{instance}"],
        "detail": {"instance-id": instance, "state": state},
    }


# ----------------------------------------------------------------------------------------------------
# ingest


def test_ingest_exits_1_when_anything_is_rejected_and_still_stores_the_rest(cli: Cli) -> None:
    result = cli("ingest", BATCH)

    assert result.exit_code == 1
    assert "10 payload(s): 7 accepted (7 new, 0 updated, 0 unchanged, 0 history), 4 rejected" in words(
        result.stdout
    )
    errors = words(result.stderr)
    assert f"rejected {BATCH / 'mixed.ndjson'}:2: invalid JSON" in errors
    assert f"rejected {BATCH / 'sqs_batch.json'} Records[1].body: message is not JSON" in errors
    assert errors.count("rejected ") == 4
    assert cli.keys() == set(BATCH_ORIGINS)


def test_ingest_files_exits_0_and_json_summary_counts_each_outcome(cli: Cli) -> None:
    files = [BATCH / "cloudwatch_alarm.json", BATCH / "guardduty_finding.json"]
    first = cli("ingest", *files, "--format", "json")
    again = cli("ingest", *files, "--format", "json")
    update = cli("ingest", BATCH / "health_issue_open.json", PIPELINE / "health_issue_resolved.json")

    assert (first.exit_code, again.exit_code, update.exit_code) == (0, 0, 0)
    summary = orjson.loads(first.stdout)
    assert {k: summary[k] for k in ("payloads", "accepted", "new", "rejected")} == {
        "payloads": 2,
        "accepted": 2,
        "new": 2,
        "rejected": 0,
    }
    assert summary["rejections"] == []
    assert summary["by_source"] == {"aws.cloudwatch": 1, "aws.guardduty": 1}
    assert orjson.loads(again.stdout)["unchanged"] == 2
    assert "2 accepted (1 new, 1 updated, 0 unchanged, 0 history), 0 rejected" in words(update.stdout)


def test_ingest_reads_ndjson_from_stdin(cli: Cli) -> None:
    lines = (BATCH / "mixed.ndjson").read_bytes().splitlines()
    good = cli("ingest", "-", stdin=(BATCH / "cloudwatch_alarm.json").read_bytes())
    mixed = cli("ingest", "-", "--format", "json", stdin=b"\n".join(lines) + b"\n")

    assert good.exit_code == 0, good.output
    assert mixed.exit_code == 1
    summary = orjson.loads(mixed.stdout)
    assert (summary["new"], summary["rejected"]) == (1, 2)
    assert [r["origin"] for r in summary["rejections"]] == ["<stdin>:2", "<stdin>:4"]
    shown = cli.json("events", "show", STOPPED_KEY)
    assert shown["versions"][0]["origin"] == "<stdin>:1"
    assert cli.json("events", "show", ALARM_KEY)["versions"][0]["origin"] == "<stdin>"


def test_a_missing_path_is_rejected_with_its_name(cli: Cli, tmp_path: Path) -> None:
    result = cli("ingest", tmp_path / "nowhere.json")

    assert result.exit_code == 1
    assert f"{tmp_path / 'nowhere.json'}: no such file or directory" in words(result.stderr)


# ----------------------------------------------------------------------------------------------------
# events list / show


def test_events_list_filters(tmp_path: Path, database_url: str) -> None:
    cli = Cli(tmp_path / "data", database_url)
    now = datetime.now(UTC)
    recent = tmp_path / "recent.ndjson"
    recent.write_bytes(
        orjson.dumps(ec2_change("i-0recent0000000001", "stopping", now - timedelta(days=2)))
        + b"\n"
        + orjson.dumps(ec2_change("i-0older00000000002", "stopping", now - timedelta(days=60)))
    )
    cli("ingest", BATCH, recent)
    recent_key = f"aws.ec2:instance-state:{ACCOUNT}:i-0recent0000000001"
    older_key = f"aws.ec2:instance-state:{ACCOUNT}:i-0older00000000002"

    assert cli.keys("--source", "aws.health") == {HEALTH_ISSUE_KEY, S3_PUBLIC_KEY}
    assert cli.keys("--category", "finding") == {FINDING_KEY}
    assert cli.keys("--status", "closed") == {STOPPED_KEY, TERMINATED_KEY, recent_key, older_key}
    assert cli.keys("--account", ACCOUNT) == set(BATCH_ORIGINS) - {S3_PUBLIC_KEY} | {recent_key, older_key}
    assert cli.keys("--account", ACCOUNT[:6]) == set()  # whole account ids only
    assert cli.keys("--since", "30d") == {recent_key}
    assert cli.keys("--since", "2026-03-04T13:00:00Z", "--until", "2026-03-05") == {
        PAYMENT_KEY,
        S3_PUBLIC_KEY,
        TERMINATED_KEY,
    }
    assert cli.keys("--source", "aws.ec2", "--until", "2026-03-04T13:00:00Z") == {STOPPED_KEY}
    assert cli.keys("--source", "nobody") == set()
    (alarm,) = cli.json("events", "list", "--source", "aws.cloudwatch")
    assert set(alarm) >= CONTRACT
    expected = {
        "source": "aws.cloudwatch",
        "category": "alarm",
        "status": "open",
        "severity": "high",
        "region": "eu-west-1",
        "accounts": [ACCOUNT],
        "updated_at": "2026-03-04T10:15:30.114000Z",
        "version_count": 1,
    }
    assert {k: alarm[k] for k in expected} == expected


def test_events_list_rejects_a_time_it_cannot_read(cli: Cli) -> None:
    cli("ingest", BATCH / "cloudwatch_alarm.json")
    result = cli("events", "list", "--since", "last tuesday")

    assert result.exit_code == 2
    assert "write a duration like 7d / 12h or a date like 2026-01-31" in words(result.stderr)


def test_events_list_as_a_table(cli: Cli) -> None:
    cli("ingest", BATCH)
    result = cli("events", "list", "--source", "aws.guardduty")

    assert result.exit_code == 0
    assert "1 event(s)" in result.stdout
    assert "Unprotected port on EC2 instance" in words(result.stdout)


def test_events_list_in_an_80_column_terminal_keeps_ids_and_titles(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("ingest", BATCH / "guardduty_finding.json")
    (row,) = cli.json("events", "list")
    terminal(monkeypatch, 80)

    result = cli("events", "list")

    assert row["id"] in result.stdout
    assert "Unprotected" in result.stdout


def test_events_show_by_id_prefix_and_key_with_the_version_timeline(cli: Cli) -> None:
    cli("ingest", BATCH / "health_issue_open.json", PIPELINE / "health_issue_resolved.json")
    (row,) = cli.json("events", "list")
    event_id = row["id"]

    full = cli.json("events", "show", event_id)
    assert cli.json("events", "show", event_id[:10]) == full
    assert cli.json("events", "show", event_id.removeprefix("ev-")[:8]) == full
    assert cli.json("events", "show", HEALTH_ISSUE_KEY) == full
    assert set(full) >= CONTRACT
    assert (full["id"], full["status"], full["version_count"]) == (event_id, "closed", 2)
    first, second = full["versions"]
    assert (first["status"], first["changes"], first["current"]) == ("open", [], False)
    assert second["current"] is True
    assert {"field": "status", "old": "open", "new": "closed"} in second["changes"]
    table = cli("events", "show", event_id)
    assert table.exit_code == 0
    assert "2 version(s)" in table.stdout
    assert "status: open→closed" in words(table.stdout)


def test_events_show_an_unknown_id_exits_1_with_a_clear_message(cli: Cli) -> None:
    cli("ingest", BATCH / "cloudwatch_alarm.json")
    result = cli("events", "show", "ev-0000000000000000")

    assert result.exit_code == 1
    assert "error: no event with id or key 'ev-0000000000000000'" in words(result.stderr)
    assert result.stdout == ""


# ----------------------------------------------------------------------------------------------------
# deadletters, config, version


def test_deadletters_list_shows_origin_error_and_body(cli: Cli) -> None:
    cli("ingest", BATCH / "mixed.ndjson")
    letters = cli.json("deadletters", "list")

    assert [d["origin"] for d in letters] == [f"{BATCH / 'mixed.ndjson'}:4", f"{BATCH / 'mixed.ndjson'}:2"]
    unrecognised, broken = letters
    assert unrecognised["error_type"] == "UnrecognisedFormatError"
    assert unrecognised["error"].startswith("not a recognised event format")
    assert orjson.loads(unrecognised["body"]) == {
        "message": "deploy finished",
        "service": "checkout",
        "build": 4711,
    }
    assert broken["error"].startswith("invalid JSON")
    assert broken["body"] == (BATCH / "mixed.ndjson").read_text().splitlines()[1]
    table = cli("deadletters", "list")
    assert "2 dead letter(s)" in table.stdout


def test_config_show_never_prints_a_secret(cli: Cli) -> None:
    env = {
        "OPSWARDEN_API_KEY": "ak-7f3a9c1e5b2d4e8f",
        "OPSWARDEN_HMAC_SECRET": "hs-0a2c4e6f8b1d3f5a",
        "OPSWARDEN_DATABASE_URL": "postgresql://ops:pw-5b7d9f1a3c@db.internal:5432/opswarden",
    }
    result = cli("config", "show", env=env)

    assert result.exit_code == 0, result.output
    for secret in env.values():
        assert secret not in result.output
    assert "pw-5b7d9f1a3c" not in result.output
    shown = orjson.loads(result.stdout)
    assert shown["api_key"] == shown["hmac_secret"] == "**********"
    assert shown["database_url"] == "postgresql://ops:***@db.internal:5432/opswarden"


def test_config_show_reads_a_secret_from_a_file_and_still_masks_it(cli: Cli, tmp_path: Path) -> None:
    secret = tmp_path / "api_key"
    secret.write_text("ak-from-a-file-0123\n")
    result = cli("config", "show", env={"OPSWARDEN_API_KEY_FILE": str(secret)})

    assert result.exit_code == 0, result.output
    assert "ak-from-a-file-0123" not in result.output
    assert orjson.loads(result.stdout)["api_key"] == "**********"


@pytest.mark.parametrize("value", ["0", "many"])
@pytest.mark.parametrize("command", [["ingest", str(BATCH)], ["events", "list"], ["config", "show"]])
def test_an_invalid_batch_size_is_a_configuration_error(cli: Cli, command: list[str], value: str) -> None:
    result = cli(*command, env={"OPSWARDEN_BATCH_SIZE": value})

    assert result.exit_code == 2
    assert "error: invalid settings: OPSWARDEN_BATCH_SIZE:" in words(result.stderr)
    assert "Traceback" not in result.output


FINGERPRINTS_INSTEAD = 'write a JSON list like [{"source": "com.example.*", "fields": ["detail.orderId"]}]'


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            '[{"source": "com.example.*", fields: ["detail.orderId"]}]',
            "not valid JSON (Expecting property name enclosed in double quotes at line 1 column 30)",
        ),
        ('[{"source": "com.example.*"}]', "[0].fields: Field required"),
        ('{"source": "com.example.*", "fields": ["detail.orderId"]}', "Input should be a valid tuple"),
    ],
)
@pytest.mark.parametrize("command", [["ingest", str(BATCH)], ["events", "list"], ["config", "show"]])
def test_bad_fingerprints_are_a_one_line_error_naming_the_variable_and_the_fix(
    cli: Cli, command: list[str], value: str, problem: str
) -> None:
    result = cli(*command, env={"OPSWARDEN_FINGERPRINTS": value})

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: invalid settings: OPSWARDEN_FINGERPRINTS: {problem}: {FINGERPRINTS_INSTEAD}"
    ]
    assert result.stdout == ""


@pytest.mark.parametrize("missing", ["no-such-file", "."])
@pytest.mark.parametrize("command", [["events", "list"], ["config", "show"]])
def test_an_unreadable_secret_file_is_a_one_line_error_naming_its_variable(
    cli: Cli, tmp_path: Path, command: list[str], missing: str
) -> None:
    path = tmp_path / missing
    reason = "Is a directory" if path.is_dir() else "No such file or directory"

    result = cli(*command, env={"OPSWARDEN_API_KEY_FILE": str(path)})

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: invalid settings: OPSWARDEN_API_KEY_FILE: cannot read {path} ({reason}): "
        "write the path of a readable file, or set OPSWARDEN_API_KEY instead"
    ]


@pytest.mark.parametrize("command", [["events", "list"], ["ingest", str(BATCH)]])
def test_an_unreachable_database_is_a_one_line_error_without_its_password(
    tmp_path: Path, command: list[str]
) -> None:
    url = "postgresql://ops:pw-5b7d9f1a3c@127.0.0.1:1/opswarden"  # nothing listens on port 1
    done = subprocess.run(
        [sys.executable, "-m", "opswarden", "--data-dir", str(tmp_path), "--database-url", url, *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(
        "error: database postgresql://ops:***@127.0.0.1:1/opswarden: opening the store failed: connection failed: "
    )
    assert "Connection refused" in line
    assert "pw-5b7d9f1a3c" not in done.stderr + done.stdout
    assert done.stdout == ""


def test_python_dash_m_opswarden_prints_the_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "opswarden", "version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == __version__
