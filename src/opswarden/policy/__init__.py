"""Policy as code: the organisation, the routing tree, and the decision for each event (docs/policy.md).

Pure: no SDK and no I/O; files are read by the caller and handed in as text; time is an argument.
"""

from __future__ import annotations

from opswarden.policy.evaluate import Decision, Step, evaluate
from opswarden.policy.load import load_org, load_policy
from opswarden.policy.model import Policy, Route, Silence
from opswarden.policy.org import Account, Org, Team

__all__ = [
    "Account",
    "Decision",
    "Org",
    "Policy",
    "Route",
    "Silence",
    "Step",
    "Team",
    "evaluate",
    "load_org",
    "load_policy",
]
