"""The channel renderers (notify/render): Slack Block Kit, Teams Adaptive Card, e-mail, plain text."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from opswarden.core.event import Link, Severity, Status
from opswarden.notify.message import Answer, Kind, Message, message_for
from opswarden.notify.render import (
    ActionLinks,
    email_subject,
    render_email,
    render_slack,
    render_slack_card,
    render_teams,
    render_text,
)
from tests.factories import T0, make_event

pytestmark = pytest.mark.unit

LINKS = ActionLinks(
    acknowledge="https://ow.example/a/ack?t=1&s=2",
    approve="https://ow.example/a/approve?t=1",
    reject="https://ow.example/a/reject?t=1",
    event="https://ow.example/events/ev-1",
)
ANSWER = Answer(action="acknowledge", actor="alice", at=T0 + timedelta(hours=2), channel="slack")


def message(kind: Kind = Kind.CARD, *, event_extra: dict[str, Any] | None = None, **kw: Any) -> Message:
    extra: dict[str, Any] = {
        "deadline_at": T0 + timedelta(days=7),
        "region": "us-east-1",
        "service": "EC2",
        "accounts": ("111111111111", "222222222222"),
        "resources": tuple((f"i-{n:03d}", "ok") for n in range(14)),
        "links": (Link(title="AWS Health", url="https://health.aws.amazon.com/x?a=1&b=2"),),
        "severity": Severity.MEDIUM,
        **(event_extra or {}),
    }
    event = make_event(**extra)
    defaults: dict[str, Any] = {
        "severity": Severity.HIGH,
        "teams": ("Infra", "SecOps"),
        "why": ("rule ec2-retirement matched type_code", "severity raised by rule"),
        "account_names": {"111111111111": "core-repo"},
    }
    return message_for(event, kind=kind, at=T0, **{**defaults, **kw})


def blocks_by_id(rendered: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in rendered["blocks"]}


def all_texts(block: Any) -> list[str]:
    """Every ``text`` string anywhere in a block (text objects and fields)."""
    found: list[str] = []
    if isinstance(block, dict):
        for key, value in block.items():
            if key == "text" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(all_texts(value))
    elif isinstance(block, list):
        for item in block:
            found.extend(all_texts(item))
    return found


def assert_valid_slack(rendered: dict[str, Any]) -> None:
    """Shape and Slack's limits, checked by hand and by slack_sdk's own models."""
    assert set(rendered) == {"text", "blocks"}
    assert rendered["text"]
    blocks = rendered["blocks"]
    assert 0 < len(blocks) <= 50
    ids = [b["block_id"] for b in blocks]
    assert len(ids) == len(set(ids))
    for block in blocks:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            for field in block.get("fields", []):
                assert 0 < len(field["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        if block["type"] == "context":
            assert 0 < len(block["elements"]) <= 10
        if block["type"] == "actions":
            for element in block["elements"]:
                assert len(element["text"]["text"]) <= 75
    blocks_mod = pytest.importorskip("slack_sdk.models.blocks")
    for block in blocks:
        parsed = blocks_mod.Block.parse(block)
        assert parsed is not None
        parsed.validate_json()
        assert parsed.to_dict()["type"] == block["type"]


def action_ids(rendered: dict[str, Any]) -> list[str]:
    actions = [b for b in rendered["blocks"] if b["type"] == "actions"]
    return [e["action_id"] for b in actions for e in b["elements"]]


# --------------------------------------------------------------------------------------------------
# Slack


def test_slack_card_has_header_facts_description_context_and_buttons() -> None:
    msg = message(require_approval=True)

    rendered = render_slack(msg)

    assert_valid_slack(rendered)
    blocks = blocks_by_id(rendered)
    assert blocks["opswarden_header"]["text"]["text"] == "test event test:one"
    fields = "\n".join(f["text"] for f in blocks["opswarden_facts"]["fields"])
    for expected in (
        "HIGH (severity raised from medium)",
        "111111111111 core-repo, 222222222222",
        "us-east-1",
        "2026-03-08 12:00 UTC (in 7 days)",
        "Infra, SecOps",
    ):
        assert expected in fields
    assert blocks["opswarden_description"]["text"]["text"] == "something happened"
    context = "\n".join(e["text"] for e in blocks["opswarden_context"]["elements"])
    assert "rule ec2-retirement matched type_code" in context
    assert "*Resources (14)*" in context
    assert "… and 4 more" in context  # message_for keeps 10 ids
    assert "<https://health.aws.amazon.com/x?a=1&amp;b=2|AWS Health>" in context
    assert rendered["blocks"][-1]["block_id"] == "opswarden_actions"
    assert action_ids(rendered) == ["opswarden_acknowledge", "opswarden_approve", "opswarden_reject"]
    elements = {e["action_id"]: e for e in blocks["opswarden_actions"]["elements"]}
    assert {e["value"] for e in elements.values()} == {msg.event_id}
    assert elements["opswarden_approve"]["style"] == "primary"
    assert elements["opswarden_reject"]["style"] == "danger"
    assert elements["opswarden_reject"]["confirm"]["confirm"]["text"] == "Reject"
    assert "style" not in elements["opswarden_acknowledge"]


def test_slack_approve_and_reject_only_when_approval_is_required() -> None:
    rendered = render_slack(message(require_approval=False))

    assert action_ids(rendered) == ["opswarden_acknowledge"]


def test_slack_card_keeps_approve_and_reject_after_an_acknowledgement() -> None:
    rendered = render_slack(message(lifecycle="acknowledged", require_approval=True))

    assert action_ids(rendered) == ["opswarden_approve", "opswarden_reject"]


@pytest.mark.parametrize("lifecycle", ["approved", "rejected", "resolved", "suppressed"])
def test_slack_card_has_no_buttons_once_no_answer_is_awaited(lifecycle: str) -> None:
    rendered = render_slack(message(lifecycle=lifecycle, require_approval=True))

    assert_valid_slack(rendered)
    assert action_ids(rendered) == []


def test_slack_buttons_can_be_turned_off() -> None:
    assert action_ids(render_slack(message(), buttons=False)) == []


def test_slack_clips_a_long_description_and_title() -> None:
    msg = message().model_copy(update={"description": "x" * 10_000, "title": "T" * 300})

    rendered = render_slack(msg)

    assert_valid_slack(rendered)
    blocks = blocks_by_id(rendered)
    description = blocks["opswarden_description"]["text"]["text"]
    assert len(description) <= 3000
    assert description.endswith("…")
    header = blocks["opswarden_header"]["text"]["text"]
    assert len(header) <= 150
    assert header.startswith("TTTT")


def test_slack_clipping_never_splits_an_escaped_entity() -> None:
    msg = message().model_copy(update={"description": "&" * 5000})

    text = blocks_by_id(render_slack(msg))["opswarden_description"]["text"]["text"]

    assert len(text) <= 3000
    assert text.removesuffix("…").replace("&amp;", "") == ""


def test_slack_escapes_mrkdwn_control_characters_in_event_text() -> None:
    msg = message(
        kind=Kind.CARD,
        event_extra={
            "description": "ping <!channel> & <@U123> and <https://evil.example|click>",
            "region": "<!here>",
            "resources": (("<!everyone>", None),),
        },
        why=("matched <!subteam^S1>",),
        teams=("A&B",),
    ).model_copy(update={"title": "Disk <!channel> & more"})

    rendered = render_slack(msg)

    assert_valid_slack(rendered)
    texts = [*all_texts(rendered["blocks"]), rendered["text"]]
    mrkdwn = [t for t in texts if t != "Disk <!channel> & more"]  # the plain_text header is literal
    for text in mrkdwn:
        assert "<!" not in text
        assert "<@" not in text
        assert "<https://evil" not in text
    joined = "\n".join(mrkdwn)
    assert "ping &lt;!channel&gt; &amp; &lt;@U123&gt;" in joined
    assert "A&amp;B" in joined
    assert "&lt;!here&gt;" in joined
    assert "Disk &lt;!channel&gt; &amp; more" in rendered["text"]
    header = blocks_by_id(rendered)["opswarden_header"]["text"]
    assert header["type"] == "plain_text"


def test_slack_update_in_thread_lists_the_changes() -> None:
    changes = (
        {"field": "status", "old": "open", "new": "closed"},
        {"field": "end_at", "old": None, "new": "2026-03-02T00:00:00Z"},
        {"field": "resources", "added": ["i-new"], "removed": ["i-old"], "status_changed": []},
    )
    rendered = render_slack(message(Kind.UPDATE, changes=changes))

    assert_valid_slack(rendered)
    thread = blocks_by_id(rendered)["opswarden_thread"]["text"]["text"]
    assert "Updated upstream" in thread
    assert "status: open → closed" in thread
    assert "end: – → 2026-03-02T00:00:00Z" in thread
    assert "resources: +i-new; -i-old" in thread
    assert "opswarden_header" not in blocks_by_id(rendered)
    assert action_ids(rendered) == ["opswarden_acknowledge"]  # an update still awaits an answer


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (Kind.REMINDER, "Reminder: deadline in 7 days, not acknowledged yet"),
        (Kind.RESOLVED, "Resolved upstream"),
        (Kind.REOPENED, "Reopened upstream"),
    ],
)
def test_slack_thread_messages(kind: Kind, expected: str) -> None:
    rendered = render_slack(message(kind, reminder_days=7))

    assert_valid_slack(rendered)
    assert expected in blocks_by_id(rendered)["opswarden_thread"]["text"]["text"]
    assert expected in rendered["text"]
    assert ("opswarden_actions" in blocks_by_id(rendered)) == (kind == Kind.REMINDER)


def test_slack_answer_in_thread_and_card_rerendered_without_buttons() -> None:
    card = message(require_approval=False)
    answer_msg = message(Kind.ANSWER, answer=ANSWER, lifecycle="acknowledged")

    thread = render_slack(answer_msg)
    updated = render_slack_card(card, "acknowledged", ANSWER)

    assert_valid_slack(thread)
    assert (
        "Acknowledged by alice via slack at 2026-03-01 14:00 UTC"
        in (blocks_by_id(thread)["opswarden_thread"]["text"]["text"])
    )
    assert action_ids(thread) == []
    assert_valid_slack(updated)
    assert (
        "Acknowledged by alice at 2026-03-01 14:00 UTC"
        in (blocks_by_id(updated)["opswarden_state"]["text"]["text"])
    )
    assert action_ids(updated) == []
    assert blocks_by_id(updated)["opswarden_header"]["text"]["text"] == "test event test:one"


def test_slack_card_rerendered_while_still_awaiting_keeps_its_buttons() -> None:
    updated = render_slack_card(message(), "notified", None)

    assert "opswarden_state" not in blocks_by_id(updated)
    assert action_ids(updated) == ["opswarden_acknowledge"]


def test_slack_limits_hold_for_huge_inputs() -> None:
    msg = message().model_copy(
        update={
            "why": tuple("w" * 500 for _ in range(20)),
            "accounts": tuple(f"{n:012d}" for n in range(500)),
            "teams": tuple(f"team-{n}" * 20 for n in range(200)),
            "links": tuple(("t" * 100, f"https://x.example/{n}") for n in range(100)),
            "require_approval": True,
        }
    )

    assert_valid_slack(render_slack(msg))


# --------------------------------------------------------------------------------------------------
# Teams


def card_content(rendered: dict[str, Any]) -> dict[str, Any]:
    assert rendered["type"] == "message"
    (attachment,) = rendered["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    content: dict[str, Any] = attachment["content"]
    assert content["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert content["type"] == "AdaptiveCard"
    assert content["version"] == "1.4"
    json.dumps(rendered)  # JSON-serialisable as it stands
    return content


def test_teams_card_structure_and_open_url_actions() -> None:
    content = card_content(render_teams(message(require_approval=True), LINKS))

    title = content["body"][0]
    assert title["type"] == "TextBlock"
    assert title["weight"].lower() == "bolder"
    assert title["color"].lower() == "attention"
    assert "test event test:one" in title["text"]
    (facts,) = [b for b in content["body"] if b["type"] == "FactSet"]
    by_title = {f["title"]: f["value"] for f in facts["facts"]}
    assert by_title["Accounts"] == "111111111111 core-repo, 222222222222"
    assert by_title["Deadline"] == "2026-03-08 12:00 UTC (in 7 days)"
    assert by_title["Teams"] == "Infra, SecOps"
    description = [b for b in content["body"] if b.get("text") == "something happened"]
    assert description
    assert description[0]["wrap"] is True
    actions = content["actions"]
    assert all(a["type"] == "Action.OpenUrl" for a in actions)
    assert [(a["title"], a["url"]) for a in actions] == [
        ("Acknowledge", LINKS.acknowledge),
        ("Approve", LINKS.approve),
        ("Reject", LINKS.reject),
        ("View event", LINKS.event),
    ]
    assert "Action.Submit" not in json.dumps(content)


def test_teams_title_not_attention_below_high() -> None:
    content = card_content(render_teams(message(severity=Severity.LOW), LINKS))

    assert "color" not in content["body"][0]
    assert [a["title"] for a in content["actions"]] == ["Acknowledge", "View event"]


def test_teams_no_answer_actions_when_not_actionable_or_without_links() -> None:
    resolved = card_content(render_teams(message(Kind.RESOLVED, require_approval=True), LINKS))
    no_links = card_content(render_teams(message(require_approval=True), None))

    assert [a["title"] for a in resolved["actions"]] == ["View event"]
    assert no_links["actions"] == []


def test_teams_only_places_web_urls_and_breaks_markdown_links_in_event_text() -> None:
    links = ActionLinks(acknowledge="javascript:alert(1)", approve=None, reject=None, event=None)
    msg = message(event_extra={"description": "see [docs](https://evil.example)"})

    content = card_content(render_teams(msg, links))

    assert content["actions"] == []
    assert "[docs](https://evil.example)" not in json.dumps(content)


def test_teams_update_lists_changes() -> None:
    changes = ({"field": "severity", "old": "medium", "new": "high"},)
    content = card_content(render_teams(message(Kind.UPDATE, changes=changes), None))

    assert any("severity: medium → high" in b.get("text", "") for b in content["body"])


# --------------------------------------------------------------------------------------------------
# E-mail


def test_email_subject_prefixes_per_kind() -> None:
    assert email_subject(message()) == "[opswarden] [HIGH] test event test:one"
    assert email_subject(message(Kind.UPDATE)) == "[opswarden] [HIGH] Update: test event test:one"
    assert email_subject(message(Kind.REMINDER)) == "[opswarden] [HIGH] Reminder: test event test:one"
    assert email_subject(message(Kind.RESOLVED)) == "[opswarden] [HIGH] Resolved: test event test:one"
    assert email_subject(message(Kind.ANSWER, answer=ANSWER)).startswith("[opswarden] [HIGH] Acknowledged: ")


def test_email_subject_cannot_inject_headers() -> None:
    msg = message().model_copy(update={"title": "Disk full\r\nBcc: x@y\nX-Evil: 1\u2028more"})

    subject, _, _ = render_email(msg, LINKS)

    assert "\r" not in subject
    assert "\n" not in subject
    assert "\u2028" not in subject
    assert subject == "[opswarden] [HIGH] Disk full Bcc: x@y X-Evil: 1 more"


def test_email_text_part_is_render_text_and_html_escapes_event_text() -> None:
    msg = message(event_extra={"description": "<script>alert(1)</script> & friends"}, require_approval=True)
    msg = msg.model_copy(update={"title": "<b>bold</b>"})

    subject, text, html = render_email(msg, LINKS)

    assert text == render_text(msg, LINKS)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<b>bold</b>" not in html
    assert 'href="https://ow.example/a/ack?t=1&amp;s=2"' in html
    assert ">Approve</a>" in html
    assert ">Reject</a>" in html
    assert "<style" not in html  # inline CSS only
    assert subject == "[opswarden] [HIGH] <b>bold</b>"
    assert "<title>[opswarden] [HIGH] &lt;b&gt;bold&lt;/b&gt;</title>" in html


def test_email_html_without_links_or_when_answered_has_no_buttons() -> None:
    _, _, plain = render_email(message(), None)
    _, _, answered = render_email(message(Kind.ANSWER, answer=ANSWER, lifecycle="acknowledged"), LINKS)

    assert "Acknowledge</a>" not in plain
    assert "Acknowledge</a>" not in answered
    assert "Acknowledged by alice via slack" in answered


def test_email_update_html_lists_changes() -> None:
    changes = ({"field": "status", "old": "open", "new": "closed"},)
    _, text, html = render_email(message(Kind.UPDATE, changes=changes), None)

    assert "status: open → closed" in text
    assert "status: open → closed" in html


# --------------------------------------------------------------------------------------------------
# Plain text


def test_text_card() -> None:
    msg = message(require_approval=True)

    text = render_text(msg, LINKS)

    lines = text.splitlines()
    assert lines[0] == "[HIGH] test event test:one (severity raised from medium)"
    assert "Source: test · TEST_EVENT · EC2 · us-east-1" in lines
    assert "Accounts: 111111111111 core-repo, 222222222222" in lines
    assert "Deadline: 2026-03-08 12:00 UTC (in 7 days)" in lines
    assert "Resources (14): i-000, i-001, i-002, i-003, i-004 … and 9 more" in lines
    assert "Teams: Infra, SecOps" in lines
    assert "  - rule ec2-retirement matched type_code" in lines
    assert "  something happened" in lines
    assert f"Acknowledge: {LINKS.acknowledge}" in lines
    assert f"Approve: {LINKS.approve}" in lines
    assert f"Reject: {LINKS.reject}" in lines
    assert f"View event: {LINKS.event}" in lines


def test_text_same_severity_has_no_raised_note_and_no_approval_links_without_approval() -> None:
    text = render_text(message(severity=Severity.MEDIUM), LINKS)

    assert text.splitlines()[0] == "[MEDIUM] test event test:one"
    assert "Acknowledge:" in text
    assert "Approve:" not in text


def test_text_no_action_links_when_not_actionable() -> None:
    text = render_text(message(lifecycle="acknowledged"), LINKS)

    assert "Acknowledge:" not in text
    assert f"View event: {LINKS.event}" in text


def test_text_update_renders_changes() -> None:
    changes = (
        {"field": "status", "old": "open", "new": "closed"},
        {
            "field": "resources",
            "added": ["i-a", "i-b"],
            "removed": ["i-c"],
            "status_changed": [{"id": "i-d", "old": "ok", "new": "impaired"}],
        },
        {"field": "accounts", "added": ["333333333333"], "removed": []},
        {"field": "description", "old": "x", "new": "y is new"},
    )

    text = render_text(message(Kind.UPDATE, changes=changes))

    lines = text.splitlines()
    assert lines[1] == "Updated upstream"
    assert "  - status: open → closed" in lines
    assert "  - resources: +i-a +i-b; -i-c; i-d: ok → impaired" in lines
    assert "  - accounts: +333333333333" in lines
    assert "  - description updated: y is new" in lines


def test_text_reminder_and_answer_lines() -> None:
    reminder = render_text(message(Kind.REMINDER, reminder_days=7))
    answer = render_text(message(Kind.ANSWER, answer=ANSWER.model_copy(update={"note": "on it"})))

    assert "Reminder: deadline in 7 days, not acknowledged yet" in reminder.splitlines()
    assert 'Acknowledged by alice via slack at 2026-03-01 14:00 UTC: "on it"' in answer.splitlines()


def test_text_reminder_without_explicit_offset_uses_days_left() -> None:
    msg = message(Kind.REMINDER, event_extra={"deadline_at": T0 + timedelta(days=1)})

    assert "Reminder: deadline in 1 day, not acknowledged yet" in render_text(msg)


def test_text_overdue_deadline_and_closed_status() -> None:
    msg = message(event_extra={"deadline_at": T0 - timedelta(days=2), "status": Status.CLOSED})

    text = render_text(msg)

    assert "Deadline: 2026-02-27 12:00 UTC (overdue by 2 days)" in text
    assert "Status: closed" in text


def test_text_title_cannot_forge_lines_or_terminal_escapes() -> None:
    msg = message(event_extra={"description": "a\x1b[31mred"}).model_copy(
        update={"title": "x\n[CRITICAL] forged"}
    )

    text = render_text(msg)

    assert text.splitlines()[0] == "[HIGH] x [CRITICAL] forged (severity raised from medium)"
    assert "\x1b" not in text


def test_text_without_optional_fields() -> None:
    event = make_event(accounts=())
    msg = message_for(event, kind=Kind.CARD, at=T0)

    assert render_text(msg) == (
        "[MEDIUM] test event test:one\n"
        "Source: test · TEST_EVENT\n"
        "Status: open · lifecycle routed\n"
        "\n"
        "  something happened"
    )
