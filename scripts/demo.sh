#!/usr/bin/env bash
# The main job on the embedded default: ingest the example events into a fresh SQLite store, list
# them, show one event's version history, dry-run the example triage policy over them, and show
# that a redelivery changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

export OPSWARDEN_DATA_DIR="${OPSWARDEN_DATA_DIR:-$PWD/.opswarden-demo}"
rm -rf "$OPSWARDEN_DATA_DIR"
ow() { echo; echo "\$ opswarden $*"; .venv/bin/opswarden "$@"; }

ow ingest examples/events
ow events list
ow events show "aws.health:arn:aws:health:eu-west-1::event/EKS/AWS_EKS_PLANNED_LIFECYCLE_EVENT/AWS_EKS_PLANNED_LIFECYCLE_EVENT_4f2c9d7e1a:111111111111"
ow events list --source aws.securityhub --severity critical
echo; echo "# triage dry run: what the example policy (examples/policy) decides for each event, and why"
ow policy test examples/events --policy examples/policy/policy.yaml --org examples/policy/org.yaml
echo; echo "# at-least-once delivery: the same events again change nothing"
ow ingest examples/events
echo; echo "Data is in $OPSWARDEN_DATA_DIR. Try: .venv/bin/opswarden --help"
