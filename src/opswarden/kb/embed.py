"""Embedders: text → unit-length float32 vectors, so that a dot product is a cosine similarity.

Three kinds, chosen by ``OPSWARDEN_EMBEDDINGS`` (docs/kb.md#embeddings): a local ONNX sentence model
(the folder is a setting; nothing is ever downloaded), an OpenAI-compatible ``/embeddings`` endpoint,
or Amazon Bedrock Titan. ``none``, or a local model without its folder, means keyword search only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import numpy as np
import numpy.typing as npt

from opswarden.errors import ConfigurationError

if TYPE_CHECKING:
    from opswarden.settings import Settings

Vectors = npt.NDArray[np.float32]
BATCH = 64


class Embedder(Protocol):
    @property
    def name(self) -> str:
        """Recorded with the vectors: another model's vectors are not comparable."""
        ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """(len(texts), dim) float32, each row L2-normalised."""
        ...


def normalise(vectors: npt.NDArray[Any]) -> Vectors:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: Vectors = (vectors / np.clip(norms, 1e-12, None)).astype(np.float32, copy=False)
    return out


class OnnxEmbedder:
    """A local sentence-transformers model exported to ONNX (model.onnx + tokenizer.json): mean
    pooling over real tokens, then L2 normalisation. The session is created on first use."""

    def __init__(self, model_dir: Path, *, threads: int = 2) -> None:
        self.model_dir = Path(model_dir)
        for needed in ("model.onnx", "tokenizer.json"):
            if not (self.model_dir / needed).is_file():
                raise ConfigurationError(
                    f"OPSWARDEN_EMBEDDINGS_MODEL_DIR: {self.model_dir} has no {needed} "
                    "(a folder with model.onnx and tokenizer.json)"
                )
        config = _read_config(self.model_dir / "config.json")
        self.dim = int(config.get("dimension", config.get("hidden_size", 384)))
        self.name = f"onnx:{self.model_dir.name}"
        self.threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads
                # No busy-waiting between queries: spinning threads steal the cores the vector
                # product and BM25 need (measured: dense search p95 14.7 → 7.1 ms on 2 cores).
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                options.inter_op_num_threads = 1
                self._session = ort.InferenceSession(
                    str(self.model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"]
                )
                self._tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        return self._session, self._tokenizer

    def embed(self, texts: Sequence[str]) -> Vectors:
        session, tokenizer = self._load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))  # less padding
        names = {i.name for i in session.get_inputs()}
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = encodings[i].attention_mask
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = session.run(None, {k: v for k, v in feed.items() if k in names})[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            out[rows] = normalise(pooled)
        return out


def _read_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class OpenAIEmbedder:
    """An OpenAI-compatible endpoint: ``POST {base_url}/embeddings`` with ``{"model", "input"}``."""

    def __init__(
        self, base_url: str, model: str, api_key: str | None, http: httpx.Client, *, dim: int | None = None
    ) -> None:
        self.url = base_url.rstrip("/") + "/embeddings"
        self.model = model
        self.name = f"openai:{model}"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = http
        self._dim = dim

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed(["dimension probe"]).shape[1])
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        rows: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            batch = list(texts[start : start + BATCH])
            try:
                response = self._http.post(
                    self.url, json={"model": self.model, "input": batch}, headers=self._headers
                )
            except httpx.HTTPError as exc:
                raise ConfigurationError(f"embeddings endpoint {_host(self.url)}: {exc}") from None
            if response.status_code >= 400:
                raise ConfigurationError(
                    f"embeddings endpoint {_host(self.url)} answered {response.status_code}: "
                    f"{response.text[:200]}"
                )
            data = sorted(response.json()["data"], key=lambda d: d["index"])
            rows.extend(d["embedding"] for d in data)
        if not rows:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        vectors = normalise(np.array(rows, dtype=np.float32))
        self._dim = vectors.shape[1]
        return vectors


def _host(url: str) -> str:
    return httpx.URL(url).host


class BedrockEmbedder:
    """Amazon Bedrock Titan text embeddings (``invoke_model``, one text per call: Titan has no batch)."""

    def __init__(self, model: str, client: Any = None, *, dim: int | None = None) -> None:
        self.model = model
        self.name = f"bedrock:{model}"
        self._client = client
        self._dim = dim

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # the aws extra, imported only when Bedrock is chosen

            self._client = boto3.client("bedrock-runtime")
        return self._client

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed(["dimension probe"]).shape[1])
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        rows = []
        for text in texts:
            response = self.client.invoke_model(
                modelId=self.model,
                body=json.dumps({"inputText": text}),
                contentType="application/json",
                accept="application/json",
            )
            rows.append(json.loads(response["body"].read())["embedding"])
        if not rows:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        vectors = normalise(np.array(rows, dtype=np.float32))
        self._dim = vectors.shape[1]
        return vectors


def build_embedder(settings: Settings, http: httpx.Client | None = None) -> Embedder | None:
    """The configured embedder; None means keyword search only (:func:`embedder_note` says why)."""
    kind = settings.embeddings
    if kind == "none" or (kind == "onnx" and settings.embeddings_model_dir is None):
        return None
    if kind == "onnx":
        assert settings.embeddings_model_dir is not None
        return OnnxEmbedder(settings.embeddings_model_dir)
    if kind == "openai":
        if not settings.embeddings_url or not settings.embeddings_model:
            raise ConfigurationError(
                "OPSWARDEN_EMBEDDINGS=openai needs OPSWARDEN_EMBEDDINGS_URL and OPSWARDEN_EMBEDDINGS_MODEL"
            )
        key = settings.embeddings_api_key.get_secret_value() if settings.embeddings_api_key else None
        client = http or httpx.Client(timeout=30)
        return OpenAIEmbedder(settings.embeddings_url, settings.embeddings_model, key, client)
    return BedrockEmbedder(settings.embeddings_model or "amazon.titan-embed-text-v2:0")


def embedder_note(settings: Settings) -> str | None:
    """Why there are no dense vectors, when the settings ask for them but cannot have them."""
    if settings.embeddings == "onnx" and settings.embeddings_model_dir is None:
        return (
            "no embedding model: keyword search only (set OPSWARDEN_EMBEDDINGS_MODEL_DIR to a folder with "
            "model.onnx and tokenizer.json, or OPSWARDEN_EMBEDDINGS=none to silence this)"
        )
    return None
