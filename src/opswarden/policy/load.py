"""YAML text → :class:`Policy` / :class:`Org`, or a ConfigurationError naming file, line and the fix.

PyYAML composes the document into nodes that carry their line; the nodes become plain data plus a map
from each path (``("route", "routes", 2, "severity")``) to its line, and pydantic's error locations
are looked up in that map. Messages read like a compiler's::

    policy.yaml:14: unknown decision 'supress': did you mean 'suppress'?
    policy.yaml:22: severity must be one of critical, high, medium, low, informational (got 'hihg')
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from opswarden.errors import ConfigurationError
from opswarden.policy.model import OWNER, Ai, Band, ByDeadline, Policy, Route, Silence
from opswarden.policy.org import Account, LocatedError, Org, Team

Path_ = tuple[str | int, ...]
_M = TypeVar("_M", bound=BaseModel)
_LEADING_ZERO = re.compile(r"0\d+")
_QUOTED = re.compile(r"'([^']*)'")


class _Document:
    """Plain data from YAML text, with the line of every mapping key and list item."""

    def __init__(self, text: str, filename: str) -> None:
        self.filename = filename
        self.lines: dict[Path_, int] = {}
        self._loader = yaml.SafeLoader(text)
        try:
            node = self._loader.get_single_node()
            self.data = None if node is None else self._build(node, ())
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = f":{mark.line + 1}" if mark else ""
            raise ConfigurationError(f"{filename}{line}: not valid YAML: {exc.problem}") from None
        finally:
            self._loader.dispose()

    def _build(self, node: yaml.Node, path: Path_) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(self._loader.construct_object(key_node))
                if key in out:
                    raise self.error((*path, key), f"{key!r} is written twice", key_node.start_mark.line + 1)
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                out[key] = self._build(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._build(item, (*path, i)) for i, item in enumerate(node.value)]
        if node.tag.endswith(":int") and _LEADING_ZERO.fullmatch(node.value):
            return node.value  # an account id like 012345670123, not an octal number
        return self._loader.construct_object(node)

    def line(self, path: Sequence[str | int]) -> int:
        """The line of ``path``, or of its nearest ancestor that is in the file."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return 1

    def error(self, path: Sequence[str | int], message: str, line: int | None = None) -> ConfigurationError:
        return ConfigurationError(f"{self.filename}:{line or self.line(path)}: {message}")


def load_policy(text: str, filename: str = "policy.yaml", org: Org | None = None) -> Policy:
    """The policy in ``text``; with ``org``, every team a route names must exist in it."""
    doc = _Document(text, filename)
    if not isinstance(doc.data, dict):
        raise doc.error((), "a policy needs a root route: start with 'route:' and a name")
    policy = _validate(Policy, doc)
    if org is not None:
        problems = []
        for path, ref in policy.team_refs():
            if ref != OWNER and org.team(ref) is None:
                known = ", ".join(t.id for t in org.teams)
                problems.append(
                    doc.error(
                        path,
                        f"unknown team {ref!r}{_suggest(ref, [*_team_refs(org), OWNER])} (teams: {known}, owner)",
                    )
                )
        _raise(problems)
    return policy


def load_org(text: str, filename: str = "org.yaml") -> Org:
    doc = _Document(text, filename)
    if doc.data is None:
        return Org()
    if not isinstance(doc.data, dict):
        raise doc.error((), "org.yaml holds a mapping with 'teams:' and 'accounts:' lists")
    return _validate(Org, doc)


def _team_refs(org: Org) -> list[str]:
    return [ref for t in org.teams for ref in (t.id, t.name)]


def _validate(model: type[_M], doc: _Document) -> _M:
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        errors = exc.errors()
        # A list whose item failed is also reported "too short": the item's error says it all.
        inner = [e["loc"] for e in errors]
        errors = [
            e
            for e in errors
            if e["type"] != "too_short"
            or not any(len(i) > len(e["loc"]) and i[: len(e["loc"])] == e["loc"] for i in inner)
        ]
        _raise([_problem(doc, error) for error in errors])
        raise AssertionError("unreachable") from None


def _raise(problems: list[ConfigurationError]) -> None:
    """All problems, in line order, one per line of the message."""
    if not problems:
        return

    def line_of(problem: ConfigurationError) -> int:
        return int(str(problem).split(":", 2)[1])

    messages = list(dict.fromkeys(str(p) for p in sorted(problems, key=line_of)))
    raise ConfigurationError("\n".join(messages))


