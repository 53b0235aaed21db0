"""Ingest benchmark: end-to-end events/s through the CLI's code path, against a raw SQLite floor.

    python benchmarks/ingest.py --events 100000          # quick
    python benchmarks/ingest.py --events 1000000         # the issue's figure

Generates N realistic deliveries from our own templates (AWS Health, Security Hub, GuardDuty,
CloudWatch, Config; about 20 % updates of earlier events, 5 % exact redeliveries) as NDJSON, ingests
them into a fresh data directory with ``Application.ingest_paths`` (what ``opswarden ingest`` runs),
and prints events/s and peak RSS. The floor is the same file JSON-parsed and inserted raw into SQLite
with ``executemany`` (same WAL/synchronous settings); the ratio is ours / floor.
"""

from __future__ import annotations

import argparse
import random
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from opswarden.app import Application
from opswarden.settings import Settings

ACCOUNTS = [f"{100000000000 + i * 7919:012d}" for i in range(200)]
REGIONS = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"]
HEALTH_CODES = [
    ("EC2", "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED", "scheduledChange"),
    ("RDS", "AWS_RDS_PLANNED_LIFECYCLE_EVENT", "scheduledChange"),
    ("EKS", "AWS_EKS_PLANNED_LIFECYCLE_EVENT", "scheduledChange"),
    ("LAMBDA", "AWS_LAMBDA_OPERATIONAL_ISSUE", "issue"),
    ("BILLING", "AWS_BILLING_NOTIFICATION", "accountNotification"),
]
CONTROLS = ["S3.8", "EC2.7", "IAM.6", "RDS.1", "CloudTrail.2", "KMS.2"]


def _rfc1123(t: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t))


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def health(n: int, t: float, rng: random.Random, closed: bool) -> dict[str, Any]:
    service, code, category = HEALTH_CODES[n % len(HEALTH_CODES)]
    account, region = ACCOUNTS[n % len(ACCOUNTS)], REGIONS[n % len(REGIONS)]
    entities = [
        {"entityValue": f"arn:aws:{service.lower()}:{region}:{account}:res/r-{n}-{i}", "status": "PENDING"}
        for i in range(rng.randint(1, 4))
    ]
    return {
        "version": "0",
        "id": f"h-{n}-{t}",
        "detail-type": "AWS Health Event",
        "source": "aws.health",
        "account": account,
        "time": _iso(t),
        "region": region,
        "resources": [e["entityValue"] for e in entities],
        "detail": {
            "eventArn": f"arn:aws:health:{region}::event/{service}/{code}/{code}_{n:08d}",
            "service": service,
            "eventTypeCode": code,
            "eventTypeCategory": category,
            "eventScopeCode": "ACCOUNT_SPECIFIC",
            "communicationId": f"c{n:010d}-1",
            "startTime": _rfc1123(t + 86400 * rng.randint(5, 120)),
            "lastUpdatedTime": _rfc1123(t),
            "statusCode": "closed" if closed else "upcoming" if category == "scheduledChange" else "open",
            "eventRegion": region,
            "eventDescription": [
                {
                    "language": "en_US",
                    "latestDescription": f"{code} affects resources in {account}. " * rng.randint(3, 12),
                }
            ],
            "affectedEntities": entities,
            "affectedAccount": account,
        },
    }


