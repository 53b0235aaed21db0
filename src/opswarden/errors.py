"""Every exception opswarden raises on purpose, in one tree.

::

    OpswardenError                 base of everything below
    ├── ConfigurationError         the operator's mistake: fail at start, say what to write instead
    ├── InputError                 a bad payload: clear message, dead-lettered, the batch goes on
    │   ├── UnrecognisedFormatError   JSON that is no known event format
    │   ├── PayloadError              a known format with a missing or malformed field
    │   └── TimestampError            a timestamp in no supported format
    ├── StoreError                 the operational store failed (after its own retries)
    │   ├── NotFoundError             no such event / record
    │   └── StaleStateError           the event changed under a transition; re-read and decide again
    ├── LifecycleError             a transition the event's lifecycle does not allow (already acked …)
    ├── LinkError                  a signed link or Slack request that is forged, expired or reused
    ├── QueryError                 a lake query that is refused (not one SELECT), fails or runs too long
    └── DeliveryError              sending to a channel failed; carries ``recoverable`` and ``reason``

Input errors carry a ``where`` (file:line, batch index, JSON path) so a message always says what is
wrong *and* where.
"""

from __future__ import annotations

from enum import StrEnum


class OpswardenError(Exception):
    """Base class of all opswarden errors."""


class ConfigurationError(OpswardenError):
    """Invalid settings or configuration files. Raised at start-up with a fix in the message."""


class InputError(OpswardenError):
    """A payload that cannot become an event. It is dead-lettered; the rest of its batch goes on."""

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message

    def at(self, where: str) -> InputError:
        """The same error, located (prefixes an existing location)."""
        located = f"{where} {self.where}" if self.where else where
        return type(self)(self.message, located)


class UnrecognisedFormatError(InputError):
    """Valid JSON that matches no source's format."""


class PayloadError(InputError):
    """A recognised format with a missing or malformed field."""


class TimestampError(PayloadError):
    """A timestamp in no supported format."""


class StoreError(OpswardenError):
    """The operational store failed."""


class NotFoundError(StoreError):
    """No record with that id."""


class StaleStateError(StoreError):
    """An event's lifecycle changed between reading it and moving it on (a concurrent answer)."""


class LifecycleError(OpswardenError):
    """A lifecycle transition that is not allowed from the event's current state."""


class LinkError(OpswardenError):
    """A signed approval link or a Slack request that is forged, malformed, expired or already used."""


class QueryError(OpswardenError):
    """A lake query that is not one SELECT statement, fails in DuckDB, or runs past its time limit."""


class DeliveryReason(StrEnum):
    RATE_LIMITED = "rate_limited"
    AUTH = "auth"
    SERVER = "server"
    CLIENT = "client"
    NETWORK = "network"


class DeliveryError(OpswardenError):
    """Sending to a channel failed. ``recoverable`` tells the retry stage whether to try again."""

    def __init__(
        self,
        message: str,
        *,
        reason: DeliveryReason,
        recoverable: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.recoverable = recoverable
        self.retry_after = retry_after
