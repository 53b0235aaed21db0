"""``opswarden backfill health``: AWS Health history through boto3 into the store (docs/backfill.md).

Pages through DescribeEvents (``--org``: DescribeEventsForOrganization) filtered by last update time,
then fetches each page's DescribeEventDetails and DescribeAffectedEntities (``--org``: the
``…ForOrganization`` variants, one filter per affected account from
DescribeAffectedAccountsForOrganization). Every event becomes one :class:`RawItem` holding the three
calls' items for its ARN, ``{"events": […], "successfulSet": […], "entities": […]}``, which the
``health_api`` source joins with :func:`opswarden.sources.health_api.combine` on the normal ingest path.

Each page is ingested before the next is fetched, and the checkpoint (``backfill-health.json`` in the
data dir: the filter, the next page's token and the ARNs stored) is saved after every page, so an
interrupted run resumes where it stopped. Throttling is left to botocore's standard retry mode.
Needs the ``aws`` extra (boto3).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from opswarden.errors import ConfigurationError, OpswardenError
from opswarden.ingest.pipeline import IngestSummary, Rejection
from opswarden.ingest.reader import RawItem

INSTALL_HINT = (
    "backfilling from the AWS Health API needs boto3: install it with: pip install 'opswarden[aws]'"
)
DEFAULT_REGION = "us-east-1"
CHECKPOINT_FILE = "backfill-health.json"
RETRIES = {"mode": "standard", "max_attempts": 10}
BATCH = 10  # the most ARNs / filters DescribeEventDetails and DescribeAffectedEntities take at once
ENTITY_PAGE = 100
PERMISSIONS = {
    False: "health:DescribeEvents, health:DescribeEventDetails and health:DescribeAffectedEntities",
    True: (
        "health:DescribeEventsForOrganization, health:DescribeEventDetailsForOrganization, "
        "health:DescribeAffectedAccountsForOrganization and health:DescribeAffectedEntitiesForOrganization "
        "in the management account or a delegated administrator"
    ),
}
_ACCESS = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)

ClientFactory = Callable[[str], Any]
"""A service name (``health``, ``sts``) → a boto3 client (tests pass stubbed ones)."""


def client_factory(profile: str | None = None, region: str = DEFAULT_REGION) -> ClientFactory:
    """boto3 clients for ``region`` (credentials as boto3 finds them, or ``profile``), with
    botocore's standard retry mode and 10 attempts: ThrottlingException is retried with backoff."""
    try:
        import boto3
        import botocore.config
        import botocore.exceptions
    except ModuleNotFoundError:
        raise ConfigurationError(INSTALL_HINT) from None
    try:
        session = boto3.session.Session(profile_name=profile)
    except botocore.exceptions.BotoCoreError as exc:
        raise ConfigurationError(f"AWS Health: {exc}") from None
    config = botocore.config.Config(retries=RETRIES)  # type: ignore[arg-type]

    def make(service: str) -> Any:
        return session.client(service, region_name=region, config=config)  # type: ignore[call-overload]

    return make


# -- the checkpoint ---------------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """Where a backfill stands: its filter, the next page's token and what has been stored."""

    org: bool
    region: str
    since: datetime
    page_size: int
    account: str | None = None
    next_token: str | None = None
    pages: int = 0
    events: int = 0
    done: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        data = {**self.__dict__, "since": self.since.isoformat(), "version": 1}
        return orjson.dumps(data, option=orjson.OPT_INDENT_2)

    @classmethod
    def load(cls, path: Path) -> Checkpoint | None:
        """The saved checkpoint, or ``None`` when there is none (ConfigurationError if unreadable)."""
        try:
            data = orjson.loads(path.read_bytes())
            return cls(
                org=bool(data["org"]),
                region=str(data["region"]),
                since=datetime.fromisoformat(data["since"]),
                page_size=int(data["page_size"]),
                account=data.get("account"),
                next_token=data.get("next_token"),
                pages=int(data.get("pages", 0)),
                events=int(data.get("events", 0)),
                done=[str(arn) for arn in data.get("done", ())],
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(
                f"cannot read the backfill checkpoint {path} ({exc}): fix or delete it, or pass --restart"
            ) from None

    def save(self, path: Path) -> None:
        """Replace the file in one step (a temporary file beside it, then a rename)."""
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.to_json())
        Path(tmp).replace(path)


def open_checkpoint(
    path: Path, *, org: bool, region: str, since: datetime, page_size: int, restart: bool = False
) -> tuple[Checkpoint, bool]:
    """The saved checkpoint to resume (with True), or a fresh one (``restart`` ignores the saved one).

    A resumed run keeps the saved ``since`` and page size: the saved page token belongs to that filter.
    """
    saved = None if restart else Checkpoint.load(path)
    if saved is None:
        return Checkpoint(org=org, region=region, since=since, page_size=page_size), False
    if (saved.org, saved.region) != (org, region):
        scope = "--org" if saved.org else "the account"
        raise ConfigurationError(
            f"{path} holds an unfinished backfill of {scope} in {saved.region}: run it again with the same "
            "--org/--region to resume it, or pass --restart to start this one instead"
        )
    return saved, True


