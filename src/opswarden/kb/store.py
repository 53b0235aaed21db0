"""The knowledge base: one SQLite file (WAL) with the documents, their chunks, an FTS5 index over
heading and text (BM25), and a dense vector per chunk (float16 BLOB) searched by brute-force cosine
over one in-memory float32 matrix, rebuilt lazily after writes (docs/kb.md#how-search-ranks).

stdlib sqlite3 cannot load extensions here (no sqlite-vec): 100,000 × 384 floats is 150 MB and a
matrix-vector product of a few milliseconds, which is plenty until OpenSearch is worth its keep.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from opswarden.errors import ConfigurationError
from opswarden.kb.chunk import Chunk, doc_hash
from opswarden.kb.embed import Embedder
from opswarden.kb.model import AddSummary, Document, Hit
from opswarden.kb.rank import RRF_K, fts_query, rrf

CANDIDATES = 50  # from each of BM25 and dense, before fusion
_WRITE_CHUNKS = 256  # chunks embedded and written per transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kb_marks (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (
    doc_id TEXT PRIMARY KEY, source TEXT NOT NULL, kind TEXT NOT NULL, hash TEXT NOT NULL,
    indexed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, ordinal INTEGER NOT NULL, heading TEXT NOT NULL,
    text TEXT NOT NULL, source TEXT NOT NULL, kind TEXT NOT NULL, vector BLOB
);
CREATE INDEX IF NOT EXISTS ix_chunks_doc ON chunks (doc_id, ordinal);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5 (
    heading, text, content='chunks', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, heading, text) VALUES (new.id, new.heading, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, heading, text) VALUES ('delete', old.id, old.heading, old.text);
END;
"""


