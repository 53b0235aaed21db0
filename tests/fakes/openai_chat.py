"""Replies of an OpenAI-compatible chat.completions server (the subset pydantic-ai's OpenAI model
reads), for scripted loopback servers standing in for Ollama / vLLM in tests."""

from __future__ import annotations

import json
from typing import Any


def completion(message: dict[str, Any], finish: str, model: str = "scripted") -> dict[str, Any]:
    """A chat.completion with one choice."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def tool_call(name: str, args: dict[str, Any], model: str = "scripted") -> dict[str, Any]:
    """A chat.completion that calls one tool."""
    call = {
        "id": f"call_{name}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args)},
    }
    return completion({"content": None, "tool_calls": [call]}, "tool_calls", model)
