"""Amazon EC2 ``EC2 Instance State-change Notification`` events.

One record per instance (``aws.ec2:instance-state:<account>:<instance-id>``); every transition is a
version of it, ordered by the envelope time. A state change is a point-in-time fact, not a problem
that stays open, so the normalised status is always ``closed`` and the EC2 state (pending, running,
stopping, stopped, shutting-down, terminated) is the upstream status. See docs/sources/ec2.md.
"""

from __future__ import annotations

from opswarden.core.event import Category, Event, Resource, Severity, Status
from opswarden.sources.base import (
    Payload,
    Source,
    is_envelope,
    opt_list,
    opt_str,
    require_mapping,
    require_str,
    time_field,
    unique,
)

SOURCE_NAME = "aws.ec2"
STATE_CHANGE = "EC2 Instance State-change Notification"

# Severity by state: everything is informational except an instance that is gone for good.
_SEVERITY = {"terminated": Severity.LOW}


def _matches(payload: Payload) -> bool:
    return is_envelope(payload, SOURCE_NAME, (STATE_CHANGE,))


def _normalise(payload: Payload) -> list[Event]:
    detail = require_mapping(payload, "detail")
    instance = require_str(detail, "instance-id", "detail")
    state = require_str(detail, "state", "detail").strip().lower()
    account = opt_str(payload, "account")
    region = opt_str(payload, "region")
    updated = time_field(payload, "time")
    arn = next(
        (r for r in opt_list(payload, "resources") if isinstance(r, str) and r.endswith(f"/{instance}")),
        None,
    )
    event = Event(
        key=f"{SOURCE_NAME}:instance-state:{account or ''}:{instance}",
        source=SOURCE_NAME,
        type_code=STATE_CHANGE,
        category=Category.STATE_CHANGE,
        service="ec2",
        title=f"EC2 instance {instance} is {state}",
        description=f"EC2 instance {instance} changed state to {state}.",
        severity=_SEVERITY.get(state, Severity.INFORMATIONAL),
        status=Status.CLOSED,
        upstream_status=state,
        region=region,
        accounts=unique([account]),
        resources=(
            Resource(
                id=instance,
                type="AWS::EC2::Instance",
                status=state,
                region=region,
                account=account,
                updated_at=updated,
            ),
        ),
        updated_at=updated,
        details={"instance_id": instance, "state": state} | ({"arn": arn} if arn else {}),
    )
    return [event.canonical()]


SOURCE = Source(name="ec2", matches=_matches, normalise=_normalise)
