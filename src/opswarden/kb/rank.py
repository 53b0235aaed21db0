"""Ranking pieces that need no database: the FTS5 query from user text, and reciprocal-rank fusion."""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from typing import TypeVar

RRF_K = 60  # the usual constant: a rank's weight is 1 / (60 + rank)

# Words that match nearly every passage: they cost time in BM25 and add nothing to its order.
_STOPWORDS = """a an and are as at be but by can could do does did for from had has have how i if in into is it
    its me my no not of on or our shall should so than that the their them then there these they this
    to was we were what when where which who why will with would you your"""
STOPWORDS = frozenset(_STOPWORDS.split())
# A word, or an identifier with inner punctuation kept (i-0abc123, col:umn, 10.0.0.1, a/b, don't).
_PIECE = re.compile(r"\w[\w\-.:/@']*", re.UNICODE)
MAX_TERMS = 32

T = TypeVar("T", bound=Hashable)


def fts_query(text: str) -> str | None:
    """User text → a safe FTS5 MATCH expression: each word quoted (so ``"``, ``AND``, ``NEAR``, ``*``,
    ``-``, ``:`` and parentheses are plain text), common words dropped, the rest joined with OR (BM25
    ranks passages with more, and rarer, terms first); an identifier stays one phrase. None when
    nothing searchable is left."""
    terms: list[str] = []
    fallback: list[str] = []
    for piece in _PIECE.findall(text):
        core = piece.rstrip("-.:/@'")
        quoted = '"' + core.replace('"', '""') + '"'
        (fallback if core.lower() in STOPWORDS else terms).append(quoted)
    chosen = list(dict.fromkeys(terms or fallback))[:MAX_TERMS]
    return " OR ".join(chosen) if chosen else None


def rrf(rankings: Sequence[Sequence[T]], k: int = RRF_K) -> list[tuple[T, float]]:
    """Reciprocal-rank fusion: score(d) = Σ 1 / (k + rank of d in each ranking), rank 1 first; best
    first, ties broken by the earliest ranking that has the item (then its position there)."""
    scores: dict[T, float] = {}
    first_seen: dict[T, tuple[int, int]] = {}
    for which, ranking in enumerate(rankings):
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            first_seen.setdefault(item, (which, rank))
    return sorted(scores.items(), key=lambda pair: (-pair[1], first_seen[pair[0]]))