# -- the run ----------------------------------------------------------------------------------------


@dataclass
class BackfillResult:
    """What one run did (a resumed run counts only its own pages)."""

    pages: int = 0
    events: int = 0
    payloads: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    failed_details: list[str] = field(default_factory=list)
    resumed_from_page: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, summary: IngestSummary) -> None:
        self.payloads += summary.payloads
        self.outcomes.update(summary.outcomes)
        self.rejected += summary.rejected
        self.rejections.extend(summary.rejections)

    def to_dict(self) -> dict[str, object]:
        counts = {k: self.outcomes[k] for k in ("new", "updated", "unchanged", "history")}
        return {
            "pages": self.pages,
            "events_fetched": self.events,
            "resumed_from_page": self.resumed_from_page,
            "payloads": self.payloads,
            "accepted": sum(self.outcomes.values()),
            **counts,
            "rejected": self.rejected,
            "rejections": [{"origin": r.origin, "reason": r.reason} for r in self.rejections],
            "failed_details": self.failed_details,
            "notes": self.notes,
        }


Ingest = Callable[[list[RawItem]], IngestSummary]
OnPage = Callable[[int, int], None]  # (pages done, events fetched) in this run


class HealthBackfill:
    """Pages of Health events → raw items → ``ingest``, one page at a time, checkpointed."""

    def __init__(
        self, clients: ClientFactory, checkpoint: Checkpoint, path: Path, on_page: OnPage | None = None
    ) -> None:
        self.health = clients("health")
        self.clients = clients
        self.checkpoint = checkpoint
        self.path = path
        self.on_page = on_page

    @property
    def org(self) -> bool:
        return self.checkpoint.org

    def run(self, ingest: Ingest) -> BackfillResult:
        """Fetch and ingest every remaining page; the checkpoint is removed when the last is stored.

        ClientError/BotoCoreError become ConfigurationError (credentials, permissions, support plan:
        retrying cannot help) or OpswardenError (anything else: run again to resume).
        """
        import botocore.exceptions

        try:
            return self._run(ingest)
        except botocore.exceptions.ClientError as exc:
            raise self._client_error(exc) from None
        except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError) as exc:
            raise ConfigurationError(
                f"AWS Health: {exc} (the credentials need {PERMISSIONS[self.org]})"
            ) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise OpswardenError(f"AWS Health: {exc}{self._resume_hint()}") from None

    def _run(self, ingest: Ingest) -> BackfillResult:
        cp, result = self.checkpoint, BackfillResult(resumed_from_page=self.checkpoint.pages)
        if not self.org and cp.account is None and cp.pages == 0:
            cp.account = self.clients("sts").get_caller_identity().get("Account")
        done = set(cp.done)
        token = cp.next_token
        while True:
            response = self._describe_events(token, result)
            events = [e for e in response.get("events") or () if e.get("arn") not in done]
            items = self._items(events, cp.pages + 1, result)
            if items:
                result.add(ingest(items))
            arns = [e["arn"] for e in events]
            done.update(arns)
            token = response.get("nextToken")
            cp.done.extend(arns)
            cp.next_token, cp.pages, cp.events = token, cp.pages + 1, cp.events + len(events)
            result.pages, result.events = result.pages + 1, result.events + len(events)
            if token:
                cp.save(self.path)
            else:
                self.path.unlink(missing_ok=True)
            if self.on_page:
                self.on_page(result.pages, result.events)
            if not token:
                return result

    def _describe_events(self, token: str | None, result: BackfillResult) -> Mapping[str, Any]:
        import botocore.exceptions

        cp = self.checkpoint
        flt: dict[str, Any]
        if self.org:
            call, flt = self.health.describe_events_for_organization, {"lastUpdatedTime": {"from": cp.since}}
        else:
            call, flt = self.health.describe_events, {"lastUpdatedTimes": [{"from": cp.since}]}
        args: dict[str, Any] = {"filter": flt, "maxResults": cp.page_size}
        try:
            return call(**args, **({"nextToken": token} if token else {}))  # type: ignore[no-any-return]
        except botocore.exceptions.ClientError as exc:
            if token is None or _code(exc) != "InvalidPaginationToken":
                raise
        result.notes.append(
            "the saved page token has expired: listing again from the first page, skipping the "
            f"{len(cp.done)} events already stored"
        )
        return call(**args)  # type: ignore[no-any-return]

    # -- one page -----------------------------------------------------------------------------------

    def _items(self, events: Sequence[Mapping[str, Any]], page: int, result: BackfillResult) -> list[RawItem]:
        if not events:
            return []
        if self.org:
            filters = self._org_filters(events)
            details = self._org_details(filters, result)
            entities = self._org_entities([f for f in filters if "awsAccountId" in f])
        else:
            arns = [e["arn"] for e in events]
            details = self._details(arns, result)
            entities = self._entities(arns)
        operation = "DescribeEventsForOrganization" if self.org else "DescribeEvents"
        return [
            _raw_item(f"aws-health {operation} page {page} {event['arn']}", event, details, entities)
            for event in events
        ]

    def _details(self, arns: list[str], result: BackfillResult) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        account = self.checkpoint.account
        for batch in _batches(arns):
            response = self.health.describe_event_details(eventArns=batch)
            # The non-organisation API describes the caller's own account only; saying so, as the
            # organisation variant does, gives account-specific events the key EventBridge gives them.
            found += [
                {**item, "awsAccountId": account} if account and "awsAccountId" not in item else dict(item)
                for item in response.get("successfulSet") or ()
            ]
            result.failed_details += _failed(response)
        return found

    def _entities(self, arns: list[str]) -> list[Mapping[str, Any]]:
        found: list[Mapping[str, Any]] = []
        for batch in _batches(arns):
            found += _paged(
                self.health.describe_affected_entities,
                "entities",
                filter={"eventArns": batch},
                maxResults=ENTITY_PAGE,
            )
        return found

    def _org_filters(self, events: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
        """One filter per (event, affected account); a public event's filter names no account."""
        filters: list[dict[str, str]] = []
        for event in events:
            arn = event["arn"]
            accounts: list[str] = []
            if event.get("eventScopeCode") != "PUBLIC":
                for page in _pages(self.health.describe_affected_accounts_for_organization, eventArn=arn):
                    accounts += page.get("affectedAccounts") or ()
            filters += [{"eventArn": arn, "awsAccountId": a} for a in accounts] or [{"eventArn": arn}]
        return filters

    def _org_details(self, filters: list[dict[str, str]], result: BackfillResult) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for batch in _batches(filters):
            response = self.health.describe_event_details_for_organization(
                organizationEventDetailFilters=batch
            )
            found += [dict(item) for item in response.get("successfulSet") or ()]
            result.failed_details += _failed(response)
        return found

    def _org_entities(self, filters: list[dict[str, str]]) -> list[Mapping[str, Any]]:
        found: list[Mapping[str, Any]] = []
        for batch in _batches(filters):
            found += _paged(
                self.health.describe_affected_entities_for_organization,
                "entities",
                organizationEntityFilters=batch,
                maxResults=ENTITY_PAGE,
            )
        return found

    # -- errors -------------------------------------------------------------------------------------

    def _client_error(self, exc: Any) -> OpswardenError:
        code = _code(exc)
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        if code == "SubscriptionRequiredException":
            where = "the management account (or delegated administrator)" if self.org else "this account"
            return ConfigurationError(
                f"AWS Health: {code}: the AWS Health API needs a Business, Enterprise On-Ramp or Enterprise "
                f"Support plan on {where}. Fix: upgrade the support plan (AWS console → Support → Support "
                "plans), or use credentials of an account that has one"
            )
        if code in _ACCESS:
            return ConfigurationError(
                f"AWS Health: {code}: {message} (the credentials need {PERMISSIONS[self.org]})"
            )
        if code == "AWSOrganizationsNotInUseException" or (
            self.org and "organizational view" in message.lower()
        ):
            return ConfigurationError(
                f"AWS Health: {code}: {message}. Fix: turn on the organizational view "
                "(aws health enable-health-service-access-for-organization, in the management account)"
            )
        return OpswardenError(f"AWS Health: {code}: {message}{self._resume_hint()}")

    def _resume_hint(self) -> str:
        pages = self.checkpoint.pages
        if pages == 0:
            return ""
        return f"; {pages} page(s) are stored: run the same command again to resume"


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "error")


