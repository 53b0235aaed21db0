"""``opswarden org sync``: merge the accounts of AWS Organizations into org.yaml (docs/org-sync.md)."""

from __future__ import annotations

import difflib
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from opswarden.cli.common import Format, console, err_console, fail, print_json
from opswarden.cli.policy import OrgOption, _settings
from opswarden.errors import ConfigurationError
from opswarden.policy import Org, load_org
from opswarden.policy.orgsync import SyncReport, dump_org, leading_comments, sync_org

org_app = typer.Typer(help="Keep org.yaml in step with AWS Organizations.", no_args_is_help=True)


@org_app.command("sync")
def sync(
    ctx: typer.Context,
    org_file: OrgOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of over the org file")
    ] = None,
    default_environment: Annotated[
        str, typer.Option(help="environment of a new account without an environment tag")
    ] = "non-production",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="write nothing; print the diff")] = False,
    profile: Annotated[
        str | None, typer.Option(help="AWS profile (default: as boto3 finds credentials)")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE,
) -> None:
    """Add the organisation's new accounts to org.yaml; fill in what the file leaves empty.

    What the file says is kept (environment and team are never changed); accounts no longer in AWS
    are reported, not removed. Comments other than those at the top of the file are not kept.
    """
    from opswarden.aws.organizations import list_accounts

    org_path = org_file or _settings(ctx).org_path
    target = output or org_path
    text, org = _current(org_path)
    try:
        result = sync_org(org, list_accounts(profile=profile), default_environment)
    except ConfigurationError as exc:
        fail(str(exc), code=2)
        raise
    header = (
        leading_comments(text)
        or "# The organisation (docs/policy.md#orgyaml); opswarden org sync adds accounts.\n\n"
    )
    new_text = dump_org(result.org, header)
    load_org(new_text, str(target))  # what is written must read back
    unchanged_file = output is None and not result.report.changed
    if fmt is Format.JSON:
        print_json(
            {"file": str(target), "written": not dry_run and not unchanged_file, **result.report.to_dict()}
        )
    else:
        _print(result.report)
        if dry_run:
            diff = difflib.unified_diff(
                text.splitlines(keepends=True), new_text.splitlines(keepends=True), str(org_path), str(target)
            )
            console.print(escape("".join(diff)) or "no change to the file", highlight=False, end="")
    if dry_run or unchanged_file:
        return
    _write(target, new_text)
    if fmt is Format.TABLE:
        console.print(f"wrote {escape(str(target))}", highlight=False)


def _current(path: Path) -> tuple[str, Org]:
    """The org file's text and org; an absent file is an empty org (the sync creates it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return "", Org()
    except OSError as exc:
        fail(f"cannot read the org file {path}: {exc.strerror or exc}", code=2)
        raise
    try:
        return text, load_org(text, str(path))
    except ConfigurationError as exc:
        fail(str(exc), code=2)
        raise


def _write(path: Path, text: str) -> None:
    """Replace the file in one step (a temporary file beside it, then a rename)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}", code=2)


def _print(report: SyncReport) -> None:
    for account in report.added:
        details = ", ".join(
            f"{k} {v}"
            for k, v in (("environment", account.environment), ("ou", account.ou), ("team", account.team))
            if v
        )
        console.print(
            f"[green]added[/]    {account.id} {escape(account.name)} ({escape(details)})", highlight=False
        )
    for updated in report.updated:
        said = "; ".join(f"{c.field} {c.before or '-'} → {c.after}" for c in updated.changes)
        console.print(f"[cyan]updated[/]  {updated.account}: {escape(said)}", highlight=False)
    for account_id in report.missing:
        console.print(f"[yellow]missing[/]  {account_id}: in the file, not in AWS (kept)", highlight=False)
    for account_id, status in report.skipped:
        console.print(f"[dim]skipped[/]  {account_id}: {status} in AWS (not added)", highlight=False)
    for note in report.notes:
        err_console.print(f"[dim]note:[/] {escape(note)}", highlight=False)
    console.print(
        f"{len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged, "
        f"{len(report.missing)} missing from AWS, {len(report.skipped)} skipped",
        highlight=False,
    )
