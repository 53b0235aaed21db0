"""Knowledge-base benchmark: index 100,000 chunks, then search latency (p50 / p95) and the labelled
set's hit@5 with the examples hidden among them.

    python benchmarks/kb.py                               # 100k chunks, 5,000 embedded for real
    python benchmarks/kb.py --embed-sample 100000         # every chunk embedded (long on 2 cores)
    python benchmarks/kb.py --chunks 20000 --searches 300 # quick

Generates ``--chunks`` synthetic passages, about half runbook-like paragraphs (templates over 24 AWS
services × 12 operational topics, with heading paths, commands, numbers, teams) and half event-like
passages built with the knowledge base's own ``event_chunk`` from ``Event`` objects (Health event
types, Security Hub controls, GuardDuty finding types, CloudWatch alarms, Config rules, across 200
accounts and 8 regions). They are indexed with ``KnowledgeBase.add_many`` (FTS5 and vectors, the real
write path), timed.

Embedding: the local ONNX model (all-MiniLM-L6-v2 int8) does a few hundred passages/s on 2 cores, so
by default only ``--embed-sample`` chunks (a random mix of every family) go through the model; every
other synthetic chunk gets the vector of a random embedded chunk of the same family (service × topic,
or event kind × service) plus Gaussian noise (``--noise``), L2-normalised. The printout says how many
vectors are real, the measured embeddings/s and the projected time to embed all of them. The
examples (examples/kb and examples/events, the labelled set's targets) and every query are always
embedded by the model.

Searches: ``--searches`` queries (the labelled questions plus generated ones, cycled), each timed
with ``time.perf_counter`` after a warm-up: fused (``KnowledgeBase.search``, query embedding
included), BM25 alone (a second connection without an embedder) and dense alone. Then the labelled
set (evals/retrieval/questions.yaml) is run with the examples among the distractors: a synthetic
passage that happens to answer a question counts as a miss, so hit@5 here is a lower bound.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from opswarden.core.event import Category, Event, Resource, Severity, Status
from opswarden.kb.chunk import Chunk, event_chunk
from opswarden.kb.embed import OnnxEmbedder, normalise
from opswarden.kb.model import Document
from opswarden.kb.store import embedding_text

ROOT = Path(__file__).resolve().parents[1]


def _eval() -> ModuleType:
    # evals/ is not a package: load the evaluation script by path (as benchmarks/triage.py does).
    spec = importlib.util.spec_from_file_location("retrieval_eval", ROOT / "evals" / "retrieval" / "run.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


EVAL = _eval()

SERVICES = [
    ("EC2", "instance", "i-0{h}"), ("RDS", "DB instance", "db-{w}-{n}"), ("Aurora", "cluster", "{w}-aurora-{n}"),
    ("EKS", "cluster", "{w}-eks-{n}"), ("ECS", "service", "{w}-svc-{n}"), ("Lambda", "function", "{w}-handler-{n}"),
    ("S3", "bucket", "{w}-data-{n}"), ("DynamoDB", "table", "{w}-table-{n}"), ("ElastiCache", "replication group", "{w}-redis-{n}"),
    ("OpenSearch", "domain", "{w}-search-{n}"), ("MSK", "Kafka cluster", "{w}-kafka-{n}"), ("CloudFront", "distribution", "E{H}"),
    ("Route 53", "hosted zone", "Z{H}"), ("VPC", "VPC", "vpc-0{h}"), ("Transit Gateway", "attachment", "tgw-attach-0{h}"),
    ("KMS", "key", "mrk-{h}"), ("IAM", "role", "{w}-deploy-role"), ("SQS", "queue", "{w}-queue-{n}"),
    ("SNS", "topic", "{w}-alerts-{n}"), ("Redshift", "cluster", "{w}-dwh-{n}"), ("API Gateway", "stage", "{w}-api-prod"),
    ("Elastic Load Balancing", "load balancer", "{w}-alb-{n}"), ("Auto Scaling", "group", "{w}-asg-{n}"),
    ("Secrets Manager", "secret", "{w}/db-credentials"),
]  # fmt: skip
TOPICS = [
    "restart procedure", "scaling", "backup and restore", "failover", "alarms and dashboards", "cost review",
    "access management", "patching", "certificates", "logging", "capacity planning", "decommissioning",
]  # fmt: skip
WORDS = [
    "payments",
    "ledger",
    "orders",
    "search",
    "checkout",
    "billing",
    "identity",
    "catalog",
    "media",
    "reports",
]
TEAMS = ["platform", "data", "payments", "identity", "growth", "core-services", "observability", "security"]
REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "eu-north-1", "ap-southeast-2", "ap-northeast-1"]  # fmt: skip
ACCOUNTS = [f"{210000000000 + i * 7919:012d}" for i in range(200)]
SENTENCES = [
    "Before you {verb} the {kind}, check the {team} team's dashboard for ongoing deployments and announce it in #{team}-ops.",
    "The {svc} {kind} {res} in {region} is owned by the {team} team; page their on-call through the incident tool if it stays degraded for more than {n} minutes.",
    "Run `aws {cli} describe-{thing} --region {region}` and compare the output with the last known good state recorded in the change ticket.",
    "Expect about {n} minutes of reduced capacity while the {kind} is being {verbed}; clients retry with exponential backoff.",
    "If the {metric} metric stays above {pct} % for {n} datapoints, scale the {kind} by one step and watch the p99 latency.",
    "Keep at least {n} days of {thing} history so that the post-incident review can reconstruct the timeline.",
    "For {svc}, {topic} is done in the maintenance window on {day}s between {hour}:00 and {hour2}:00 UTC.",
    "Tag every {kind} with team, environment and cost-centre; untagged resources are reported weekly to FinOps.",
    "The runbook assumes the {team}-admin role; never use the account root user for {topic}.",
    "Record what you changed in the event's note and link the pull request that made it permanent.",
    "When the {kind} is in a shared account, coordinate with the other tenants before you {verb} it.",
    "Use Terraform for the change; a manual console change is reverted by the next plan and creates drift.",
    "The {metric} alarm on {res} uses a {n}-minute period; a short spike alone does not page anyone.",
    "Restores are tested every quarter: the last restore of {res} took {n} minutes for {pct} GB.",
    "After {topic}, confirm the health checks are green in every availability zone before closing the ticket.",
]  # fmt: skip
VERBS = [
    ("restart", "restarted"),
    ("scale", "scaled"),
    ("patch", "patched"),
    ("rotate", "rotated"),
    ("migrate", "migrated"),
]
METRICS = [
    "CPUUtilization",
    "FreeableMemory",
    "5XXError",
    "Latency",
    "ThrottledRequests",
    "QueueDepth",
    "DiskQueueDepth",
]
THINGS = ["snapshots", "metrics", "configuration", "logs", "audit events", "backups"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Saturday"]

HEALTH = [
    ("EC2", "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED", "scheduledChange", "Instance retirement scheduled",
     "EC2 has detected degradation of the underlying hardware hosting instance {res}. The instance will be stopped after the deadline."),
    ("EC2", "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED", "scheduledChange", "Instance reboot maintenance scheduled",
     "Instance {res} is scheduled for a reboot for maintenance between the listed times; it will be unavailable for a few minutes."),
    ("RDS", "AWS_RDS_MAINTENANCE_SCHEDULED", "scheduledChange", "Maintenance scheduled",
     "A required operating system update is scheduled for DB instance {res}. It is applied in the next maintenance window."),
    ("RDS", "AWS_RDS_PLANNED_LIFECYCLE_EVENT", "scheduledChange", "Planned lifecycle event",
     "The engine version of {res} reaches the end of standard support. Upgrade to a newer major version before the deadline."),
    ("EKS", "AWS_EKS_PLANNED_LIFECYCLE_EVENT", "scheduledChange", "Planned lifecycle event",
     "Amazon EKS standard support for the Kubernetes version of cluster {res} ends soon. Upgrade the cluster."),
    ("LAMBDA", "AWS_LAMBDA_PLANNED_LIFECYCLE_EVENT", "scheduledChange", "Planned lifecycle event",
     "Function {res} uses a runtime that is deprecated. Update the function to a supported runtime."),
    ("LAMBDA", "AWS_LAMBDA_OPERATIONAL_ISSUE", "issue", "Operational issue",
     "We are investigating increased invocation error rates for functions in the region."),
    ("ELASTICLOADBALANCING", "AWS_ELASTICLOADBALANCING_OPERATIONAL_ISSUE", "issue", "Operational issue",
     "We are investigating elevated connection errors for load balancers in the region."),
    ("EBS", "AWS_EBS_VOLUME_LOST", "issue", "Volume lost",
     "Volume {res} experienced a failure due to multiple component failures and could not be recovered."),
    ("BILLING", "AWS_BILLING_NOTIFICATION", "accountNotification", "Notification",
     "Your account has reached a billing threshold for the month. Review the usage in Cost Explorer."),
    ("ACM", "AWS_ACM_RENEWAL_STATE_CHANGE", "accountNotification", "Renewal state change",
     "The certificate for {res} could not be renewed automatically. Validate the domain before it expires."),
]  # fmt: skip
CONTROLS = [
    ("S3.1", "S3 general purpose buckets should have block public access settings enabled"),
    ("S3.5", "S3 general purpose buckets should require requests to use SSL"),
    ("EC2.2", "VPC default security groups should not allow inbound or outbound traffic"),
    ("EC2.8", "EC2 instances should use Instance Metadata Service Version 2 (IMDSv2)"),
    ("EC2.19", "Security groups should not allow unrestricted access to ports with high risk"),
    ("IAM.1", "IAM policies should not allow full administrative privileges"),
    ("IAM.3", "IAM users' access keys should be rotated every 90 days or less"),
    ("RDS.3", "RDS DB instances should have encryption at-rest enabled"),
    ("RDS.13", "RDS automatic minor version upgrades should be enabled"),
    ("CloudTrail.1", "CloudTrail should be enabled with at least one multi-Region trail"),
    ("KMS.4", "AWS KMS key rotation should be enabled"),
    ("Lambda.2", "Lambda functions should use supported runtimes"),
    ("ELB.6", "Application load balancers should have deletion protection enabled"),
]
GUARDDUTY = [
    ("Recon:EC2/PortProbeUnprotectedPort", "Unprotected port on EC2 instance {res} is being probed."),
    ("CryptoCurrency:EC2/BitcoinTool.B!DNS", "EC2 instance {res} is querying a domain name associated with Bitcoin."),
    ("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
     "Credentials created for instance {res} are being used from an external IP address."),
    ("Discovery:S3/AnomalousBehavior", "An API used to discover S3 resources was invoked in an unusual way."),
    ("Trojan:EC2/DNSDataExfiltration", "EC2 instance {res} is exfiltrating data through DNS queries."),
    ("Policy:IAMUser/RootCredentialUsage", "The root credentials of the account were used to call an API."),
]  # fmt: skip
CONFIG_RULES = [
    "encrypted-volumes", "restricted-ssh", "s3-bucket-versioning-enabled", "rds-multi-az-support", "cloudtrail-enabled",
    "iam-user-mfa-enabled", "ec2-instance-no-public-ip", "dynamodb-pitr-enabled", "eks-endpoint-no-public-access",
]  # fmt: skip
QUERY_TEMPLATES = [
    "how do I {verb} the {svc} {kind}", "{svc} {topic}", "who owns {res}", "{metric} alarm on {svc}",
    "{code}", "{control} finding in {region}", "{svc} maintenance in {region}", "what happens during {svc} {topic}",
    "{res}", "is {res} affected by anything", "GuardDuty {gd}", "{rule} non compliant",
]  # fmt: skip


# -- synthetic chunks -------------------------------------------------------------------------------


def _fill(rng: random.Random, template: str, **given: str) -> str:
    word = rng.choice(WORDS)
    verb, verbed = rng.choice(VERBS)
    values = {
        "team": rng.choice(TEAMS),
        "region": rng.choice(REGIONS),
        "n": str(rng.randint(2, 90)),
        "pct": str(rng.randint(10, 95)),
        "verb": verb,
        "verbed": verbed,
        "metric": rng.choice(METRICS),
        "thing": rng.choice(THINGS),
        "day": rng.choice(DAYS),
        "hour": str(rng.randint(0, 20)),
        "cli": rng.choice(["ec2", "rds", "eks", "ecs", "lambda", "s3api", "elbv2", "elasticache"]),
        "h": f"{rng.getrandbits(64):016x}",
        "H": f"{rng.getrandbits(48):012X}",
        "w": word,
        **given,
    }
    values["hour2"] = str(int(values["hour"]) + 2)
    return template.format(**values)


def _resource(rng: random.Random, pattern: str) -> str:
    return _fill(rng, pattern, n=str(rng.randint(1, 40)))


def runbook_docs(rng: random.Random, budget: int) -> Iterator[tuple[Document, str]]:
    """Runbook-like documents of 4–10 passages: (document, family)."""
    number = 0
    while budget > 0:
        svc, kind, pattern = rng.choice(SERVICES)
        topic = rng.choice(TOPICS)
        family = f"runbook:{svc}:{topic}"
        doc_id = f"synthetic/runbooks/{svc.lower().replace(' ', '-')}-{topic.replace(' ', '-')}-{number}.md"
        title = f"{svc} {topic}"
        sections = ["Overview", "Before you start", "Procedure", "Verification", "Rollback", "Contacts"]
        chunks = []
        for ordinal in range(min(budget, rng.randint(4, 10))):
            section = sections[ordinal % len(sections)]
            res = _resource(rng, pattern)
            given = {"svc": svc, "kind": kind, "topic": topic, "res": res}
            text = " ".join(_fill(rng, s, **given) for s in rng.sample(SENTENCES, rng.randint(3, 6)))
            heading = f"{title} › {section}" + (f" ({ordinal // len(sections) + 1})" if ordinal >= 6 else "")
            chunks.append(Chunk(doc_id, ordinal, heading, text, doc_id))
        budget -= len(chunks)
        number += 1
        yield Document(doc_id, chunks, source=doc_id), family


def event_docs(rng: random.Random, count: int, t0: datetime) -> Iterator[tuple[Document, str]]:
    """Event-like one-chunk documents from Event objects, through the knowledge base's event_chunk."""
    for n in range(count):
        account, region = rng.choice(ACCOUNTS), rng.choice(REGIONS)
        when = t0 + timedelta(minutes=rng.randint(0, 60 * 24 * 180))
        pick = rng.random()
        if pick < 0.4:
            service, code, category, title, text = rng.choice(HEALTH)
            res = _resource(rng, rng.choice(SERVICES)[2])
            family = f"health:{code}"
            event = Event(
                key=f"synthetic.health:{code}:{n}", source="aws.health", type_code=code,
                category=Category(category), service=service, title=f"{service} · {title}",
                description=text.format(res=res), severity=rng.choice(list(Severity)),
                status=rng.choice([Status.OPEN, Status.UPCOMING, Status.CLOSED]), upstream_status="open",
                region=region, accounts=(account,), resources=(Resource(id=res, status="PENDING"),), updated_at=when,
            )  # fmt: skip
        elif pick < 0.65:
            control, title = rng.choice(CONTROLS)
            res = _resource(rng, rng.choice(SERVICES)[2])
            family = f"control:{control}"
            event = Event(
                key=f"synthetic.securityhub:{control}:{n}", source="aws.securityhub", type_code=control,
                category=Category.COMPLIANCE, service="securityhub", title=title,
                description=f"This control checks whether {title[0].lower() + title[1:]}.",
                severity=rng.choice(list(Severity)), status=Status.OPEN, upstream_status="NEW", region=region,
                accounts=(account,), resources=(Resource(id=res),), updated_at=when,
            )  # fmt: skip
        elif pick < 0.8:
            kind, text = rng.choice(GUARDDUTY)
            res = f"i-0{rng.getrandbits(64):016x}"
            family = f"guardduty:{kind}"
            event = Event(
                key=f"synthetic.guardduty:{n}", source="aws.guardduty", type_code=kind, category=Category.FINDING,
                service="guardduty", title=text.format(res=res), description=text.format(res=res),
                severity=rng.choice([Severity.LOW, Severity.MEDIUM, Severity.HIGH]), status=Status.OPEN,
                upstream_status="ACTIVE", region=region, accounts=(account,), resources=(Resource(id=res),),
                updated_at=when,
            )  # fmt: skip
        elif pick < 0.92:
            svc, _, pattern = rng.choice(SERVICES)
            metric, res = rng.choice(METRICS), _resource(rng, pattern)
            name = f"{res}-{metric.lower()}-high"
            state = rng.choice(["ALARM", "OK"])
            family = f"alarm:{metric}"
            event = Event(
                key=f"synthetic.cloudwatch:{name}:{n}", source="aws.cloudwatch", type_code="CloudWatch Alarm State Change",
                category=Category.ALARM, service="cloudwatch", title=f"CloudWatch alarm {name} is {state}",
                description=f"{metric} of {svc} {res} above threshold.\n\nThreshold Crossed: 3 datapoints were greater "
                f"than the threshold ({rng.randint(1, 100)}.0).",
                severity=Severity.HIGH if state == "ALARM" else Severity.INFORMATIONAL,
                status=Status.OPEN if state == "ALARM" else Status.CLOSED, upstream_status=state, region=region,
                accounts=(account,), resources=(Resource(id=f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"),),
                updated_at=when,
            )  # fmt: skip
        else:
            rule = rng.choice(CONFIG_RULES)
            res = _resource(rng, rng.choice(SERVICES)[2])
            family = f"config:{rule}"
            event = Event(
                key=f"synthetic.config:{rule}:{n}", source="aws.config", type_code=rule, category=Category.COMPLIANCE,
                service="config", title=f"{res} is NON_COMPLIANT with {rule}", description=f"{res} does not satisfy {rule}.",
                severity=Severity.MEDIUM, status=Status.OPEN, upstream_status="NON_COMPLIANT", region=region,
                accounts=(account,), resources=(Resource(id=res, status="NON_COMPLIANT"),), updated_at=when,
            )  # fmt: skip
        chunk = event_chunk(f"synthetic-{n}", event)
        yield Document(chunk.doc_id, [chunk], source=chunk.source, kind="event"), family


def synthetic(total: int, seed: int) -> tuple[list[Document], dict[str, str]]:
    """About half runbook passages, half events, shuffled: (documents, embedding text → family)."""
    rng = random.Random(seed)
    docs = list(runbook_docs(rng, total // 2))
    docs += list(
        event_docs(rng, total - sum(len(d.chunks) for d, _ in docs), datetime(2026, 1, 1, tzinfo=UTC))
    )
    rng.shuffle(docs)
    families = {embedding_text(c): family for doc, family in docs for c in doc.chunks}
    return [d for d, _ in docs], families


def queries(rng: random.Random, count: int, labelled: Sequence[str]) -> list[str]:
    out = list(labelled)
    while len(out) < count:
        svc, kind, pattern = rng.choice(SERVICES)
        template = rng.choice(QUERY_TEMPLATES)
        out.append(
            _fill(
                rng, template, svc=svc, kind=kind, topic=rng.choice(TOPICS), res=_resource(rng, pattern),
                code=rng.choice(HEALTH)[1], control=rng.choice(CONTROLS)[0], gd=rng.choice(GUARDDUTY)[0],
                rule=rng.choice(CONFIG_RULES),
            )
        )  # fmt: skip
    return out[:count]


# -- the embedder: a sample through the model, the rest reused with noise ----------------------------


class SampledEmbedder:
    """The ONNX model for the first ``sample`` synthetic texts, for every text it does not know (the
    examples, the queries); the other synthetic texts get an embedded same-family vector + noise."""

    def __init__(
        self, model: OnnxEmbedder, families: dict[str, str], sample: int, noise: float, seed: int
    ) -> None:
        self.model = model
        self.name = model.name  # the vectors claim to be the model's: queries are compared with them
        self.dim = model.dim
        self.families = families
        self.left = sample
        self.noise = noise
        self.rng = np.random.default_rng(seed)
        self.pool: dict[str, list[npt.NDArray[np.float32]]] = defaultdict(list)
        self.real = 0
        self.real_s = 0.0
        self.reused = 0

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        real: list[int] = []
        fake: list[int] = []
        seeded: set[str] = set()  # families that get their first real vector in this batch
        for i, text in enumerate(texts):
            family = self.families.get(text)
            if family is None:
                real.append(i)
            elif self.left > 0 or not (self.pool[family] or family in seeded):
                real.append(i)
                seeded.add(family)
                self.left -= 1
            else:
                fake.append(i)
        if real:
            started = time.perf_counter()
            out[real] = self.model.embed([texts[i] for i in real])
            self.real_s += time.perf_counter() - started
            self.real += len(real)
            for i in real:
                family = self.families.get(texts[i])
                if family is not None:
                    self.pool[family].append(out[i])
        if fake:
            bases = []
            for i in fake:
                pool = self.pool[self.families[texts[i]]]
                bases.append(pool[int(self.rng.integers(len(pool)))])
            noisy = np.stack(bases) + self.rng.normal(0, self.noise, (len(fake), self.dim)).astype(np.float32)
            out[fake] = normalise(noisy)
            self.reused += len(fake)
        return out


# -- the run ----------------------------------------------------------------------------------------


def percentiles(values: Sequence[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[94]


def timed(fn: Any, items: Sequence[str]) -> list[float]:
    fn(items[0])  # warm-up
    out = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - started) * 1000)
    return out


def searches(b: Any, onnx: OnnxEmbedder, stats: dict[str, Any], questions: Sequence[Any], args: Any) -> None:
    """Time the searches, then run the labelled set among the distractors."""
    started = time.perf_counter()
    b.kb.search("warm up", 5)
    print(f"first search (loads the {stats['vectors']:,} × {onnx.dim} matrix): "
          f"{(time.perf_counter() - started) * 1000:.0f} ms")  # fmt: skip

    texts = queries(random.Random(args.seed + 1), args.searches, [q.text for q in questions])
    fused = timed(lambda q: b.kb.search(q, 5), texts)
    keyword = timed(lambda q: b.keyword.search(q, 5), texts)
    dense = timed(lambda q: b.kb._dense(q, 50), texts)
    embed_only = timed(lambda q: onnx.embed([q]), texts[:200])
    print(f"\n{len(texts):,} searches ({len(questions)} labelled questions + generated ones), k=5, ms:")
    for name, values in (("fused", fused), ("bm25", keyword), ("dense", dense)):
        p50, p95 = percentiles(values)
        print(f"  {name:<6} p50 {p50:7.2f}  p95 {p95:7.2f}  max {max(values):7.2f}")
    p50, p95 = percentiles(embed_only)
    print(f"  (query embedding alone: p50 {p50:.2f}, p95 {p95:.2f})")

    print(
        f"\nlabelled set among {stats['chunks']:,} chunks (a synthetic passage that answers counts as a miss):"
    )
    print(f"{'mode':<7} {'hit@1':>6} {'hit@5':>6} {'MRR':>6}")
    for mode in EVAL.MODES:
        r = EVAL.evaluate(b, questions, mode)
        print(f"{mode:<7} {r.hit(1):>6.3f} {r.hit(5):>6.3f} {r.mrr:>6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument(
        "--embed-sample", type=int, default=5_000, help="synthetic chunks embedded by the model"
    )
    parser.add_argument("--noise", type=float, default=0.03, help="std of the noise on reused vectors")
    parser.add_argument("--searches", type=int, default=1_000)
    parser.add_argument("--model-dir", help="ONNX model folder (default: OPSWARDEN_TEST_MODEL_DIR or shared)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--folder", type=Path, help="keep the knowledge base here (default: a temporary folder)"
    )
    args = parser.parse_args()

    model_dir = EVAL.model_dir(args.model_dir)
    if model_dir is None:
        raise SystemExit(
            "no ONNX model: --model-dir or OPSWARDEN_TEST_MODEL_DIR (the benchmark needs vectors)"
        )
    questions = EVAL.load_questions(EVAL.QUESTIONS)

    started = time.perf_counter()
    docs, families = synthetic(args.chunks, args.seed)
    print(f"generated {sum(len(d.chunks) for d in docs):,} synthetic chunks in {len(docs):,} documents "
          f"({time.perf_counter() - started:.1f} s)")  # fmt: skip

    onnx = OnnxEmbedder(model_dir)
    embedder = SampledEmbedder(onnx, families, min(args.embed_sample, args.chunks), args.noise, args.seed)
    with tempfile.TemporaryDirectory(prefix="opswarden-kb-bench-") as tmp:
        folder = args.folder or Path(tmp)
        with EVAL.bench(model_dir, folder=folder) as b:  # examples/kb + example events, real vectors
            b.kb.embedder = embedder
            check = b.kb.stats()
            started = time.perf_counter()
            summary = b.kb.add_many(docs)
            index_s = time.perf_counter() - started
            stats = b.kb.stats()
            rate = embedder.real / embedder.real_s if embedder.real_s else float("nan")
            print(
                f"indexed {summary.chunks:,} chunks in {index_s:.1f} s ({summary.chunks / index_s:,.0f} chunks/s "
                f"end to end); knowledge base: {stats['chunks']:,} chunks ({check['chunks']} from the examples), "
                f"{stats['bytes'] / 1e6:,.0f} MB"
            )
            synthetic_real = embedder.real
            print(
                f"vectors: {synthetic_real:,} synthetic chunks embedded by the model ({embedder.real_s:.1f} s, "
                f"{rate:,.0f} embeddings/s on this machine), {embedder.reused:,} reused from a same-family "
                f"embedded chunk + N(0, {args.noise}) noise; embedding all {args.chunks:,} would take about "
                f"{args.chunks / rate / 60:.1f} min at that rate"
            )
            write_s = index_s - embedder.real_s
            print(f"writing (SQLite, FTS5, float16 vectors, reused-vector generation): {write_s:.1f} s")

            searches(b, onnx, stats, questions, args)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {rss:,.0f} MB")


if __name__ == "__main__":
    main()
