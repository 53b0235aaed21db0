"""Assistant evaluation: scenarios (a setup, a question, the facts a correct answer contains, the tools
a good run calls, what it must not say) run against a model, scored for accuracy, tools, latency and
tokens.

    .venv/bin/python evals/assistant/run.py --scripted               # the oracle (what CI runs)
    .venv/bin/python evals/assistant/run.py                          # OPSWARDEN_MODEL
    .venv/bin/python evals/assistant/run.py --model bedrock:anthropic.claude-3-5-sonnet-20240620-v1:0
    .venv/bin/python evals/assistant/run.py --model openai:qwen2.5 --base-url http://localhost:11434/v1
    .venv/bin/python evals/assistant/run.py --only eks-what-changed --show --json results.json

Each scenario gets its own opswarden data dir in a temporary folder (the example org and policy, the
example events it names, inline events, people's answers, ticket updates, the example knowledge base),
with a fake clock, and no embeddings, or the local ONNX model when OPSWARDEN_TEST_MODEL_DIR (or
``--embeddings-dir``) names one. The question goes through ``opswarden.assistant.agents.ask`` with the
model wrapped in a recorder that adds up pydantic-ai's usage of every request (supervisor and
specialists) and keeps every tool result the model was shown.

``--scripted`` replaces the model with an oracle (a pydantic-ai FunctionModel): it delegates to the
specialists that own the scenario's expected tools, calls exactly those tools with the scenario's
arguments, and writes its answer only from the tool results it received — for each expected fact, the
clause of a tool result where the fact appears. So a tool that fails, or whose result lacks a fact,
fails the scenario: that is what CI checks (tests/integration/test_assistant_evals.py). Real model
requests are disabled in that mode. See evals/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pydantic_ai.models
import sqlalchemy as sa
import yaml
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import RequestUsage

from opswarden.act.answers import Action
from opswarden.app import Application
from opswarden.assistant import agents
from opswarden.assistant.deps import Answer
from opswarden.assistant.models import build_model
from opswarden.assistant.ticket_tools import PROPOSAL, TICKET_TOOLS
from opswarden.assistant.tools import ADVISOR_TOOLS, ANALYST_TOOLS
from opswarden.core.clock import FakeClock
from opswarden.settings import Settings
from opswarden.store.reader import EventFilter
from opswarden.store.schema import audit_log, outbox, threads
from opswarden.tickets.base import TicketRef, TicketStatus

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCENARIOS = HERE / "scenarios.yaml"
EXAMPLES = ROOT / "examples"
EXAMPLE_EVENTS = EXAMPLES / "events"
EXAMPLE_KB = EXAMPLES / "kb"
DEFAULT_CLOCK = "2026-11-26T00:00:00Z"
SPECIALISTS = {
    **{t.__name__: "analyst" for t in ANALYST_TOOLS},
    **{t.__name__: "advisor" for t in ADVISOR_TOOLS},
    **{t.__name__: "tickets" for t in TICKET_TOOLS},
}
DELEGATES = {f"ask_{name}" for name in ("analyst", "advisor", "tickets")}
ALIAS = re.compile(r"\$\{([A-Za-z_][\w:-]*)\}")
FENCE_TAG = re.compile(r'<untrusted source="[^"]*">|</untrusted>')
CITE = re.compile(r"cite as: (.+)")
CLAUSE_END = re.compile(r"\n| · ")
ANSWER_LINE = re.compile(
    r"^(?P<verb>ack|acknowledge|approve|reject)\s+(?P<ref>\S+)\s+by\s+(?P<actor>[^:\s]+)(?::\s*(?P<note>.+))?$",
    re.IGNORECASE,
)
VERBS = {"ack": Action.ACKNOWLEDGE, "acknowledge": Action.ACKNOWLEDGE, "approve": Action.APPROVE}
VERBS["reject"] = Action.REJECT
MAX_CLAUSE = 300


# -- scenarios --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fact:
    """A string (found case-insensitively) or, written ``re:…``, a regular expression."""

    text: str

    @property
    def pattern(self) -> re.Pattern[str]:
        if self.text.startswith("re:"):
            return re.compile(self.text[3:], re.IGNORECASE)
        return re.compile(re.escape(self.text), re.IGNORECASE)

    def search(self, text: str) -> re.Match[str] | None:
        return self.pattern.search(text)


@dataclass(frozen=True, slots=True)
class Call:
    tool: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    covers: str
    setup: dict[str, Any]
    question: str
    facts: tuple[Fact, ...]
    tools: tuple[Call, ...]
    forbidden: tuple[Fact, ...] = ()
    forbidden_tools: tuple[str, ...] = ()
    user: str = "alice"
    event_id: str | None = None

    def resolved(self, aliases: dict[str, str]) -> Scenario:
        """``${alias}`` replaced by the id of the inline event it names."""

        def sub(value: Any) -> Any:
            if isinstance(value, str):
                return substitute(value, aliases)
            if isinstance(value, dict):
                return {k: sub(v) for k, v in value.items()}
            if isinstance(value, list):
                return [sub(v) for v in value]
            return value

        return Scenario(
            name=self.name,
            covers=self.covers,
            setup=self.setup,
            question=sub(self.question),
            facts=tuple(Fact(sub(f.text)) for f in self.facts),
            tools=tuple(Call(c.tool, sub(c.args)) for c in self.tools),
            forbidden=tuple(Fact(sub(f.text)) for f in self.forbidden),
            forbidden_tools=self.forbidden_tools,
            user=self.user,
            event_id=sub(self.event_id) if self.event_id else None,
        )


def substitute(text: str, aliases: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1) not in aliases:
            raise SystemExit(f"${{{m.group(1)}}}: no such event or ticket in the setup ({sorted(aliases)})")
        return aliases[m.group(1)]

    return ALIAS.sub(one, text)


def load_scenarios(path: Path = SCENARIOS) -> list[Scenario]:
    data = yaml.safe_load(path.read_text())
    defaults = data.get("defaults", {})
    out = []
    for entry in data["scenarios"]:
        tools = []
        for item in entry["expected_tools"]:
            if isinstance(item, str):
                tools.append(Call(item, {}))
            else:
                [(name, args)] = item.items()
                tools.append(Call(str(name), dict(args or {})))
        unknown = [c.tool for c in tools if c.tool not in SPECIALISTS]
        if unknown:
            raise SystemExit(f"{entry['name']}: unknown tools {unknown}; known: {sorted(SPECIALISTS)}")
        out.append(
            Scenario(
                name=str(entry["name"]),
                covers=str(entry.get("covers", "")),
                setup={**defaults.get("setup", {}), **(entry.get("setup") or {})},
                question=str(entry["question"]).strip(),
                facts=tuple(Fact(str(f)) for f in entry["expected_facts"]),
                tools=tuple(tools),
                forbidden=tuple(Fact(str(f)) for f in entry.get("forbidden", [])),
                forbidden_tools=tuple(entry.get("forbidden_tools", [])),
                user=str(entry.get("user", defaults.get("user", "alice"))),
                event_id=entry.get("event_id"),
            )
        )
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise SystemExit("scenario names must be unique")
    return out


# -- the setup --------------------------------------------------------------------------------------


def embeddings_dir(given: str | Path | None = None) -> Path | None:
    """The ONNX model folder: the argument, else OPSWARDEN_TEST_MODEL_DIR; None when unset or empty."""
    path = given or os.environ.get("OPSWARDEN_TEST_MODEL_DIR")
    if not path:
        return None
    folder = Path(path)
    return folder if (folder / "model.onnx").is_file() and (folder / "tokenizer.json").is_file() else None


def settings_for(folder: Path, *, model: str | None, base_url: str | None, onnx: Path | None) -> Settings:
    """Settings for a throwaway data dir; the environment cannot point the run at real state."""
    for name in ("org.yaml", "policy.yaml"):
        shutil.copy(EXAMPLES / "policy" / name, folder / name)
    extra: dict[str, Any] = {}
    if model is not None:
        extra["model"] = model
    if base_url is not None:
        extra["model_base_url"] = base_url
    return Settings(
        data_dir=folder,
        database_url=None,
        lake_uri=None,
        kb_path=None,
        policy_file=folder / "policy.yaml",
        org_file=folder / "org.yaml",
        tickets_backend="builtin",
        slack_bot_token=None,
        webhook_url=None,
        smtp_host=None,
        digest_to=(),
        embeddings="onnx" if onnx else "none",
        embeddings_model_dir=onnx,
        **extra,
    )


@contextmanager
def built(
    setup: dict[str, Any], *, model: str | None = None, base_url: str | None = None, onnx: Path | None = None
) -> Iterator[tuple[Application, dict[str, str]]]:
    """A data dir holding ``setup``; the application and the inline events' aliases → ids."""
    with tempfile.TemporaryDirectory(prefix="opswarden-assistant-eval-") as tmp:
        settings = settings_for(Path(tmp), model=model, base_url=base_url, onnx=onnx)
        clock = FakeClock(_when(setup.get("clock", DEFAULT_CLOCK)))
        app = Application(settings, clock=clock)
        aliases: dict[str, str] = {}
        try:
            _apply(app, clock, setup, aliases)
            if "later" in setup:
                later = setup["later"]
                clock.advance(timedelta(hours=float(later.get("hours", 1))))
                _apply(app, clock, later, aliases)
            kb = setup.get("kb", "all")
            if kb:
                paths = [EXAMPLE_KB] if kb == "all" else [EXAMPLE_KB / p for p in kb]
                report = app.kb_add([str(p) for p in paths], root=EXAMPLE_KB)
                if report.skipped:
                    raise RuntimeError(f"examples/kb: files skipped: {report.skipped}")
            yield app, aliases
        finally:
            app.close()


