"""What the mixed delivery under tests/fixtures/pipeline/batch holds: 10 payloads, 7 events, 4 bad ones."""

from __future__ import annotations

from pathlib import Path

PIPELINE = Path(__file__).parent.parent / "fixtures" / "pipeline"
BATCH = PIPELINE / "batch"  # a mixed delivery: 10 payloads, 7 good events, 4 bad ones
ACCOUNT = "123456789012"
HEALTH_ISSUE_ARN = (
    "arn:aws:health:eu-west-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/"
    "AWS_EC2_OPERATIONAL_ISSUE_7f3a9c1e-5b2d-4e8f-a6c0-9d1b3e5f7a2c"
)
HEALTH_ISSUE_KEY = f"aws.health:{HEALTH_ISSUE_ARN}:{ACCOUNT}"
S3_PUBLIC_KEY = (
    "aws.health:arn:aws:health:us-east-1::event/S3/AWS_S3_OPERATIONAL_ISSUE/"
    "AWS_S3_OPERATIONAL_ISSUE_4d6f8a0c-2e4a-4c6e-8a0c-2e4a6c8e0a1b"
)
ALARM_KEY = f"aws.cloudwatch:arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:checkout-api-5xx"
FINDING_KEY = "aws.guardduty:a4c7e1f3b5d7092b4d6f8a1c3e5b7d90"
STOPPED_KEY = f"aws.ec2:instance-state:{ACCOUNT}:i-0d5f7a9c1e3b5d7f9"
TERMINATED_KEY = f"aws.ec2:instance-state:{ACCOUNT}:i-0e6a8c0e2a4c6e8a0"
PAYMENT_KEY = "com.example.payments:6e8a0c2e-4a6c-4e8a-b0c2-e4a6c8e0b2d4"

# Where each good event of the batch was found (file, file:line, file[index], file Records[i].body).
BATCH_ORIGINS = {
    ALARM_KEY: f"{BATCH / 'cloudwatch_alarm.json'}",
    FINDING_KEY: f"{BATCH / 'guardduty_finding.json'}",
    HEALTH_ISSUE_KEY: f"{BATCH / 'health_issue_open.json'}",
    STOPPED_KEY: f"{BATCH / 'mixed.ndjson'}:1",
    PAYMENT_KEY: f"{BATCH / 'sqs_batch.json'} Records[0].body",
    S3_PUBLIC_KEY: f"{BATCH / 'array.json'}[0]",
    TERMINATED_KEY: f"{BATCH / 'array.json'}[1]",
}
# Each bad payload of the batch: origin → (error type, start of the reason).
BATCH_REJECTIONS = {
    f"{BATCH / 'mixed.ndjson'}:2": ("PayloadError", "invalid JSON: "),
    f"{BATCH / 'mixed.ndjson'}:4": (
        "UnrecognisedFormatError",
        "not a recognised event format (top-level keys: build, message, service)",
    ),
    f"{BATCH / 'array.json'}[2]": ("PayloadError", "missing required field 'detail.id'"),
    f"{BATCH / 'sqs_batch.json'} Records[1].body": ("PayloadError", "message is not JSON: "),
}
