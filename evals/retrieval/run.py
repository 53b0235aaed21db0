"""Retrieval evaluation of the knowledge base: hit@1, hit@5 and MRR of a labelled question set, for
keyword search alone (BM25), the dense vectors alone, and both fused (reciprocal-rank fusion, what
``KnowledgeBase.search`` and ``opswarden kb search`` return), with the search latency of each.

    .venv/bin/python evals/retrieval/run.py                       # examples, ONNX model if present
    .venv/bin/python evals/retrieval/run.py --model-dir DIR       # another local ONNX model folder
    .venv/bin/python evals/retrieval/run.py --corpus /work/shared/corpus --misses

The knowledge base is built in a temporary folder: examples/kb (document ids relative to it, e.g.
``runbooks/eks-upgrades.md``) and the example events, ingested into a temporary opswarden store and
indexed with the knowledge base's own event indexing (``opswarden.kb.events.index_events``). With
``--corpus`` (default: ``OPSWARDEN_CORPUS``), the corpus's events are ingested and indexed too and
corpus_questions.yaml is run on top; the corpus is read where it lies, never copied.

A question is a hit at rank r when the r-th passage comes from a document or event in its
``expected`` list. hit@k: the share of questions with a hit in the first k passages; MRR: the mean of
1/r of the first hit within the first 10 passages (0 when none). See evals/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from opswarden.app import Application
from opswarden.core.event import event_id
from opswarden.ingest.reader import read_file
from opswarden.kb.embed import OnnxEmbedder
from opswarden.kb.events import index_events
from opswarden.kb.load import add_paths
from opswarden.kb.store import KnowledgeBase
from opswarden.policy import load_org
from opswarden.settings import Settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLES_KB = ROOT / "examples" / "kb"
EXAMPLES_EVENTS = ROOT / "examples" / "events"
QUESTIONS = HERE / "questions.yaml"
CORPUS_QUESTIONS = HERE / "corpus_questions.yaml"
SHARED_MODEL = Path("/work/shared/models/all-MiniLM-L6-v2-int8")
MODES = ("bm25", "dense", "fused")
DEPTH = 10  # passages asked for; MRR counts a first hit within them


# -- questions --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    kind: str
    expected: frozenset[str]  # doc ids and "event:<id>"


def load_questions(path: Path) -> list[Question]:
    """The labelled set; ``key:<event key>`` becomes ``event:<event_id(key)>``."""
    data = yaml.safe_load(path.read_text())
    out = []
    for entry in data["questions"]:
        expected = frozenset(_target(str(e)) for e in entry["expected"])
        out.append(Question(str(entry["q"]), str(entry.get("kind", "")), expected))
    return out


def _target(label: str) -> str:
    return f"event:{event_id(label.removeprefix('key:'))}" if label.startswith("key:") else label


def model_dir(given: str | Path | None = None) -> Path | None:
    """The ONNX model folder: the argument, else OPSWARDEN_TEST_MODEL_DIR, else the shared copy; None
    when it holds no model.onnx + tokenizer.json."""
    path = Path(given or os.environ.get("OPSWARDEN_TEST_MODEL_DIR") or SHARED_MODEL)
    return path if (path / "model.onnx").is_file() and (path / "tokenizer.json").is_file() else None


# -- the knowledge base under test ----------------------------------------------------------------


@dataclass(slots=True)
class Bench:
    """The knowledge base (fused search) and a second connection to it without an embedder (BM25)."""

    kb: KnowledgeBase
    keyword: KnowledgeBase
    app: Application
    folder: Path
    build_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def dense_available(self) -> bool:
        return self.kb.embedder is not None

    def ranked(self, mode: str, query: str, depth: int = DEPTH) -> list[str]:
        """The doc ids of the first ``depth`` passages, best first."""
        if mode == "fused":
            return [h.chunk.doc_id for h in self.kb.search(query, depth)]
        if mode == "bm25":
            return [h.chunk.doc_id for h in self.keyword.search(query, depth)]
        # Dense alone has no public entry point: the store's own nearest-neighbour step, the one
        # search() fuses, then its chunk lookup (private names: re-check after kb/store.py changes).
        ids = self.kb._dense(query, depth)
        chunks = self.kb._chunks(ids)
        return [chunks[i].doc_id for i in ids if i in chunks]

    def add_corpus(self, corpus: Path) -> dict[str, int]:
        """Ingest the corpus's payload files (manifest.json's list when present) and index them."""
        started = time.perf_counter()
        counts: Counter[str] = Counter()
        for path in corpus_files(corpus):
            summary = self.app.ingest_items(read_file(path))
            counts["files"] += 1
            counts["accepted"] += summary.accepted
            counts["rejected"] += summary.rejected
        counts["indexed"] = _index_all_events(self.kb, self.app)
        self.build_s += time.perf_counter() - started
        return dict(counts)


def corpus_files(corpus: Path) -> list[Path]:
    manifest = corpus / "manifest.json"
    if manifest.is_file():
        entries = json.loads(manifest.read_text())
        return [corpus / e["file"] for e in entries if e.get("counted_as_payload", True)]
    return sorted(p for p in corpus.rglob("*.json") if "_schema" not in p.parts and p.name != "manifest.json")


def _index_all_events(kb: KnowledgeBase, app: Application) -> int:
    """As processing does: with the org's account names beside the ids (examples/policy/org.yaml)."""
    org = load_org(EXAMPLE_ORG.read_text(), str(EXAMPLE_ORG))
    names = {account.id: account.name for account in org.accounts if account.name}
    total = 0
    while True:  # index_events takes at most its limit per run, the rest on the next
        summary = index_events(kb, app.store.engine, names=names)
        total += summary.indexed
        if not summary.pending:
            return total