def finding(n: int, t: float, rng: random.Random, closed: bool) -> dict[str, Any]:
    account, region = ACCOUNTS[n % len(ACCOUNTS)], REGIONS[n % len(REGIONS)]
    control = CONTROLS[n % len(CONTROLS)]
    fid = f"arn:aws:securityhub:{region}:{account}:subscription/aws-foundational-security-best-practices/v/1.0.0/{control}/finding/{n:012d}"
    asff = {
        "SchemaVersion": "2018-10-08",
        "Id": fid,
        "ProductArn": f"arn:aws:securityhub:{region}::product/aws/securityhub",
        "GeneratorId": f"aws-foundational-security-best-practices/v/1.0.0/{control}",
        "AwsAccountId": account,
        "Region": region,
        "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
        "CreatedAt": _iso(t - 3600),
        "UpdatedAt": _iso(t),
        "Severity": {"Label": rng.choice(["LOW", "MEDIUM", "HIGH", "CRITICAL"])},
        "Title": f"{control} control failed",
        "Description": f"The {control} control failed for a resource in {account}.",
        "Resources": [{"Type": "AwsS3Bucket", "Id": f"arn:aws:s3:::bucket-{n}", "Region": region}],
        "Compliance": {"Status": "PASSED" if closed else "FAILED", "SecurityControlId": control},
        "Workflow": {"Status": "RESOLVED" if closed else "NEW"},
        "RecordState": "ACTIVE",
    }
    return {
        "version": "0",
        "id": f"s-{n}-{t}",
        "detail-type": "Security Hub Findings - Imported",
        "source": "aws.securityhub",
        "account": account,
        "time": _iso(t),
        "region": region,
        "resources": [fid],
        "detail": {"findings": [asff]},
    }


def alarm(n: int, t: float, rng: random.Random, closed: bool) -> dict[str, Any]:
    account, region = ACCOUNTS[n % len(ACCOUNTS)], REGIONS[n % len(REGIONS)]
    arn = f"arn:aws:cloudwatch:{region}:{account}:alarm:alarm-{n}"
    state = "OK" if closed else "ALARM"
    return {
        "version": "0",
        "id": f"a-{n}-{t}",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": account,
        "time": _iso(t),
        "region": region,
        "resources": [arn],
        "detail": {
            "alarmName": f"alarm-{n}",
            "state": {
                "value": state,
                "reason": f"Threshold crossed: {rng.random() * 100:.2f}",
                "timestamp": _iso(t).replace("Z", ".000+0000"),
            },
            "previousState": {"value": "ALARM" if closed else "OK", "timestamp": _iso(t - 600)},
            "configuration": {"description": f"CPU of service {n}", "metrics": []},
        },
    }


def guardduty(n: int, t: float, rng: random.Random, closed: bool) -> dict[str, Any]:
    account, region = ACCOUNTS[n % len(ACCOUNTS)], REGIONS[n % len(REGIONS)]
    return {
        "version": "0",
        "id": f"g-{n}-{t}",
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": account,
        "time": _iso(t),
        "region": region,
        "resources": [],
        "detail": {
            "schemaVersion": "2.0",
            "accountId": account,
            "region": region,
            "partition": "aws",
            "id": f"gd{n:030d}",
            "arn": f"arn:aws:guardduty:{region}:{account}:detector/d1/finding/gd{n:030d}",
            "type": "Recon:EC2/PortProbeUnprotectedPort",
            "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": f"i-{n:017x}"}},
            "service": {"serviceName": "guardduty", "archived": closed, "count": rng.randint(1, 50)},
            "severity": rng.choice([2, 5, 8]),
            "createdAt": _iso(t - 7200),
            "updatedAt": _iso(t),
            "title": "Unprotected port on EC2 instance is being probed.",
            "description": f"EC2 instance i-{n:017x} has an unprotected port which is being probed.",
        },
    }


def config(n: int, t: float, rng: random.Random, closed: bool) -> dict[str, Any]:
    account, region = ACCOUNTS[n % len(ACCOUNTS)], REGIONS[n % len(REGIONS)]
    return {
        "version": "0",
        "id": f"c-{n}-{t}",
        "detail-type": "Config Rules Compliance Change",
        "source": "aws.config",
        "account": account,
        "time": _iso(t),
        "region": region,
        "resources": [],
        "detail": {
            "resourceId": f"bucket-{n}",
            "awsRegion": region,
            "awsAccountId": account,
            "configRuleName": "s3-bucket-versioning-enabled",
            "recordVersion": "1.0",
            "messageType": "ComplianceChangeNotification",
            "resourceType": "AWS::S3::Bucket",
            "newEvaluationResult": {
                "evaluationResultIdentifier": {
                    "evaluationResultQualifier": {
                        "configRuleName": "s3-bucket-versioning-enabled",
                        "resourceType": "AWS::S3::Bucket",
                        "resourceId": f"bucket-{n}",
                    },
                    "orderingTimestamp": _iso(t),
                },
                "complianceType": "COMPLIANT" if closed else "NON_COMPLIANT",
                "resultRecordedTime": _iso(t),
                "configRuleInvokedTime": _iso(t - 1),
            },
            "notificationCreationTime": _iso(t),
        },
    }


