"""Reading deliveries from files, directories and streams, each with where it came from.

A file (or request body, or stdin) holds one JSON value, a JSON array of values, or NDJSON (one value
per line). Every value comes out as a :class:`RawItem` with its origin (``file``, ``file[3]`` for the
fourth array element, ``file:12`` for line 12 of NDJSON) and its text as received. Broken JSON comes
out as an item carrying the error, so it can be dead-lettered while the rest goes on. NDJSON is
streamed line by line, so a file of a million events is read in constant memory.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from opswarden.errors import InputError, PayloadError

SUFFIXES = (".json", ".ndjson", ".jsonl")


@dataclass(slots=True)
class RawItem:
    """One delivery: its origin, its text as received, and the parsed value or the parse error."""

    origin: str
    body: str
    value: Any = None
    error: InputError | None = None
    unparsed: bool = False  # an NDJSON line read lazily: parsed where it is prepared


def read_paths(paths: Iterable[str], *, lazy: bool = False) -> Iterator[RawItem]:
    """Items from files, directories (recursively: *.json, *.ndjson, *.jsonl) and ``-`` for stdin.

    ``lazy`` leaves NDJSON lines unparsed (``RawItem.unparsed``) for whoever prepares them.
    """
    for name in paths:
        if name == "-":
            yield from read_stream(sys.stdin.buffer, "<stdin>", lazy=lazy)
            continue
        path = Path(name)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES):
                yield from read_file(child, lazy=lazy)
        elif path.is_file():
            yield from read_file(path, lazy=lazy)
        else:
            yield RawItem(str(path), "", error=InputError("no such file or directory", str(path)))


def read_file(path: Path, *, lazy: bool = False) -> Iterator[RawItem]:
    try:
        with path.open("rb") as stream:
            yield from read_stream(stream, str(path), lazy=lazy)
    except OSError as exc:
        yield RawItem(str(path), "", error=InputError(f"cannot read: {exc.strerror}", str(path)))


def read_stream(stream: IO[bytes], origin: str, *, lazy: bool = False) -> Iterator[RawItem]:
    """Items from a byte stream; NDJSON is detected from its first line and then streamed."""
    first_no, first = _next_nonblank(stream, 0)
    if not first:
        return
    try:
        first_value = orjson.loads(first)
    except orjson.JSONDecodeError:
        first_value = _NOT_JSON
    second_no, second = _next_nonblank(stream, first_no)
    if first_value is _NOT_JSON or (isinstance(first_value, list) and second):
        # One document over several lines (a pretty-printed object or array).
        blank = b"\n" * (second_no - first_no - 1)
        yield from parse_document(first + blank + second + stream.read(), origin, first_line=first_no)
        return
    if not second:
        yield from _values(first_value, first, origin, origin)
        return
    yield from _values(first_value, first, origin, f"{origin}:{first_no}")
    lineno, line = second_no, second
    while line:
        if line.strip():
            where = f"{origin}:{lineno}"
            if lazy:
                yield RawItem(where, line.decode("utf-8", "replace").strip(), unparsed=True)
            else:
                yield _parse_line(line, where)
        lineno += 1
        line = stream.readline()


def _next_nonblank(stream: IO[bytes], lineno: int) -> tuple[int, bytes]:
    for line in iter(stream.readline, b""):
        lineno += 1
        if line.strip():
            return lineno, line
    return lineno, b""


_NOT_JSON = object()


def _values(value: Any, text: bytes, origin: str, where: str) -> Iterator[RawItem]:
    if isinstance(value, list):
        for i, element in enumerate(value):
            yield RawItem(f"{origin}[{i}]", orjson.dumps(element).decode(), element)
    else:
        yield RawItem(where, text.decode("utf-8", "replace").strip(), value)


def _parse_line(line: bytes, where: str) -> RawItem:
    text = line.decode("utf-8", "replace").strip()
    try:
        return RawItem(where, text, orjson.loads(line))
    except orjson.JSONDecodeError as exc:
        return RawItem(where, text, error=PayloadError(f"invalid JSON: {exc}", where))


def parse_document(data: bytes, origin: str, first_line: int = 1) -> Iterator[RawItem]:
    """Items of one in-memory document (a request body, a whole file): value, array or NDJSON."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        lines = [ln for ln in data.splitlines() if ln.strip()]
        if len(lines) > 1 and _is_json(lines[0]):
            for number, line in enumerate(data.splitlines(), start=first_line):
                if line.strip():
                    yield _parse_line(line, f"{origin}:{number}")
            return
        text = data.decode("utf-8", "replace")
        yield RawItem(origin, text, error=PayloadError(f"invalid JSON: {exc}", origin))
        return
    yield from _values(value, data, origin, origin)


def _is_json(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True
