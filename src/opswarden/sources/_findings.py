"""Helpers shared by the security-finding sources (Security Hub ASFF, OCSF, GuardDuty).

Private to ``opswarden.sources``: severity scales, product names from product ARNs, console links,
standard ids, and walking a list of findings with a JSON path for errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from opswarden.core.event import Severity
from opswarden.core.timeparse import format_time
from opswarden.errors import PayloadError
from opswarden.sources.base import Payload, is_mapping, quote, severity_from_score

# Security Hub's documented mapping of Severity.Normalized (0-100) to a label.
NORMALIZED_BANDS: tuple[tuple[float, Severity], ...] = (
    (90, Severity.CRITICAL),
    (70, Severity.HIGH),
    (40, Severity.MEDIUM),
    (1, Severity.LOW),
)

_LABELS = {s.value: s for s in Severity}
_PRODUCT = re.compile(r":product(?:v2)?/([^/]+)/([^/]+)")
_STANDARD = re.compile(r"((?:standards|ruleset)/.+)$")
_ACCOUNT = re.compile(r"^\d{12}$")
# The region of an ARN, tolerating a malformed partition (``arn:aws::securityhub:us-east-1:…``).
_ARN_REGION = re.compile(r"^arn:[^:]*:+[^:]+:([a-z]{2}(?:-[a-z]+)+-\d+):")
_SEPARATORS = re.compile(r"[\s-]+")
_EMPTY: tuple[Any, ...] = (None, "", [], {}, ())


def label_severity(value: Any) -> Severity | None:
    """CRITICAL … INFORMATIONAL in any case; ``None`` for anything else (so callers can fall back)."""
    if not isinstance(value, str):
        return None
    return _LABELS.get(value.strip().lower())


def number(value: Any) -> float | None:
    """A number, or a numeric string, as float; ``None`` otherwise (booleans are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def normalized_severity(value: Any) -> Severity | None:
    """Security Hub's 0-100 ``Severity.Normalized``: 0 informational, 1-39 low … 90-100 critical."""
    score = number(value)
    return None if score is None else severity_from_score(score, NORMALIZED_BANDS)


@lru_cache(maxsize=1024)  # a few products per region: the same arguments come back all the time
def product_service(product_arn: str | None, product_name: str | None = None) -> str | None:
    """``…:product/aws/guardduty`` → ``guardduty``; ``product/<account>/default`` → ``custom``;
    third-party ``product/<company>/<product>`` → ``<product>``. Falls back to the product name."""
    match = _PRODUCT.search(product_arn or "")
    if match:
        company, product = match.groups()
        if _ACCOUNT.match(company) or product == "default":
            return "custom"
        return product.lower()
    if product_name:
        return product_name.strip().lower().replace(" ", "") or None
    return None


def standard_id(value: Any) -> str | None:
    """``arn:aws:securityhub:::standards/pci-dss/v/3.2.1`` → ``standards/pci-dss/v/3.2.1``."""
    if not isinstance(value, str) or not value:
        return None
    match = _STANDARD.search(value)
    return match.group(1) if match else value


@lru_cache(maxsize=1024)  # product ARNs: one per product and region
def arn_region(arn: str | None) -> str | None:
    match = _ARN_REGION.match(arn or "")
    return match.group(1) if match else None


def is_arn(value: str | None) -> bool:
    return bool(value) and str(value).startswith("arn:")


@lru_cache(maxsize=64)
def console_host(region: str) -> str:
    if region.startswith("cn-"):
        return f"{region}.console.amazonaws.cn"
    if region.startswith("us-gov-"):
        return f"{region}.console.amazonaws-us-gov.com"
    return f"{region}.console.aws.amazon.com"


def securityhub_console_url(region: str | None, finding_id: str, *, v2: bool = False) -> str | None:
    """A link that opens the finding in the Security Hub console (the id is double-encoded there)."""
    if not region:
        return None
    # Quoted twice; the first pass leaves only unreserved characters and %XX escapes, so the second
    # one just escapes the "%" signs.
    return _console_search(region, v2) + quote(finding_id, safe="").replace("%", "%25")


@lru_cache(maxsize=64)
def _console_search(region: str, v2: bool) -> str:
    """The console URL of a finding search in ``region``, up to the (encoded) finding id."""
    if v2:
        path = "securityhub/v2/home?region={r}#/findings?search=finding_info.uid"
    else:
        path = "securityhub/home?region={r}#/findings?search=Id"
    prefix = path.format(r=region)
    return f"https://{console_host(region)}/{prefix}%3D%255Coperator%255C%253AEQUALS%255C%253A"


iso = format_time
"""ISO 8601 UTC text of a timestamp (``None`` stays ``None``): what details hold."""


def compact(details: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """Drop empty values (None, "", [], {}) except the keys in ``keep``, which are always present."""
    # ``v or …``: a non-empty value is kept without comparing it to each empty one (the common case).
    return {k: v for k, v in details.items() if v or k in keep or v not in _EMPTY}


@lru_cache(maxsize=1024)  # status words: a handful of values, several per finding
def upper_word(value: str | None) -> str | None:
    """``In Progress`` → ``IN_PROGRESS`` (one vocabulary for status words across formats)."""
    if not value:
        return None
    return _SEPARATORS.sub("_", value.strip()).upper() or None


def finding_items(
    container: Payload, key: str, path: str, *, allow_empty: bool
) -> Iterator[tuple[Payload, str]]:
    """Each finding of ``container[key]`` with its JSON path, e.g. ``detail.findings[1]``."""
    where = f"{path}.{key}" if path else key
    items = container.get(key)
    if not isinstance(items, list):
        raise PayloadError(f"field '{where}' must be an array of findings")
    if not items and not allow_empty:
        raise PayloadError(f"field '{where}' holds no findings")
    for index, item in enumerate(items):
        item_path = f"{where}[{index}]"
        if not is_mapping(item):
            raise PayloadError(f"field '{item_path}' must be an object")
        yield item, item_path


def dig(obj: Any, *keys: str) -> Any:
    """``obj[k1][k2]…`` or ``None`` when any step is missing or not an object."""
    for key in keys:
        if not is_mapping(obj):
            return None
        obj = obj.get(key)
    return obj
