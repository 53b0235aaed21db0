"""What every ticketing backend's test harness gives the contract suite
(tests/integration/test_ticketer_contract.py).

A backend's module ``tests/fakes/tickets_<backend>.py`` exports ``harness(tmp_path)``, a context
manager yielding a :class:`Harness`: the backend's Ticketer pointed at its loopback fake, and how to
read what the fake stored. Backends that talk HTTP also give ``fail_next`` (the next request answers
that status, with Retry-After when given), ``bad_credentials()`` (the same Ticketer with a wrong
secret) and ``secrets`` (strings that must never appear in an error or a log line).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opswarden.tickets.base import Ticketer, TicketRef


@dataclass
class Harness:
    ticketer: Ticketer
    # {"title", "description", "priority" (1-5 as the backend shows it, mapped back), "status"
    #  ("open" | "in_progress" | "closed"), "comments": [text, …]}
    stored: Callable[[TicketRef], dict[str, Any]]
    fail_next: Callable[[int, float | None], None] | None = None
    bad_credentials: Callable[[], Ticketer] | None = None
    secrets: list[str] = field(default_factory=list)
