"""The assistant: answers questions about events and their history (docs/assistant.md). Without a
model it runs in retrieval mode (assistant/retrieval.py)."""