TEMPLATES = [health, health, finding, finding, alarm, guardduty, config]


def generate(path: Path, count: int, seed: int = 7) -> dict[str, int]:
    """Write ``count`` deliveries as NDJSON: ~75 % new, ~20 % updates, ~5 % exact redeliveries."""
    rng = random.Random(seed)
    t0 = 1_767_225_600.0  # 2026-01-01
    made: list[tuple[int, float]] = []
    recent: list[bytes] = []
    mix = {"new": 0, "update": 0, "redelivery": 0}
    with path.open("wb") as out:
        for i in range(count):
            roll = rng.random()
            if roll < 0.05 and recent:
                line = rng.choice(recent)
                mix["redelivery"] += 1
            else:
                if roll < 0.25 and made:
                    n, last = made[rng.randrange(len(made))]
                    t = last + rng.randint(60, 86400)
                    closed = rng.random() < 0.5
                    mix["update"] += 1
                else:
                    n, t, closed = len(made), t0 + i * 30, False
                    made.append((n, t))
                    mix["new"] += 1
                payload = TEMPLATES[n % len(TEMPLATES)](n, t, rng, closed)
                line = orjson.dumps(payload) + b"\n"
                recent.append(line)
                if len(recent) > 2000:
                    recent.pop(0)
            out.write(line)
    return mix


def floor(path: Path, db: Path, batch: int = 1000) -> float:
    """Seconds to JSON-parse every line and insert it raw into SQLite with executemany."""
    started = time.perf_counter()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE raw (id TEXT, source TEXT, body TEXT)")
    rows: list[tuple[str, str, str]] = []
    with path.open("rb") as stream:
        for line in stream:
            value = orjson.loads(line)
            rows.append((value.get("id", ""), value.get("source", ""), line.decode()))
            if len(rows) >= batch:
                with conn:
                    conn.executemany("INSERT INTO raw VALUES (?, ?, ?)", rows)
                rows.clear()
    with conn:
        conn.executemany("INSERT INTO raw VALUES (?, ?, ?)", rows)
    conn.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="opswarden-bench-"))
    data = tmp / "events.ndjson"
    mix = generate(data, args.events)
    size_mb = data.stat().st_size / 1e6
    print(f"generated {args.events:,} deliveries ({size_mb:,.0f} MB NDJSON): {mix}")

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    app = Application(Settings(data_dir=tmp / "data", batch_size=args.batch_size))
    started = time.perf_counter()
    summary = app.ingest_paths([str(data)])
    elapsed = time.perf_counter() - started
    stored = app.store.count_events()
    app.close()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ours = args.events / elapsed
    print(
        f"opswarden ingest: {elapsed:,.1f} s, {ours:,.0f} events/s, "
        f"outcomes {dict(summary.outcomes)}, rejected {summary.rejected}, stored events {stored:,}"
    )
    print(f"peak RSS: {rss_peak:,.0f} MB (before ingest: {rss_before:,.0f} MB)")

    floor_s = floor(data, tmp / "floor.db")
    floor_rate = args.events / floor_s
    print(f"floor (orjson + sqlite3 executemany of raw rows): {floor_s:,.1f} s, {floor_rate:,.0f} events/s")
    print(f"ratio opswarden / floor: {ours / floor_rate:.2f}")
    if summary.rejected:
        print(f"WARNING: {summary.rejected} rejected: {summary.rejections[:3]}", file=sys.stderr)
    if not args.keep:
        import shutil

        shutil.rmtree(tmp)
    else:
        print(f"kept {tmp}")


if __name__ == "__main__":
    main()