# -- pydantic errors → what to write instead ----------------------------------------------------------------

_KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "route": tuple(f.alias or n for n, f in Route.model_fields.items()),
    "silence": tuple(Silence.model_fields),
    "band": tuple(Band.model_fields),
    "severity": tuple(ByDeadline.model_fields),
    "policy": tuple(Policy.model_fields),
    "policy's ai section": tuple(Ai.model_fields),
    "account": tuple(Account.model_fields),
    "team": tuple(Team.model_fields),
    "org": tuple(Org.model_fields),
}


def _real_path(data: Any, loc: Sequence[str | int]) -> Path_:
    """The part of a pydantic location that is in the data (tags of unions and the like dropped)."""
    path: list[str | int] = []
    for part in loc:
        inside = (isinstance(data, dict) and part in data) or (
            isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        )
        if not inside:
            continue
        data = data[part]
        path.append(part)
    return tuple(path)


def _container(path: Path_, top: str) -> str:
    """What kind of mapping holds the key at ``path``: route, silence, band, account …"""
    parent = [p for p in path[:-1] if isinstance(p, str)]
    if not parent:
        return top
    last = parent[-1]
    kinds = {"routes": "route", "route": "route", "silences": "silence", "by_deadline": "band"}
    kinds |= {"severity": "severity", "accounts": "account", "teams": "team", "ai": "policy's ai section"}
    return kinds.get(last, top)


def _problem(doc: _Document, error: Any) -> ConfigurationError:
    top = (
        "org" if isinstance(doc.data, dict) and ("accounts" in doc.data or "teams" in doc.data) else "policy"
    )
    path = _real_path(doc.data, error["loc"])
    kind, message = error["type"], error["msg"]
    cause = (error.get("ctx") or {}).get("error")
    field = next((p for p in reversed(path) if isinstance(p, str)), "value")
    given = error.get("input")
    if isinstance(cause, LocatedError):
        path = _real_path(doc.data, (*path, *cause.path))
        return doc.error(path, str(cause))
    if kind == "extra_forbidden":
        container = _container(path, top)
        known = _KNOWN_KEYS.get(container, ())
        hint = _suggest(field, known) or f" (write one of: {', '.join(known)})"
        what = (
            f"unknown decision {field!r}"
            if container == "route"
            else f"unknown key {field!r} in a {container}"
        )
        return doc.error(path, what + hint)
    if kind == "missing":
        wanted = str(error["loc"][-1])
        container = _container((*path, wanted), top)
        return doc.error(path, f"this {container} needs {wanted!r}")
    if kind in ("enum", "literal_error"):
        choices = _QUOTED.findall(error.get("ctx", {}).get("expected", ""))
        shown = f" (got {given!r}){_suggest(str(given), choices)}"
        return doc.error(path, f"{field} must be one of {', '.join(choices)}{shown}")
    if kind in {"bool_type", "bool_parsing"}:
        return doc.error(path, f"{field} must be true or false (got {given!r})")
    label = _label(path, field)
    if kind.startswith("int_"):
        return doc.error(path, f"{label} must be a whole number (got {given!r})")
    if kind.startswith("float_"):
        return doc.error(path, f"{label} must be a number (got {given!r})")
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return doc.error(path, f"{label} must be a mapping of keys to values (got {given!r})")
    if kind in ("tuple_type", "list_type"):
        return doc.error(path, f"{field} must be a list, e.g. {field}: [a, b] (got {given!r})")
    if kind in ("datetime_parsing", "datetime_type", "datetime_from_date_parsing"):
        return doc.error(path, f"{field} must be a time like 2026-12-01T00:00:00Z (got {given!r})")
    if kind == "value_error" and cause is not None:
        message = str(cause)
    return doc.error(path, f"{field}: {message}")


def _label(path: Path_, field: str) -> str:
    """``reminders[1]``: the field with the list indexes after it."""
    if field not in path:
        return field
    return field + "".join(f"[{p}]" for p in path[path.index(field) + 1 :] if isinstance(p, int))


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1) or [c for c in choices if c.startswith(word)][:1]
    return f": did you mean {close[0]!r}?" if close else ""
