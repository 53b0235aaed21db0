"""``opswarden kb add|search|stats|reindex``: the knowledge base (docs/kb.md#commands)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from opswarden.cli.common import Format, console, err_console, fail, get_app, print_json

if TYPE_CHECKING:
    from opswarden.app import Application

kb_app = typer.Typer(
    help="The knowledge base: runbooks, policies and every event, searchable with citations.",
    no_args_is_help=True,
)
_SNIPPET = 240


def _app(ctx: typer.Context) -> Application:
    application = get_app(ctx)
    try:
        import numpy  # noqa: F401
    except ImportError:
        fail("the knowledge base needs its extra: pip install 'opswarden[kb]'", code=2)
    from opswarden.kb.embed import embedder_note

    note = embedder_note(application.settings)
    if note:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    return application


@kb_app.command("add")
def add(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="files and folders: .md .markdown .txt .html .htm .pdf")],
    root: Annotated[
        Path | None, typer.Option(help="document ids are paths relative to this folder; default: here")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE,
) -> None:
    """Index documents; unchanged files are skipped, changed ones re-indexed, deleted ones dropped.

    Exits 1 if a file could not be read (after indexing the others)."""
    report = _app(ctx).kb_add(paths, root=root)
    if fmt is Format.JSON:
        print_json(report.to_dict())
    else:
        s = report.summary
        console.print(
            f"{report.files} file(s): {s.added} added, {s.replaced} re-indexed, {s.unchanged} unchanged, "
            f"{s.removed} removed; {s.chunks} chunk(s) written",
            highlight=False,
        )
        for path, why in report.skipped:
            err_console.print(f"  [yellow]skipped[/] {path}: {why}", highlight=False, markup=False)
    if report.skipped:
        raise typer.Exit(1)


@kb_app.command("search")
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="words or a question, in plain text")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=100, help="passages to return")] = 5,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE,
) -> None:
    """Ranked passages with citations: keyword (BM25) and semantic matches, fused."""
    application = _app(ctx)
    started = time.perf_counter()
    hits = application.kb_search(query, k)
    elapsed = time.perf_counter() - started
    if fmt is Format.JSON:
        print_json(
            {"query": query, "elapsed_ms": round(elapsed * 1000, 1), "hits": [h.to_dict() for h in hits]}
        )
        return
    if not hits:
        console.print("no passages found (kb add PATHS to index documents)", highlight=False)
        return
    table = Table(title=f"{len(hits)} passage(s) in {elapsed * 1000:.0f} ms", title_justify="left")
    for column in ("#", "citation", "passage", "ranks"):
        table.add_column(column, overflow="fold")
    for number, hit in enumerate(hits, 1):
        ranks = f"bm25 {hit.bm25_rank or '–'} · dense {hit.dense_rank or '–'}"
        table.add_row(str(number), hit.citation, snippet(hit.chunk.text), ranks)
    console.print(table)


def snippet(text: str, width: int = _SNIPPET) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rsplit(" ", 1)[0] + " …"


@kb_app.command("stats")
def stats(ctx: typer.Context, fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE) -> None:
    """What is indexed: documents, events, chunks, vectors and the model they come from."""
    data = _app(ctx).knowledge_base().stats()
    if fmt is Format.JSON:
        print_json(data)
        return
    for name, value in data.items():
        console.print(f"{name:>13}: {'' if value is None else value}", highlight=False, markup=False)
    if data["chunks"] and data["vectors"] < data["chunks"] and data["embedder"]:
        err_console.print(
            f"[yellow]note:[/] {data['chunks'] - data['vectors']} chunk(s) have no vector: opswarden kb reindex",
            highlight=False,
        )


@kb_app.command("reindex")
def reindex(ctx: typer.Context) -> None:
    """Rebuild every chunk's vector with the configured embedder (after changing the model)."""
    started = time.perf_counter()
    count = _app(ctx).knowledge_base().reindex()
    console.print(f"{count} chunk(s) embedded in {time.perf_counter() - started:.1f} s", highlight=False)
