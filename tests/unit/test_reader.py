from __future__ import annotations

import io
from pathlib import Path

import pytest

from opswarden.ingest.reader import parse_document, read_paths, read_stream

pytestmark = pytest.mark.unit


def _items(data: bytes, origin: str = "f.json") -> list[tuple[str, object, str | None]]:
    return [
        (i.origin, i.value, i.error.message if i.error else None)
        for i in read_stream(io.BytesIO(data), origin)
    ]


def test_single_pretty_printed_value_keeps_the_text_as_received() -> None:
    data = b'{\n  "a": 1,\n  "b": [1, 2]\n}\n'
    (item,) = read_stream(io.BytesIO(data), "f.json")
    assert item.origin == "f.json"
    assert item.value == {"a": 1, "b": [1, 2]}
    assert item.body == data.decode().strip()


def test_array_elements_are_numbered() -> None:
    assert _items(b'[\n {"a": 1},\n {"a": 2}\n]') == [
        ("f.json[0]", {"a": 1}, None),
        ("f.json[1]", {"a": 2}, None),
    ]


def test_ndjson_lines_are_numbered_and_a_bad_line_does_not_stop_the_rest() -> None:
    data = b'{"a": 1}\n\n{"a": 2\n{"a": 3}\n'
    items = _items(data)
    assert [i[0] for i in items] == ["f.json:1", "f.json:3", "f.json:4"]
    assert items[0][1] == {"a": 1}
    assert items[1][2] is not None
    assert "invalid JSON" in items[1][2]
    assert items[2][1] == {"a": 3}


def test_broken_document_is_one_error_with_position() -> None:
    ((origin, value, error),) = _items(b'{\n "a": 1,\n "b": \n}')
    assert origin == "f.json"
    assert value is None
    assert error is not None
    assert "line 4" in error


def test_single_line_value_and_empty_input() -> None:
    assert _items(b'  {"a": 1}  \n') == [("f.json", {"a": 1}, None)]
    assert _items(b"\n\n") == []


def test_request_body_array_and_ndjson() -> None:
    assert [i.origin for i in parse_document(b'[{"a":1},{"a":2}]', "request")] == ["request[0]", "request[1]"]
    assert [i.origin for i in parse_document(b'{"a":1}\n{"a":2}\n', "request")] == ["request:1", "request:2"]


def test_directories_are_read_recursively_and_missing_paths_reported(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "one.json").write_text('{"x": 1}')
    (tmp_path / "two.ndjson").write_text('{"x": 2}\n{"x": 3}\n')
    (tmp_path / "notes.md").write_text("# not an event")
    items = list(read_paths([str(tmp_path), str(tmp_path / "missing.json")]))
    assert [i.value for i in items[:3]] == [{"x": 1}, {"x": 2}, {"x": 3}]
    assert items[3].error is not None
    assert "no such file" in items[3].error.message
