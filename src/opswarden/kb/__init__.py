"""The knowledge base: documents and events, chunked, indexed with FTS5 (BM25) and dense vectors,
searched with reciprocal-rank fusion (docs/kb.md). Needs the kb extra (numpy; onnxruntime and
tokenizers for the local embedding model; pypdf and beautifulsoup4 for PDF and HTML)."""
