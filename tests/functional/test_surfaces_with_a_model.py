"""Every place to ask — `opswarden ask`, `opswarden chat`, `POST /ask`, a Slack mention — answered by
the model-backed assistant, with a scripted model behind an OpenAI-compatible server on loopback
(as Ollama or vLLM would be configured: OPSWARDEN_MODEL=openai:…, OPSWARDEN_MODEL_BASE_URL=…).

The script makes the assistant delegate to the advisor, which searches the knowledge base; the
assistant then answers with the citation the tool returned. No real model, no network beyond loopback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydantic_ai.models
import pytest
from typer.testing import CliRunner

from opswarden.cli.main import app as cli_app
from tests.fakes._http import HTTPRequest, LoopbackHTTPServer, Reply
from tests.fakes.openai_chat import completion, tool_call
from tests.functional.test_chat import (  # slack_live: the fixture, reused
    BOT,
    KEY,
    SlackLive,
    slack_live,  # noqa: F401
    stream_lines,
    wait_for,
)

pytestmark = pytest.mark.functional

ANSWER = "Escalate through the MyCompany runbook: page SecOps for security findings."
CITE = re.compile(r"cite as: (.+)")  # how the knowledge-base tool labels each passage


def _script(request: HTTPRequest) -> Reply:
    """Assistant → ask_advisor → search_knowledge → the passages → the answer citing the first."""
    body = request.json()
    tools = {t["function"]["name"] for t in body.get("tools", [])}
    returned = [m["content"] for m in body["messages"] if m["role"] == "tool"]
    if "search_knowledge" in tools:  # the advisor
        if not returned:
            return Reply.json(tool_call("search_knowledge", {"query": "escalation runbook"}))
        return Reply.json(completion({"content": returned[-1]}, "stop"))
    if not returned:  # the assistant
        return Reply.json(tool_call("ask_advisor", {"request": "how do we escalate?"}))
    cited = [c for c in CITE.findall(returned[-1]) if "escalation" in c][:1]
    return Reply.json(tool_call("final_result", {"text": ANSWER, "citations": cited}))


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The scripted model's OpenAI-compatible base URL, set for the whole test."""
    server = LoopbackHTTPServer(_script)
    server.start()
    monkeypatch.setattr(pydantic_ai.models, "ALLOW_MODEL_REQUESTS", True)  # loopback only
    monkeypatch.setenv("OPSWARDEN_MODEL", "openai:scripted")
    monkeypatch.setenv("OPSWARDEN_MODEL_BASE_URL", f"{server.origin}/v1")
    monkeypatch.setenv("OPSWARDEN_MODEL_API_KEY", "sk-loopback-not-a-secret")
    try:
        yield f"{server.origin}/v1"
    finally:
        server.stop()


def _data(tmp_path: Path) -> Path:
    from tests.functional.test_chat import EXAMPLES, prepare

    data = tmp_path / "data"
    app = prepare(data, [EXAMPLES / "events"])
    app.kb_add([str(EXAMPLES / "kb")], root=EXAMPLES / "kb")
    app.close()
    return data


def test_ask_and_chat_in_the_terminal(model: str, tmp_path: Path) -> None:
    data = _data(tmp_path)
    env = {"OPSWARDEN_EMBEDDINGS": "none"}
    asked = CliRunner().invoke(cli_app, ["--data-dir", str(data), "ask", "how do we escalate?"], env=env)
    chatted = CliRunner().invoke(
        cli_app, ["--data-dir", str(data), "chat"], input="how do we escalate?\n/quit\n", env=env
    )

    assert asked.exit_code == 0, asked.output
    assert ANSWER in asked.output
    assert "escalation.md" in asked.output  # the citation, checked against what the tool returned
    assert chatted.exit_code == 0, chatted.output
    assert ANSWER in chatted.output


def test_post_ask_streams_the_models_answer(model: str, tmp_path: Path) -> None:
    from pydantic import SecretStr

    from opswarden.app import Application
    from opswarden.settings import Settings
    from tests.functional.test_server import serve

    app = Application(Settings(data_dir=_data(tmp_path), embeddings="none", api_key=SecretStr(KEY)))
    try:
        for url in serve(app):
            with httpx.Client(base_url=url, timeout=60) as http:
                response, lines = stream_lines(
                    http, b'{"question": "how do we escalate?"}', {"X-Api-Key": KEY}
                )
    finally:
        app.close()

    assert response.status_code == 200
    assert lines[-1]["type"] == "answer"
    assert lines[-1]["text"].startswith(ANSWER)
    assert any("escalation.md" in c for c in lines[-1]["answer"]["citations"])


def test_a_slack_mention_is_answered_by_the_model(model: str, slack_live: SlackLive) -> None:  # noqa: F811
    slack_live.app.settings.model = "openai:scripted"  # the fixture's app was built before the env
    slack_live.app.settings.model_base_url = model
    asked = slack_live.post_as("U0ALICE", f"<@{BOT}> how do we escalate?")
    assert slack_live.mention(asked, "Ev0MODEL1").status_code == 200

    [reply] = wait_for(
        lambda: slack_live.replies(asked["ts"], asked["ts"]), "the model's answer in the thread"
    )

    assert ANSWER in reply["text"]
    assert "sk-loopback-not-a-secret" not in reply["text"]


def test_the_slash_command_is_answered_by_the_model(model: str, slack_live: SlackLive) -> None:  # noqa: F811
    slack_live.app.settings.model = "openai:scripted"
    slack_live.app.settings.model_base_url = model

    assert slack_live.command("how do we escalate?", "/commands/model").status_code == 200
    [answer] = wait_for(lambda: slack_live.hooks.requests_to("/commands/model"), "the ephemeral answer")

    body = answer.json()
    assert body["response_type"] == "ephemeral"
    assert ANSWER in body["text"]