_T = TypeVar("_T")


def _batches(values: Sequence[_T]) -> Iterator[list[_T]]:
    for start in range(0, len(values), BATCH):
        yield list(values[start : start + BATCH])


def _pages(call: Callable[..., Any], **kwargs: Any) -> Iterator[Mapping[str, Any]]:
    """Every response of a ``nextToken``-paginated call."""
    token: str | None = None
    while True:
        response = call(**kwargs, **({"nextToken": token} if token else {}))
        yield response
        token = response.get("nextToken")
        if not token:
            return


def _paged(call: Callable[..., Any], key: str, **kwargs: Any) -> list[Mapping[str, Any]]:
    return [item for page in _pages(call, **kwargs) for item in page.get(key) or ()]


def _failed(response: Mapping[str, Any]) -> list[str]:
    return [
        f"{f.get('eventArn', '?')}"
        + (f" ({f['awsAccountId']})" if f.get("awsAccountId") else "")
        + f": {f.get('errorName', 'error')} {f.get('errorMessage', '')}".rstrip()
        for f in response.get("failedSet") or ()
    ]


def _raw_item(
    origin: str,
    event: Mapping[str, Any],
    details: Sequence[Mapping[str, Any]],
    entities: Sequence[Mapping[str, Any]],
) -> RawItem:
    """One event's items of the three calls as one Health API body (datetimes as ISO 8601 text)."""
    arn = event["arn"]
    body: dict[str, Any] = {"events": [event]}
    if described := [d for d in details if (d.get("event") or {}).get("arn") == arn]:
        body["successfulSet"] = described
    if affected := [e for e in entities if e.get("eventArn") == arn]:
        body["entities"] = affected
    text = orjson.dumps(body).decode()
    return RawItem(origin, text, orjson.loads(text))