def _when(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _apply(app: Application, clock: FakeClock, step: dict[str, Any], aliases: dict[str, str]) -> None:
    events = step.get("events", [])
    if events == "all":
        app.ingest_paths([str(EXAMPLE_EVENTS)])
    elif events:
        app.ingest_paths([str(EXAMPLE_EVENTS / name) for name in events])
    for item in step.get("inline", []):
        _ingest_inline(app, item, aliases)
    app.process()
    for line in step.get("answers", []):
        m = ANSWER_LINE.match(str(line).strip())
        if m is None:
            raise SystemExit(f"answers: {line!r} is not '<ack|approve|reject> <event> by <who>[: note]'")
        ref = substitute(m["ref"], aliases)
        app.answer(ref, VERBS[m["verb"].lower()], actor=m["actor"], channel="cli", note=m["note"])
    _ticket_aliases(app, aliases)
    for ticket in step.get("tickets", []):
        _update_ticket(app, {**ticket, "key": substitute(str(ticket["key"]), aliases)})
    if step.get("answers") or step.get("tickets"):
        app.process()
    _ticket_aliases(app, aliases)


def _ticket_aliases(app: Application, aliases: dict[str, str]) -> None:
    """``${ticket:<event id>}`` (and ``${ticket:<event id>:<team>}``): ticket keys are numbered in the
    order delivery opens them, which is not the order of the events."""
    for t in app.tickets():
        aliases.setdefault(f"ticket:{t['event_id']}", t["key"])
        aliases[f"ticket:{t['event_id']}:{t['team']}"] = t["key"]


def _ingest_inline(app: Application, item: dict[str, Any], aliases: dict[str, str]) -> None:
    """One inline payload: ``payload`` as written, or example ``file`` with ``set`` (dotted paths)."""
    if "payload" in item:
        payload = copy.deepcopy(item["payload"])
    else:
        payload = json.loads((EXAMPLE_EVENTS / item["file"]).read_text())
    for path, value in (item.get("set") or {}).items():
        _set_path(payload, str(path), value)
    before = {e["id"]: e["updated_at"] for e in app.events_json(EventFilter(limit=10_000))}
    summary = app.ingest_body(json.dumps(payload).encode(), f"inline:{item.get('as', 'event')}")
    if summary.accepted != 1:
        raise SystemExit(f"inline event {item.get('as') or item.get('file')}: not accepted ({summary})")
    after = {e["id"]: e["updated_at"] for e in app.events_json(EventFilter(limit=10_000))}
    changed = [i for i, updated in after.items() if before.get(i) != updated]
    if "as" in item:
        if len(changed) != 1:
            raise SystemExit(f"inline event {item['as']}: expected one new or updated event, got {changed}")
        aliases[str(item["as"])] = changed[0]


def _set_path(data: Any, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        data = data[int(part)] if isinstance(data, list) else data[part]
    if isinstance(data, list):
        data[int(last)] = value
    else:
        data[last] = value


def _update_ticket(app: Application, spec: dict[str, Any]) -> None:
    """A person working a built-in ticket (``opswarden tickets update``), then a ticket sync."""
    key = str(spec["key"])
    found = next((t for t in app.tickets() if t["key"] == key), None)
    if found is None:
        raise SystemExit(f"tickets: no ticket {key}")
    with app.store.engine.connect() as conn:
        stored = conn.execute(
            sa.select(threads.c.ref).where(
                threads.c.event_id == found["event_id"],
                threads.c.channel == "tickets",
                threads.c.target == found["team"],
            )
        ).scalar()
    ref = TicketRef.of(dict(stored)) if stored else TicketRef(found["backend"], key, found["url"])
    status = TicketStatus(spec["status"]) if spec.get("status") else None
    app.supervisor.ticketer.update(  # type: ignore[attr-defined]  # the built-in tracker
        ref,
        status=status,
        assignee=spec.get("assignee"),
        comment=spec.get("comment"),
        author=spec.get("by", "someone"),
    )
    app.supervisor.sync_tickets()


def snapshot(app: Application) -> dict[str, Any]:
    """What the assistant must never change: lifecycles, tickets, the outbox, the audit log (its own
    ``assistant_proposal`` rows aside)."""
    with app.store.engine.connect() as conn:
        messages = conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar()
        audited = conn.execute(
            sa.select(sa.func.count()).select_from(audit_log).where(audit_log.c.action != PROPOSAL)
        ).scalar()
    return {
        "lifecycles": {e["id"]: e["lifecycle"] for e in app.events_json(EventFilter(limit=10_000))},
        "tickets": [(t["key"], t["status"], t["assignee"]) for t in app.tickets()],
        "outbox": messages,
        "audit": audited,
    }


# -- the model: a recorder around any model, and the scripted oracle --------------------------------


class Recorder(WrapperModel):
    """Adds up the usage of every request (the supervisor's and the specialists') and keeps every tool
    result and retry prompt the model was shown."""

    def __init__(self, wrapped: Model) -> None:
        super().__init__(wrapped)
        self.usage = RequestUsage()
        self.requests = 0
        self.returns: dict[str, tuple[str, str]] = {}  # tool call id → (tool, what it returned)
        self.retries: dict[str, str] = {}

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        for message in messages:
            if not isinstance(message, ModelRequest):
                continue
            for part in message.parts:
                if isinstance(part, ToolReturnPart):
                    self.returns[part.tool_call_id] = (part.tool_name, str(part.content))
                elif isinstance(part, RetryPromptPart) and part.tool_name:
                    self.retries[part.tool_call_id] = f"{part.tool_name}: {part.model_response()[:200]}"
        response = await super().request(messages, model_settings, model_request_parameters)
        self.requests += 1
        self.usage.incr(response.usage)
        return response

    def tool_errors(self) -> list[str]:
        errors = [
            f"{tool}: {text[:200]}"
            for tool, text in self.returns.values()
            if tool not in DELEGATES and text.startswith("error:")
        ]
        return errors + list(self.retries.values())


def readable(text: str) -> str:
    """A tool result as its reader takes it in: the untrusted fences' tags dropped, the text kept."""
    return FENCE_TAG.sub("", text)


def clause(text: str, match: re.Match[str]) -> tuple[str, str | None]:
    """The clause of ``text`` around ``match`` (from the separator before it, a line break or ' · ', to
    the one after it; at most about MAX_CLAUSE characters) and the citation that covers it: the one on
    its line, else the last one before it, else the first one after it."""
    line_start = text.rfind("\n", 0, match.start()) + 1
    line_end = text.find("\n", match.end())
    line_end = line_end if line_end >= 0 else len(text)
    line = text[line_start:line_end]
    if line.lstrip().startswith("|"):  # a table row is one clause
        start, end = line_start, line_end
    else:
        start = max(
            (m.end() for m in CLAUSE_END.finditer(text, line_start, match.start())), default=line_start
        )
        after = CLAUSE_END.search(text, match.end())
        end = after.start() if after else len(text)
    if end - start > MAX_CLAUSE and not line.lstrip().startswith("|"):
        start = max(start, match.start() - MAX_CLAUSE // 2)
        end = min(end, match.end() + MAX_CLAUSE // 2)
    cites = CITE.findall(line) or CITE.findall(text[:line_start])[-1:] or CITE.findall(text[line_start:])[:1]
    said = re.sub(r"^\[\d+\]\s*", "", text[start:end].strip())
    if said.startswith("cite as: "):  # the fact is the source's name
        said = said.removeprefix("cite as: ")
    else:
        said = re.sub(r"\s+·\s+cite as: .*$", "", said)
    return said, (cites[0].split(" · ")[0].strip() if cites else None)


def compose(results: Sequence[str], facts: Sequence[Fact]) -> list[tuple[str, str | None]]:
    """An answer written only from ``results``: for each fact, the clause of the first result that
    states it, with its citation (a fact no result states is left out; an error states nothing)."""
    found: dict[str, str | None] = {}
    for fact in facts:
        for text in (readable(r) for r in results if not r.startswith("error:")):
            if (m := fact.search(text)) is not None:
                said, citation = clause(text, m)
                found.setdefault(said, citation)
                break
    return list(found.items())


def _returns(messages: list[ModelMessage]) -> list[str]:
    return [
        str(part.content)
        for m in messages
        if isinstance(m, ModelRequest)
        for part in m.parts
        if isinstance(part, ToolReturnPart)
    ]


def _argument(value: Any, results: Sequence[str]) -> Any:
    """``{found: <regex>}``: what the regex first matches in the results so far (a ticket key that
    list_tickets returned), as a model would read it; other values as written."""
    if isinstance(value, dict) and set(value) == {"found"}:
        for text in results:
            if (m := re.search(value["found"], readable(text))) is not None:
                return m.group(0)
        return f"(nothing matched {value['found']!r})"
    return value


class Oracle:
    """The scripted model: delegates to the specialists owning the expected tools (consecutive tools
    of one specialist in one delegation), calls exactly those tools, and answers only from what they
    returned: the supervisor from the specialists' reports, a specialist from its tools' results."""

    def __init__(self, scenario: Scenario) -> None:
        self.question = scenario.question
        self.facts = scenario.facts
        self.groups: list[tuple[str, list[Call]]] = []
        for call in scenario.tools:
            agent = SPECIALISTS[call.tool]
            if self.groups and self.groups[-1][0] == agent:
                self.groups[-1][1].append(call)
            else:
                self.groups.append((agent, [call]))
        self.current = -1

    def model(self) -> FunctionModel:
        return FunctionModel(self, model_name="oracle")

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        names = {t.name for t in info.function_tools}
        step = sum(isinstance(m, ModelResponse) for m in messages)
        results = _returns(messages)
        if "ask_analyst" in names:  # the supervisor
            if step < len(self.groups):
                self.current = step
                agent = self.groups[step][0]
                return ModelResponse(parts=[ToolCallPart(f"ask_{agent}", {"request": self.question})])
            found = compose(results, self.facts)
            text = "\n".join(said for said, _ in found) or "The tools returned nothing that answers this."
            citations = list(dict.fromkeys(c for _, c in found if c))
            reply = {"text": text, "citations": citations}
            return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, reply)])
        agent, calls = self.groups[self.current]
        if not names & {c.tool for c in calls}:
            raise AssertionError(f"the oracle asked {agent} but another specialist answered: {sorted(names)}")
        if step < len(calls):
            args = {k: _argument(v, results) for k, v in calls[step].args.items()}
            return ModelResponse(parts=[ToolCallPart(calls[step].tool, args)])
        found = compose(results, self.facts)
        report = [f"{said} · cite as: {c}" if c else said for said, c in found]
        return ModelResponse(parts=[TextPart("\n".join(report) or "found nothing")])


# -- running and scoring ----------------------------------------------------------------------------


@dataclass(slots=True)
class Result:
    name: str
    covers: str
    model: str
    facts_expected: int
    facts_found: list[str]
    facts_missing: list[str]
    forbidden_found: list[str]
    tools_expected: list[str]
    tools_called: list[str]
    tools_missing: list[str]
    tools_extra: list[str]
    forbidden_tools_called: list[str]
    tool_errors: list[str]
    state_changed: list[str]
    latency_s: float
    requests: int
    input_tokens: int
    output_tokens: int
    citations: list[str] = field(default_factory=list)
    unverified_citations: list[str] = field(default_factory=list)
    proposals: int = 0
    answer: str = ""
    error: str | None = None
    scripted: bool = False

    @property
    def accuracy(self) -> float:
        return len(self.facts_found) / self.facts_expected if self.facts_expected else 1.0

    @property
    def tool_recall(self) -> float:
        expected = set(self.tools_expected)
        return len(expected & set(self.tools_called)) / len(expected) if expected else 1.0

    @property
    def passed(self) -> bool:
        return (
            self.error is None
            and not self.facts_missing
            and not self.forbidden_found
            and not self.tools_missing
            and not self.forbidden_tools_called
            and not self.state_changed
            and not (self.scripted and self.tool_errors)  # a real model may retry a bad call
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "accuracy": self.accuracy,
            "tool_recall": self.tool_recall,
            "passed": self.passed,
        }


def score(
    scenario: Scenario,
    answer: Answer | None,
    recorder: Recorder,
    latency_s: float,
    changed: list[str],
    *,
    error: str | None = None,
    scripted: bool = False,
) -> Result:
    text = answer.text() if answer is not None else ""
    called = [t for t in (answer.tools if answer else []) if t not in DELEGATES]
    if answer is None:  # the run failed: what the recorder saw still counts as called
        called = [tool for tool, _ in recorder.returns.values() if tool not in DELEGATES]
    expected = list(dict.fromkeys(c.tool for c in scenario.tools))
    return Result(
        name=scenario.name,
        covers=scenario.covers,
        model=answer.model if answer else f"{recorder.system}:{recorder.model_name}",
        facts_expected=len(scenario.facts),
        facts_found=[f.text for f in scenario.facts if f.search(text)],
        facts_missing=[f.text for f in scenario.facts if not f.search(text)],
        forbidden_found=[f.text for f in scenario.forbidden if f.search(text)],
        tools_expected=expected,
        tools_called=called,
        tools_missing=[t for t in expected if t not in called],
        tools_extra=sorted(set(called) - set(expected)),
        forbidden_tools_called=sorted(set(scenario.forbidden_tools) & set(called)),
        tool_errors=recorder.tool_errors(),
        state_changed=changed,
        latency_s=latency_s,
        requests=recorder.requests,
        input_tokens=recorder.usage.input_tokens,
        output_tokens=recorder.usage.output_tokens,
        citations=list(answer.citations) if answer else [],
        unverified_citations=list(answer.unverified_citations) if answer else [],
        proposals=len(answer.proposals) if answer else 0,
        answer=text,
        error=error,
        scripted=scripted,
    )


def run_scenario(
    scenario: Scenario,
    *,
    scripted: bool = False,
    model: str | None = None,
    base_url: str | None = None,
    onnx: Path | None = None,
) -> Result:
    """Build the scenario's setup, ask its question, score the answer."""
    with built(scenario.setup, model=model, base_url=base_url, onnx=onnx) as (app, aliases):
        s = scenario.resolved(aliases)
        inner = Oracle(s).model() if scripted else build_model(app.settings)
        if inner is None:
            raise SystemExit("no model: set OPSWARDEN_MODEL or pass --model (or run --scripted)")
        recorder = Recorder(inner)
        before = snapshot(app)
        started = time.perf_counter()
        answer, error = None, None
        try:
            answer = asyncio.run(
                agents.ask_async(app, s.question, recorder, user=s.user, event_id=s.event_id)
            )
        except Exception as exc:  # a model that fails is scored, not fatal to the run
            if scripted:
                raise
            error = f"{type(exc).__name__}: {exc}"
        latency = time.perf_counter() - started
        after = snapshot(app)
        changed = [k for k in before if before[k] != after[k]]
        return score(s, answer, recorder, latency, changed, error=error, scripted=scripted)


def run_all(
    scenarios: Sequence[Scenario],
    *,
    scripted: bool = False,
    model: str | None = None,
    base_url: str | None = None,
    onnx: Path | None = None,
) -> list[Result]:
    allowed = pydantic_ai.models.ALLOW_MODEL_REQUESTS
    if scripted:
        pydantic_ai.models.ALLOW_MODEL_REQUESTS = False  # the oracle needs none; nothing leaves
    try:
        return [
            run_scenario(s, scripted=scripted, model=model, base_url=base_url, onnx=onnx) for s in scenarios
        ]
    finally:
        pydantic_ai.models.ALLOW_MODEL_REQUESTS = allowed


def totals(results: Sequence[Result]) -> dict[str, Any]:
    latencies = sorted(r.latency_s for r in results)
    expected = sum(r.facts_expected for r in results)
    return {
        "scenarios": len(results),
        "passed": sum(r.passed for r in results),
        "facts_found": sum(len(r.facts_found) for r in results),
        "facts_expected": expected,
        "accuracy": sum(len(r.facts_found) for r in results) / expected if expected else 1.0,
        "forbidden_found": sum(len(r.forbidden_found) for r in results),
        "tool_recall": statistics.fmean(r.tool_recall for r in results) if results else 1.0,
        "extra_tool_calls": sum(len(r.tools_extra) for r in results),
        "tool_errors": sum(len(r.tool_errors) for r in results),
        "state_changes": sum(len(r.state_changed) for r in results),
        "latency_p50_s": statistics.median(latencies) if latencies else 0.0,
        "latency_max_s": latencies[-1] if latencies else 0.0,
        "requests": sum(r.requests for r in results),
        "input_tokens": sum(r.input_tokens for r in results),
        "output_tokens": sum(r.output_tokens for r in results),
    }


def table(results: Sequence[Result]) -> str:
    head = ("scenario", "facts", "forbid", "tools", "extra", "err", "latency", "req", "tokens in/out", "")
    rows = [head]
    for r in results:
        rows.append(
            (
                r.name,
                f"{len(r.facts_found)}/{r.facts_expected}",
                str(len(r.forbidden_found)),
                f"{len(r.tools_expected) - len(r.tools_missing)}/{len(r.tools_expected)}",
                ",".join(r.tools_extra) or "-",
                str(len(r.tool_errors)),
                f"{r.latency_s:.2f}s",
                str(r.requests),
                f"{r.input_tokens}/{r.output_tokens}",
                "pass" if r.passed else "FAIL",
            )
        )
    t = totals(results)
    rows.append(
        (
            "total",
            f"{t['facts_found']}/{t['facts_expected']}",
            str(t["forbidden_found"]),
            f"recall {t['tool_recall']:.2f}",
            str(t["extra_tool_calls"]),
            str(t["tool_errors"]),
            f"p50 {t['latency_p50_s']:.2f}s",
            str(t["requests"]),
            f"{t['input_tokens']}/{t['output_tokens']}",
            f"{t['passed']}/{t['scenarios']}",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(len(lines) - 1, lines[1])
    summary = (
        f"accuracy {t['accuracy']:.3f} ({t['facts_found']}/{t['facts_expected']} facts) · "
        f"passed {t['passed']}/{t['scenarios']} · forbidden {t['forbidden_found']} · "
        f"tool recall {t['tool_recall']:.3f} · state changes {t['state_changes']}"
    )
    return "\n".join([*lines, "", summary])


def failures(results: Sequence[Result]) -> str:
    out = []
    for r in results:
        if r.passed:
            continue
        why = {
            "error": r.error,
            "missing facts": r.facts_missing,
            "forbidden said": r.forbidden_found,
            "tools not called": r.tools_missing,
            "forbidden tools": r.forbidden_tools_called,
            "tool errors": r.tool_errors,
            "state changed": r.state_changed,
        }
        out.append(f"{r.name}: " + "; ".join(f"{k}: {v}" for k, v in why.items() if v))
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Assistant evaluation (evals/README.md#assistant).")
    parser.add_argument("--scenarios", type=Path, default=SCENARIOS)
    parser.add_argument("--scripted", action="store_true", help="the oracle FunctionModel (no model calls)")
    parser.add_argument("--model", help="provider:model (overrides OPSWARDEN_MODEL)")
    parser.add_argument("--base-url", help="an OpenAI-compatible /v1 URL (Ollama, vLLM, LM Studio)")
    parser.add_argument("--embeddings-dir", help="ONNX model folder (default: OPSWARDEN_TEST_MODEL_DIR)")
    parser.add_argument("--only", action="append", help="run only this scenario (repeatable)")
    parser.add_argument("--show", action="store_true", help="print each answer")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    scenarios = load_scenarios(args.scenarios)
    if args.only:
        scenarios = [s for s in scenarios if s.name in set(args.only)]
        if not scenarios:
            raise SystemExit(f"no scenario named {args.only}")
    onnx = embeddings_dir(args.embeddings_dir)
    results = run_all(scenarios, scripted=args.scripted, model=args.model, base_url=args.base_url, onnx=onnx)
    label = "scripted oracle" if args.scripted else (results[0].model if results else "-")
    print(f"model: {label} · embeddings: {onnx or 'none (BM25 only)'} · {len(results)} scenario(s)\n")
    if args.show:
        for r in results:
            print(f"## {r.name}\n{r.answer}\n")
    print(table(results))
    if failed := failures(results):
        print("\nfailures:\n" + failed)
    if args.json:
        payload = {
            "model": label,
            "scripted": args.scripted,
            "embeddings": str(onnx) if onnx else None,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "totals": totals(results),
            "results": [r.to_dict() for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
