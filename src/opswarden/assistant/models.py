"""The assistant's model, from one setting: ``OPSWARDEN_MODEL=provider:model``.

* ``bedrock:<model id>`` — Amazon Bedrock's Converse API through a boto3 ``bedrock-runtime`` client
  (credentials and region from the usual AWS environment: ``AWS_REGION``, ``AWS_PROFILE`` …);
  ``OPSWARDEN_MODEL_BASE_URL`` is the endpoint URL, when set (a VPC endpoint).
* ``openai:<model>`` — OpenAI, or any OpenAI-compatible chat-completions server (Ollama, vLLM, LM Studio)
  with ``OPSWARDEN_MODEL_BASE_URL`` (e.g. ``http://localhost:11434/v1``) and, if it asks for one,
  ``OPSWARDEN_MODEL_API_KEY``.
* ``anthropic:<model>`` — the Anthropic API (``OPSWARDEN_MODEL_API_KEY`` or ``ANTHROPIC_API_KEY``).

Unset: no model, and ``opswarden ask`` answers in retrieval mode (assistant/retrieval.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opswarden.errors import ConfigurationError

if TYPE_CHECKING:
    from pydantic_ai.models import Model

    from opswarden.settings import Settings

ACCEPTED = (
    "bedrock:<model id> (e.g. bedrock:anthropic.claude-3-5-sonnet-20240620-v1:0), "
    "openai:<model> (e.g. openai:gpt-4o; with OPSWARDEN_MODEL_BASE_URL=http://localhost:11434/v1 for Ollama, "
    "vLLM or LM Studio), anthropic:<model> (e.g. anthropic:claude-sonnet-4-5)"
)
PROVIDERS = ("bedrock", "openai", "anthropic")


def parse_model(spec: str) -> tuple[str, str]:
    """``provider:model`` → (provider, model name), or a ConfigurationError naming the accepted forms."""
    provider, sep, name = spec.strip().partition(":")
    provider, name = provider.strip().lower(), name.strip()
    if not sep or not name or provider not in PROVIDERS:
        raise ConfigurationError(
            f"OPSWARDEN_MODEL: {spec!r} is not a model this assistant can use: write {ACCEPTED}"
        )
    return provider, name


def build_model(settings: Settings, *, bedrock_client: Any = None) -> Model | None:
    """The configured model, or None when ``OPSWARDEN_MODEL`` is unset (retrieval mode).

    ``bedrock_client`` replaces the boto3 client (tests pass one wrapped in a botocore Stubber)."""
    if not (settings.model or "").strip():
        return None
    provider, name = parse_model(settings.model or "")
    key = settings.model_api_key.get_secret_value() if settings.model_api_key else None
    try:
        if provider == "openai":
            return _openai(name, settings.model_base_url, key)
        if provider == "anthropic":
            return _anthropic(name, settings.model_base_url, key)
        return _bedrock(name, settings.model_base_url, bedrock_client)
    except ImportError as exc:
        raise ConfigurationError(
            f"OPSWARDEN_MODEL={provider}:…: the assistant needs its extra ({exc.name} is missing): "
            "pip install 'opswarden[ai]'"
        ) from None


def _openai(name: str, base_url: str | None, key: str | None) -> Model:
    from pydantic_ai.exceptions import UserError
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    try:
        provider = OpenAIProvider(base_url=base_url, api_key=key)
    except UserError:
        raise ConfigurationError(
            "OPSWARDEN_MODEL=openai:…: set OPSWARDEN_MODEL_API_KEY (or OPENAI_API_KEY) for OpenAI, or "
            "OPSWARDEN_MODEL_BASE_URL for an OpenAI-compatible server (Ollama, vLLM, LM Studio)"
        ) from None
    return OpenAIChatModel(name, provider=provider)


def _anthropic(name: str, base_url: str | None, key: str | None) -> Model:
    from pydantic_ai.exceptions import UserError
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    try:
        provider = AnthropicProvider(api_key=key, base_url=base_url)
    except UserError:
        raise ConfigurationError(
            "OPSWARDEN_MODEL=anthropic:…: set OPSWARDEN_MODEL_API_KEY (or ANTHROPIC_API_KEY)"
        ) from None
    return AnthropicModel(name, provider=provider)


def _bedrock(name: str, endpoint: str | None, client: Any) -> Model:
    from pydantic_ai.models.bedrock import BedrockConverseModel
    from pydantic_ai.providers.bedrock import BedrockProvider

    if client is None:
        import boto3
        from botocore.exceptions import BotoCoreError

        try:
            client = boto3.client("bedrock-runtime", endpoint_url=endpoint)
        except BotoCoreError as exc:  # NoRegionError, ProfileNotFound …
            raise ConfigurationError(
                f"OPSWARDEN_MODEL=bedrock:…: cannot make a Bedrock client ({exc}): set AWS_REGION and "
                "AWS credentials (AWS_PROFILE, or a role)"
            ) from None
    return BedrockConverseModel(name, provider=BedrockProvider(bedrock_client=client))
