"""The explicit, ordered list of sources. The first whose ``matches`` accepts a payload normalises it.

Order matters only where formats overlap: specific AWS formats first, then CloudEvents, then any other
EventBridge envelope (the catch-all for a company's own events). Adding a source = one module exporting
``SOURCE`` plus one line here (see CONTRIBUTING.md, "Add a source").
"""

from __future__ import annotations

from collections.abc import Sequence

from opswarden.core.event import Event
from opswarden.errors import UnrecognisedFormatError
from opswarden.sources import (
    cloudevents,
    cloudwatch,
    config,
    ec2,
    eventbridge,
    guardduty,
    health,
    health_api,
    ocsf,
    securityhub,
    trustedadvisor,
)
from opswarden.sources.base import Payload, Source, is_mapping
from opswarden.sources.eventbridge import FingerprintRule


def build_registry(fingerprints: Sequence[FingerprintRule] = ()) -> tuple[Source, ...]:
    """All sources in match order; ``fingerprints`` configure identity for custom EventBridge events."""
    return (
        health.SOURCE,
        health_api.SOURCE,
        securityhub.SOURCE,
        ocsf.SOURCE,
        guardduty.SOURCE,
        config.SOURCE,
        cloudwatch.SOURCE,
        ec2.SOURCE,
        trustedadvisor.SOURCE,
        cloudevents.SOURCE,
        eventbridge.make_source(fingerprints),
    )


DEFAULT_REGISTRY = build_registry()


def find_source(payload: Payload, registry: Sequence[Source] = DEFAULT_REGISTRY) -> Source:
    """The source that handles this payload, or :class:`UnrecognisedFormatError`."""
    if not is_mapping(payload):
        raise UnrecognisedFormatError(
            f"not a recognised event format: expected a JSON object, got {type(payload).__name__}"
        )
    for source in registry:
        if source.matches(payload):
            return source
    keys = ", ".join(sorted(str(k) for k in payload)[:8]) or "no keys"
    raise UnrecognisedFormatError(f"not a recognised event format (top-level keys: {keys})")


def normalise(payload: Payload, registry: Sequence[Source] = DEFAULT_REGISTRY) -> list[Event]:
    """Normalise one unwrapped payload into events (a payload may hold several, e.g. N findings)."""
    return find_source(payload, registry).normalise(payload)
