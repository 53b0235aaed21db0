"""Signed answer tokens never reach the access log."""

from __future__ import annotations

import logging

import pytest

from opswarden.server.api import _HideAnswerTokens

pytestmark = pytest.mark.unit


def test_the_access_log_shows_answer_paths_without_their_token() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', None, None
    )
    record.args = ("127.0.0.1:5000", "GET", "/answers/eyJlIjoiZXYtMSJ9.c2lnbmF0dXJl", "1.1", 200)

    assert _HideAnswerTokens().filter(record) is True
    assert record.getMessage() == '127.0.0.1:5000 - "GET /answers/… HTTP/1.1" 200'


def test_other_paths_are_left_alone() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "%s %s", None, None)
    record.args = ("GET", "/events/ev-1")

    _HideAnswerTokens().filter(record)

    assert record.getMessage() == "GET /events/ev-1"
