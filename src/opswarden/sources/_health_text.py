"""AWS Health helpers for the text of an event: what its ARN tells, its title, its descriptions.

Shared by :mod:`opswarden.sources.health` (which re-exports them) and
:mod:`opswarden.sources.health_api`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from opswarden.sources.base import is_mapping, opt_str

_ACRONYMS = frozenset(
    {"ACM", "AMI", "API", "AZ", "CVE", "DNS", "DOS", "EBS", "EC2", "ECR", "ECS", "EKS", "ELB", "EMR"}
    | {"IAM", "IP", "KMS", "OS", "RDS", "S3", "SES", "SNS", "SQS", "SSL", "TLS", "VPC", "VPN"}
)
_ESCAPED_NEWLINE = re.compile(r"\\r\\n|\\n|\\r")
_EVENT_ARN = re.compile(r"^arn:[^:]+:health:(?P<region>[^:]*):[^:]*:event/(?P<rest>.+)$")
# AWS_<CODE>_<number>[_<number>…] or AWS_<CODE>[_]<uuid>; code words start with a letter.
_SHORT_CODE = re.compile(
    r"^(?P<code>AWS_(?P<service>[A-Z][A-Z0-9]*)(?:_[A-Z][A-Z0-9]*)*?)"
    r"(?:(?:_\d+)+|_?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
_SHORT_SERVICE = re.compile(r"^(?P<service>[A-Z0-9]+)_[0-9a-fA-F]{8}-[0-9a-fA-F-]+$")


class ArnInfo(NamedTuple):
    region: str | None
    service: str | None
    type_code: str | None


@lru_cache(maxsize=4096)  # each update of an event brings its ARN again
def parse_event_arn(arn: str) -> ArnInfo:
    """Region, service and type code from a Health event ARN, as far as its format tells.

    Formats: ``…:event/<SERVICE>/<CODE>/<CODE>_<id>``, ``…:event/AWS_<CODE>_<number>``,
    ``…:event/AWS_<CODE><uuid>`` and ``…:event/EBS_<uuid>`` (service only). Anything else
    (``event-1486…``, mocks) gives ``None`` parts.
    """
    match = _EVENT_ARN.match(arn)
    if match is None:
        return ArnInfo(None, None, None)
    region = match["region"] or None
    parts = match["rest"].split("/")
    if len(parts) >= 3 and parts[0] and parts[1]:
        return ArnInfo(region, parts[0], parts[1])
    if short := _SHORT_CODE.match(parts[-1]):
        return ArnInfo(region, short["service"], short["code"])
    if short := _SHORT_SERVICE.match(parts[-1]):
        return ArnInfo(region, short["service"], None)
    return ArnInfo(region, None, None)


@lru_cache(maxsize=1024)  # a few hundred event types in all
def title_for(service: str | None, type_code: str) -> str:
    """``AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED`` of EC2 → ``EC2 · Instance retirement scheduled``."""
    words = [w for w in type_code.split("_") if w]
    if words[:1] == ["AWS"]:
        words = words[1:]
    prefix = service.upper().removeprefix("AWS_").split("_") if service else []
    if prefix and words[: len(prefix)] == prefix and len(words) > len(prefix):
        words = words[len(prefix) :]
    phrase = " ".join(w if w in _ACRONYMS else w.lower() for w in words) or type_code
    phrase = phrase[:1].upper() + phrase[1:]
    return f"{service} · {phrase}" if service else phrase


def unescape(text: str) -> str:
    """Real newlines for the literal ``\\n`` that double-escaped Health descriptions carry."""
    if "\\" not in text:  # most descriptions: no backslash, nothing to replace (and no regex scan)
        return text
    return _ESCAPED_NEWLINE.sub("\n", text)


def descriptions_of(value: Any) -> dict[str, str]:
    """Descriptions by locale from the array form, the object form (API, AHA) or a plain string.

    A description without a ``language`` is taken as ``en_US`` (the API returns the English text).
    """
    items: list[Any] = [{"latestDescription": value}] if isinstance(value, str) else []
    if isinstance(value, list):
        items = value
    elif is_mapping(value):
        items = [value]
    found: dict[str, str] = {}
    for item in items:
        text = item.get("latestDescription") if is_mapping(item) else None
        if isinstance(text, str) and text.strip():
            found.setdefault(opt_str(item, "language") or "en_US", unescape(text))
    return found


def preferred_description(descriptions: Mapping[str, str]) -> str:
    """``en_US``, else another English locale, else the first one given."""
    if "en_US" in descriptions:
        return descriptions["en_US"]
    english = [text for locale, text in descriptions.items() if locale.lower().startswith("en")]
    return next(iter(english or descriptions.values()), "")
