"""What every CLI command shares: the application from global options, output, time arguments."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
import typer
from rich.console import Console

from opswarden.app import Application
from opswarden.core.timeparse import parse_since
from opswarden.errors import ConfigurationError, TimestampError
from opswarden.settings import load_settings

# Piped output (CI logs, files) gets a wide page instead of Rich's 80-column default.
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


def get_app(ctx: typer.Context) -> Application:
    """The application for this invocation, built once from settings and global flags."""
    root = ctx.find_root()
    if root.obj is None:
        options: dict[str, Any] = root.params
        try:
            settings = load_settings(
                data_dir=options.get("data_dir"), database_url=options.get("database_url")
            )
            application = Application(settings)
        except ConfigurationError as exc:
            fail(str(exc), code=2)
            raise  # unreachable: fail() exits
        root.obj = application
        root.call_on_close(application.close)
    app: Application = root.obj
    return app


def parse_when(value: str | None, now: datetime) -> datetime | None:
    """``--since`` / ``--until``: an age (``7d``, ``12h``) or a timestamp (:func:`parse_since`)."""
    if value is None:
        return None
    try:
        return parse_since(value, now)
    except TimestampError as exc:
        raise typer.BadParameter(str(exc)) from None


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def fail(message: str, code: int = 1) -> None:
    print_error(message)
    raise typer.Exit(code)


def print_error(message: str) -> None:
    """``error: <message>`` on stderr, one line however long (never wrapped, so logs can grep it)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