class KnowledgeBase:
    def __init__(self, path: Path | str, embedder: Embedder | None = None) -> None:
        self.path = Path(path)
        self.embedder = embedder
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            self._db.executescript(_SCHEMA)
        except sqlite3.OperationalError as exc:
            raise ConfigurationError(f"knowledge base {self.path}: {exc} (SQLite without FTS5?)") from None
        self._matrix: npt.NDArray[np.float32] | None = None
        self._ids: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._loaded_version: int | None = None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- metadata ------------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def mark(self, name: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM kb_marks WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def set_mark(self, name: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO kb_marks (name, value) VALUES (?, ?)", (name, value))

    def _check_embedder(self) -> None:
        """Vectors from another model are not comparable: say so instead of ranking nonsense."""
        recorded = self._meta("embedder")
        if self.embedder is None or recorded is None or recorded == self.embedder.name:
            return
        raise ConfigurationError(
            f"the knowledge base {self.path} holds vectors from {recorded}, the configured embedder is "
            f"{self.embedder.name}: run 'opswarden kb reindex' to rebuild them (or set the embedding "
            "settings back)"
        )

    # -- writing -------------------------------------------------------------------------------

    def hashes(self, doc_ids: Iterable[str] | None = None) -> dict[str, str]:
        """doc_id → hash, for the given documents (all when None)."""
        with self._lock:
            if doc_ids is None:
                return dict(self._db.execute("SELECT doc_id, hash FROM docs").fetchall())
            wanted = list(doc_ids)
            out: dict[str, str] = {}
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ",".join("?" * len(part))
                query = f"SELECT doc_id, hash FROM docs WHERE doc_id IN ({marks})"
                out.update(self._db.execute(query, part).fetchall())
            return out

    def add(
        self, doc_id: str, chunks: Sequence[Chunk], *, hash: str | None = None, kind: str = "doc"
    ) -> bool:
        """Index one document; False when its hash is unchanged (nothing written)."""
        summary = self.add_many([Document(doc_id, chunks, hash, kind=kind)])
        return summary.unchanged == 0

    def add_many(self, documents: Iterable[Document]) -> AddSummary:
        """Index documents incrementally: an unchanged hash is skipped, a changed document's chunks are
        replaced. Chunks are embedded and written in batches (one transaction each)."""
        summary = AddSummary()
        with self._lock:
            self._check_embedder()
            pending: list[tuple[Document, str]] = []
            size = 0
            for group in _groups(documents, 500):
                known = self.hashes(d.doc_id for d in group)
                for doc in group:
                    digest = doc.hash or doc_hash(doc.chunks)
                    if known.get(doc.doc_id) == digest:
                        summary.unchanged += 1
                        continue
                    summary.replaced += doc.doc_id in known
                    summary.added += doc.doc_id not in known
                    summary.changed_ids.append(doc.doc_id)
                    pending.append((doc, digest))
                    size += len(doc.chunks)
                    if size >= _WRITE_CHUNKS:
                        summary.chunks += self._write(pending)
                        pending, size = [], 0
            if pending:
                summary.chunks += self._write(pending)
        return summary

    def _write(self, docs: list[tuple[Document, str]]) -> int:
        chunks = [c for doc, _ in docs for c in doc.chunks]
        vectors = self._embed(chunks)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for doc, digest in docs:
                db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc.doc_id,))
                source = doc.source or (doc.chunks[0].source if doc.chunks else doc.doc_id)
                db.execute(
                    "INSERT OR REPLACE INTO docs (doc_id, source, kind, hash, indexed_at) VALUES (?,?,?,?,?)",
                    (doc.doc_id, source, doc.kind, digest, now),
                )
            db.executemany(
                "INSERT INTO chunks (doc_id, ordinal, heading, text, source, kind, vector) "
                "VALUES (?,?,?,?,?,?,?)",
                [
                    (c.doc_id, c.ordinal, c.heading, c.text, c.source, c.kind, _blob(vectors, i))
                    for i, c in enumerate(chunks)
                ],
            )
            if vectors is not None and self.embedder is not None:
                self._set_meta("embedder", self.embedder.name)
                self._set_meta("dim", str(vectors.shape[1]))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._matrix = None
        return len(chunks)

    def _embed(self, chunks: Sequence[Chunk]) -> npt.NDArray[np.float32] | None:
        if self.embedder is None or not chunks:
            return None
        return self.embedder.embed([embedding_text(c) for c in chunks])

    def remove(self, doc_id: str) -> bool:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
            gone = self._db.execute("DELETE FROM docs WHERE doc_id = ?", (doc_id,)).rowcount
            self._db.execute("COMMIT")
            self._matrix = None
        return gone > 0

    def doc_ids(self, *, kind: str | None = None, prefix: str | None = None) -> list[str]:
        query, args = "SELECT doc_id FROM docs WHERE 1=1", list[object]()
        if kind is not None:
            query, args = query + " AND kind = ?", [*args, kind]
        if prefix is not None:
            query, args = query + " AND substr(doc_id, 1, ?) = ?", [*args, len(prefix), prefix]
        with self._lock:
            return [r[0] for r in self._db.execute(query, args)]

    def fill_vectors(self, *, batch: int = _WRITE_CHUNKS) -> int:
        """Embed the chunks indexed while no embedder was configured (keyword-only so far); the count.
        Nothing to do without an embedder, or when every chunk has its vector."""
        if self.embedder is None:
            return 0
        done = 0
        with self._lock:
            self._check_embedder()
            while True:
                rows = self._db.execute(
                    "SELECT id, doc_id, ordinal, heading, text, source, kind FROM chunks WHERE vector IS NULL "
                    "ORDER BY id LIMIT ?",
                    (batch,),
                ).fetchall()
                if not rows:
                    break
                vectors = self.embedder.embed([embedding_text(_chunk(r[1:])) for r in rows])
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "UPDATE chunks SET vector = ? WHERE id = ?",
                    [(_blob(vectors, i), r[0]) for i, r in enumerate(rows)],
                )
                if self._meta("embedder") is None:
                    self._set_meta("embedder", self.embedder.name)
                    self._set_meta("dim", str(self.embedder.dim))
                self._db.execute("COMMIT")
                done += len(rows)
            if done:
                self._matrix = None
        return done

    def reindex(self, *, batch: int = _WRITE_CHUNKS) -> int:
        """Rebuild every chunk's vector with the current embedder (after changing models); the count."""
        if self.embedder is None:
            raise ConfigurationError(
                "no embedder configured (OPSWARDEN_EMBEDDINGS / OPSWARDEN_EMBEDDINGS_MODEL_DIR): nothing "
                "to rebuild the vectors with"
            )
        done, last = 0, 0
        with self._lock:
            while True:
                rows = self._db.execute(
                    "SELECT id, doc_id, ordinal, heading, text, source, kind FROM chunks WHERE id > ? "
                    "ORDER BY id LIMIT ?",
                    (last, batch),
                ).fetchall()
                if not rows:
                    break
                vectors = self.embedder.embed([embedding_text(_chunk(r[1:])) for r in rows])
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "UPDATE chunks SET vector = ? WHERE id = ?",
                    [(_blob(vectors, i), r[0]) for i, r in enumerate(rows)],
                )
                self._db.execute("COMMIT")
                done, last = done + len(rows), rows[-1][0]
            self._db.execute("BEGIN IMMEDIATE")
            self._set_meta("embedder", self.embedder.name)
            self._set_meta("dim", str(self.embedder.dim))
            self._db.execute("COMMIT")
            self._matrix = None
        return done

    # -- searching -----------------------------------------------------------------------------

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """The k best passages: reciprocal-rank fusion of the BM25 top 50 and the dense top 50."""
        with self._lock:
            self._check_embedder()
            keyword = self._bm25(query, CANDIDATES)
            dense = self._dense(query, CANDIDATES)
            fused = rrf([keyword, dense], RRF_K)[:k]
            chunks = self._chunks([chunk_id for chunk_id, _ in fused])
        bm25_rank = {cid: r for r, cid in enumerate(keyword, 1)}
        dense_rank = {cid: r for r, cid in enumerate(dense, 1)}
        return [
            Hit(chunks[cid], score, bm25_rank.get(cid), dense_rank.get(cid))
            for cid, score in fused
            if cid in chunks
        ]

    def _bm25(self, query: str, limit: int) -> list[int]:
        match = fts_query(query)
        if match is None:
            return []
        rows = self._db.execute(
            "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts, 2.0, 1.0) LIMIT ?",
            (match, limit),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def _dense(self, query: str, limit: int) -> list[int]:
        if self.embedder is None or not query.strip():
            return []
        matrix, ids = self._vectors()
        if not len(ids):
            return []
        scores = matrix @ self.embedder.embed([query])[0]
        top = np.argpartition(-scores, min(limit, len(scores) - 1))[:limit]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [int(ids[i]) for i in top]

    def _vectors(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """The in-memory matrix, reloaded after this connection's writes or another process's."""
        version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
        if self._matrix is None or version != self._loaded_version:
            rows = self._db.execute(
                "SELECT id, vector FROM chunks WHERE vector IS NOT NULL ORDER BY id"
            ).fetchall()
            dim = int(self._meta("dim") or 0)
            rows = [r for r in rows if len(r[1]) == 2 * dim]
            self._ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            flat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16)
            self._matrix = (
                flat.reshape(len(rows), dim).astype(np.float32) if dim else np.zeros((0, 0), np.float32)
            )
            self._loaded_version = version
        return self._matrix, self._ids

    def _chunks(self, ids: Sequence[int]) -> dict[int, Chunk]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            f"SELECT id, doc_id, ordinal, heading, text, source, kind FROM chunks WHERE id IN ({marks})",
            list(ids),
        ).fetchall()
        return {int(r[0]): _chunk(r[1:]) for r in rows}

    def stats(self) -> dict[str, Any]:
        with self._lock:
            db = self._db
            docs = dict(db.execute("SELECT kind, count(*) FROM docs GROUP BY kind").fetchall())
            chunks, vectors = db.execute("SELECT count(*), count(vector) FROM chunks").fetchone()
            return {
                "path": str(self.path),
                "documents": docs.get("doc", 0),
                "events": docs.get("event", 0),
                "chunks": chunks,
                "vectors": vectors,
                "vectors_from": self._meta("embedder"),
                "dim": int(self._meta("dim") or 0) or None,
                "embedder": self.embedder.name if self.embedder else None,
                "bytes": sum(
                    p.stat().st_size
                    for p in (self.path, self.path.with_name(self.path.name + "-wal"))
                    if p.exists()
                ),
                "events_mark": self.mark("events"),
            }


def embedding_text(chunk: Chunk) -> str:
    """What is embedded: the heading path gives a passage its context."""
    return f"{chunk.heading}\n{chunk.text}" if chunk.heading else chunk.text


def _blob(vectors: npt.NDArray[np.float32] | None, i: int) -> bytes | None:
    return None if vectors is None else vectors[i].astype(np.float16).tobytes()


def _chunk(row: Sequence[Any]) -> Chunk:
    doc_id, ordinal, heading, text, source, kind = row
    return Chunk(doc_id, int(ordinal), heading, text, source, "event" if kind == "event" else "doc")


def _groups(items: Iterable[Document], size: int) -> Iterator[list[Document]]:
    group: list[Document] = []
    for item in items:
        group.append(item)
        if len(group) >= size:
            yield group
            group = []
    if group:
        yield group
