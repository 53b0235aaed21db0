#!/usr/bin/env bash
# The main job on the embedded default, end to end: ingest the example events into a fresh SQLite
# store under the example policy (examples/policy), see noise suppressed and the rest routed to the
# owning teams as cards (on the console sink: no Slack/Teams/SMTP is configured), an upstream update
# told once in the same thread, an acknowledgement and an approval recorded with who and when, and a
# redelivery that changes nothing — then the lake: verified against the store, queried with SQL,
# and a weekly digest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

export OPSWARDEN_DATA_DIR="${OPSWARDEN_DATA_DIR:-$PWD/.opswarden-demo}"
rm -rf "$OPSWARDEN_DATA_DIR"
mkdir -p "$OPSWARDEN_DATA_DIR"
cp examples/policy/org.yaml examples/policy/policy.yaml "$OPSWARDEN_DATA_DIR/"
sink="$OPSWARDEN_DATA_DIR/notifications.log"
ow() { echo; echo "\$ opswarden $*"; .venv/bin/opswarden "$@"; }
EKS=ev-7106f91ac59928da   # the EKS end-of-support event (111111111111, owner Infra)
RDS=ev-e1a1b956e861fabb   # an RDS hardware issue in sandpit (production, App: needs approval)

echo "# 1. ingest: every event is stored, decided by the policy, and the accepted ones are told"
ow ingest examples/events/01_eks_end_of_support.json examples/events/0[3-8]*
ow events list

echo; echo "# 2. why: the sandbox event is noise (non-production), the EKS event goes to its owner"
ow events show ev-8177e3c77d3eb949 | sed -n '/^decision/,$p'
echo; echo "# the EKS card on the console sink ($sink):"
sed -n "/^card · $EKS/,/^─/p" "$sink" | sed '$d'

echo; echo "# the same card as Slack Block Kit (with Acknowledge / Approve / Reject buttons), rendered, not sent:"
ow notify render examples/events/08_rds_issue_production.json --channel slack | head -40

echo; echo "# 3. AWS updates the EKS event (one more cluster): told once, in the same thread"
ow ingest examples/events/02_eks_end_of_support_update.json
sed -n "/^update · $EKS/,\$p" "$sink"

echo; echo "# 4. answers: Infra acknowledges the EKS event; App's change manager approves the RDS reboot"
ow ack "$EKS" --by alice@example.com --note "upgrade to 1.31 planned for week 50"
ow approve "$RDS" --by carol@example.com --note "CAB-1234: failover reboot tonight"
ow reject "$RDS" --by mallory@example.com || echo "(refused: an approved event cannot be rejected; the refusal is audited)"
ow events show "$EKS" | sed -n '/^decision/,$p'
ow notify outbox --limit 12

echo; echo "# tickets: the policy opened one per owner team in the built-in tracker (Jira, ServiceNow and"
echo "# GitHub Issues work the same way); the AWS update was commented on the EKS ticket"
ow tickets list
TICKET=$(.venv/bin/opswarden tickets list --format json |
  .venv/bin/python -c "import json, sys; print(next(t['key'] for t in json.load(sys.stdin) if t['event_id'] == '$EKS'))")
ow tickets update "$TICKET" --status in_progress --assignee alice@example.com --comment "upgrading to 1.31 in week 50" --by alice@example.com
ow tickets show "$TICKET"
ow events show "$EKS" | grep '^ticket' 

echo; echo "# 5. at-least-once delivery: the same events again change nothing and tell nobody"
ow ingest examples/events
echo; echo "# the policy dry run for any event, with nothing stored or sent:"
ow policy test examples/events/03_ec2_issue_sandbox.json

echo; echo "# 6. the event lake: every version, decision and answer archived as Parquet; SQL over it"
ow lake verify
ow query "SELECT source, count(*) AS versions, count(DISTINCT event_id) AS events FROM event_versions GROUP BY ALL ORDER BY versions DESC"
ow query "SELECT event_id, action, to_state, actor, channel FROM transitions WHERE actor <> 'opswarden' ORDER BY \"at\""
ow report digest --since 7d

echo; echo "# 7. ask: with no model configured, the assistant answers in retrieval mode — the ranked events and"
echo "# runbook passages with their citations (a model, OPSWARDEN_MODEL, would answer in prose)"
if [ -z "${OPSWARDEN_EMBEDDINGS_MODEL_DIR:-}" ] && [ -f ../shared/models/all-MiniLM-L6-v2-int8/model.onnx ]; then
  export OPSWARDEN_EMBEDDINGS_MODEL_DIR="$PWD/../shared/models/all-MiniLM-L6-v2-int8"  # local ONNX embeddings
fi
ow kb add examples/kb
ow ask "which production EKS clusters reach end of support, and who owns them?" --k 4
echo; echo "Data is in $OPSWARDEN_DATA_DIR. Try: .venv/bin/opswarden --help"
