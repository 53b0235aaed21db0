"""Untrusted text in prompts: fenced, escaped, and cut to a budget.

Everything an event, a document, a ticket or a lake row says was written by someone else (AWS, a
partner, an attacker who can name a resource). It reaches a model only inside
``<untrusted source="…">…</untrusted>``, and the assistant's instructions say that fenced text is
data, never instructions. Inside a fence the ``<`` of anything that looks like our fence or a
``<system>`` tag is escaped, so the text cannot close the fence early or open a voice of its own.
"""

from __future__ import annotations

import re

FENCE = "untrusted"
_TAGS = re.compile(r"<(?=\s*/?\s*(?:untrusted|system)\b)", re.IGNORECASE)
_OPEN = re.compile(r"<untrusted\b")
_CLOSE = f"</{FENCE}>"
CUT = "…"


def neutralize(text: str) -> str:
    """``text`` with every fence-like or ``<system>``-like tag opener escaped as ``&lt;``."""
    return _TAGS.sub("&lt;", text)


def fence(source: str, text: str, limit: int = 2000, *, flat: bool = True) -> str:
    """``text`` (at most ``limit`` characters of it) fenced as untrusted data from ``source``.

    ``flat`` folds whitespace to single spaces, so that a fence is always on one line and cutting a
    tool's output at a line boundary never leaves one open."""
    body = " ".join(text.split()) if flat else text
    if len(body) > limit:
        body = body[: max(limit - 1, 0)] + CUT
    quoted_source = neutralize(source).replace('"', "'")
    return f'<{FENCE} source="{quoted_source}">{neutralize(body)}{_CLOSE}'


def clip(text: str, budget: int) -> str:
    """``text`` cut to about ``budget`` characters at a line boundary, saying how much was cut; a line
    longer than the budget is cut inside, and a fence it opened is closed."""
    if len(text) <= budget:
        return text
    kept: list[str] = []
    used = 0
    for line in text.splitlines():
        if used + len(line) + 1 > budget:
            if not kept:  # the first line alone is over the budget: cut inside it
                kept.append(line[: max(budget - 1, 0)] + CUT)
            break
        kept.append(line)
        used += len(line) + 1
    shown = "\n".join(kept)
    cut = len(text) - len(shown)
    if len(_OPEN.findall(shown)) > shown.count(_CLOSE):  # the cut fell inside a fence: close it
        shown += CUT + _CLOSE
    return shown + f"\n[… {cut} more characters cut: the tool-output budget; narrow the request]"