EXAMPLE_ORG = Path(__file__).resolve().parents[2] / "examples" / "policy" / "org.yaml"


@contextmanager
def bench(model: Path | None, *, folder: Path | None = None) -> Iterator[Bench]:
    """A knowledge base of examples/kb and the example events, in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="opswarden-eval-") as tmp:
        where = folder or Path(tmp)
        started = time.perf_counter()
        app = Application(Settings(data_dir=where / "data", embeddings="none"))
        embedder = OnnxEmbedder(model) if model else None
        kb = KnowledgeBase(where / "kb.db", embedder)
        keyword = KnowledgeBase(where / "kb.db", None)
        try:
            report = add_paths(kb, [EXAMPLES_KB], root=EXAMPLES_KB)
            if report.skipped:
                raise RuntimeError(f"examples/kb: files skipped: {report.skipped}")
            app.ingest_paths([str(EXAMPLES_EVENTS)])
            _index_all_events(kb, app)
            b = Bench(kb, keyword, app, where, time.perf_counter() - started)
            if embedder is None:
                b.notes.append("no ONNX model (--model-dir / OPSWARDEN_TEST_MODEL_DIR): BM25 only")
            yield b
        finally:
            keyword.close()
            kb.close()
            app.close()


def check_labels(b: Bench, questions: Sequence[Question]) -> None:
    """Every label must name something indexed: a typo or a changed id scheme fails loudly."""
    known = set(b.kb.doc_ids())
    missing = sorted({e for q in questions for e in q.expected} - known)
    if missing:
        raise SystemExit(f"labels name nothing indexed: {missing}")


# -- metrics ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Result:
    mode: str
    ranks: list[int | None]  # rank of the first hit per question (None: not within DEPTH)
    latencies_ms: list[float]
    questions: list[Question]
    answers: list[list[str]]

    def hit(self, k: int) -> float:
        return sum(1 for r in self.ranks if r is not None and r <= k) / len(self.ranks)

    @property
    def mrr(self) -> float:
        return sum(1 / r for r in self.ranks if r is not None) / len(self.ranks)

    def latency(self, pct: int) -> float:
        return percentile(self.latencies_ms, pct)

    def misses(self, k: int = 5) -> list[tuple[Question, int | None, list[str]]]:
        return [
            (q, r, a)
            for q, r, a in zip(self.questions, self.ranks, self.answers, strict=True)
            if r is None or r > k
        ]

    def by_kind(self, k: int = 5) -> dict[str, tuple[int, int]]:
        out: dict[str, list[int]] = {}
        for q, r in zip(self.questions, self.ranks, strict=True):
            counts = out.setdefault(q.kind, [0, 0])
            counts[0] += r is not None and r <= k
            counts[1] += 1
        return {kind: (c[0], c[1]) for kind, c in sorted(out.items())}

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "questions": len(self.ranks),
            "hit@1": round(self.hit(1), 4),
            "hit@5": round(self.hit(5), 4),
            "mrr": round(self.mrr, 4),
            "p50_ms": round(self.latency(50), 2),
            "p95_ms": round(self.latency(95), 2),
        }


def percentile(values: Sequence[float], pct: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def evaluate(b: Bench, questions: Sequence[Question], mode: str, *, repeat: int = 1) -> Result:
    """Run every question (``repeat`` times, for steadier latencies; ranks from the first run)."""
    ask: Callable[[str], list[str]] = lambda text: b.ranked(mode, text)  # noqa: E731
    ask(questions[0].text)  # warm-up: the ONNX session and the vector matrix load on first use
    ranks: list[int | None] = []
    answers: list[list[str]] = []
    latencies: list[float] = []
    for n in range(repeat):
        for q in questions:
            started = time.perf_counter()
            got = ask(q.text)
            latencies.append((time.perf_counter() - started) * 1000)
            if n == 0:
                answers.append(got)
                ranks.append(next((i for i, doc in enumerate(got, 1) if doc in q.expected), None))
    return Result(mode, ranks, latencies, list(questions), answers)


# -- the command ------------------------------------------------------------------------------------


def modes_for(b: Bench) -> list[str]:
    return list(MODES) if b.dense_available else ["bm25"]


def report(title: str, results: Sequence[Result], *, show_misses: bool, out: Any = sys.stdout) -> None:
    n = len(results[0].ranks)
    print(f"\n{title} ({n} questions)", file=out)
    print(f"{'mode':<7} {'hit@1':>6} {'hit@5':>6} {'MRR':>6} {'p50 ms':>8} {'p95 ms':>8}", file=out)
    for r in results:
        print(
            f"{r.mode:<7} {r.hit(1):>6.3f} {r.hit(5):>6.3f} {r.mrr:>6.3f} "
            f"{r.latency(50):>8.2f} {r.latency(95):>8.2f}",
            file=out,
        )
    kinds = sorted(results[0].by_kind())
    print("hit@5 by kind: " + "; ".join(
        f"{kind} " + " ".join(f"{r.mode} {r.by_kind()[kind][0]}/{r.by_kind()[kind][1]}" for r in results)
        for kind in kinds
    ), file=out)  # fmt: skip
    if show_misses:
        for r in results:
            misses = r.misses()
            print(f"  {r.mode}: {len(misses)} miss(es) at 5", file=out)
            for q, rank, got in misses:
                where = f"first hit at {rank}" if rank else "no hit in 10"
                print(f"    - [{q.kind}] {q.text!r} ({where}); top 3: {got[:3]}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", help="ONNX model folder (default: OPSWARDEN_TEST_MODEL_DIR or shared)")
    parser.add_argument(
        "--corpus",
        default=os.environ.get("OPSWARDEN_CORPUS"),
        help="corpus folder (default: OPSWARDEN_CORPUS)",
    )
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--corpus-questions", type=Path, default=CORPUS_QUESTIONS)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the set for the latency figures")
    parser.add_argument("--misses", action="store_true", help="list the questions without a hit at 5")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)

    model = model_dir(args.model_dir)
    questions = load_questions(args.questions)
    figures: dict[str, Any] = {"model": str(model) if model else None}
    out = sys.stderr if args.json else sys.stdout
    with bench(model) as b:
        check_labels(b, questions)
        stats = b.kb.stats()
        print(
            f"knowledge base: {stats['documents']} documents, {stats['events']} events, {stats['chunks']} "
            f"chunks, built in {b.build_s:.1f} s; embedder: {stats['embedder'] or 'none'}",
            file=out,
        )
        for note in b.notes:
            print(f"note: {note}", file=out)
        results = [evaluate(b, questions, mode, repeat=args.repeat) for mode in modes_for(b)]
        report("examples (examples/kb + examples/events)", results, show_misses=args.misses, out=out)
        figures["examples"] = [r.to_dict() for r in results]
        if args.corpus:
            counts = b.add_corpus(Path(args.corpus))
            corpus_questions = load_questions(args.corpus_questions)
            check_labels(b, corpus_questions)
            print(
                f"\ncorpus {args.corpus}: {counts['files']} files, {counts['accepted']} versions accepted, "
                f"{counts['rejected']} rejected, {counts['indexed']} events indexed",
                file=out,
            )
            results = [evaluate(b, corpus_questions, mode, repeat=args.repeat) for mode in modes_for(b)]
            report("corpus questions (examples + corpus indexed)", results, show_misses=args.misses, out=out)
            figures["corpus"] = [r.to_dict() for r in results]
            results = [evaluate(b, questions, mode, repeat=1) for mode in modes_for(b)]
            report(
                "examples questions again, corpus events indexed as distractors (a corpus event that also "
                "answers counts as a miss: a lower bound)",
                results,
                show_misses=args.misses,
                out=out,
            )
            figures["examples_with_corpus"] = [r.to_dict() for r in results]
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
