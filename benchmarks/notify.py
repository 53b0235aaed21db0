"""Triage-stage and delivery benchmark: decisions/s with the store, and messages/s into a loopback sink.

    python benchmarks/notify.py                          # 20000 events, 200 rules, webhook sink
    python benchmarks/notify.py --events 5000 --channel console

Generates the ingest benchmark's payloads, the triage benchmark's org (200 accounts) and policy
(``--rules`` leaf rules) with every route sending to ``--channel``, and stores the events without
triage (untimed). Then it times, on a fresh SQLite store in a temporary directory:

1. the triage stage (``TriageStage.run``): evaluate, store decision + explanation, lifecycle
   transition + audit row, outbox rows — decisions/s including the database;
2. the dispatcher (``Dispatcher.run``) delivering every queued card to a loopback HTTP server
   (``webhook``: a ThreadingHTTPServer answering 200, through the real WebhookNotifier with a signing
   secret) or to the console file sink — messages/s, with each delivery's outbox bookkeeping
   (claim, mark sent, routed → notified with its audit row).
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from pydantic import SecretStr

from opswarden.app import Application
from opswarden.settings import Settings


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real webhook endpoints
    received = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with _Sink.lock:
            _Sink.received += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def policy_for(text: str, channel: str) -> str:
    doc = yaml.safe_load(text)
    doc["route"]["channels"] = [channel]
    return yaml.safe_dump(doc, sort_keys=False)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--channel", choices=["webhook", "console"], default="webhook")
    args = parser.parse_args()
    ingest, triage = _load("ingest"), _load("triage")

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        (data / "org.yaml").write_text(triage.org_yaml(ingest.ACCOUNTS))
        (data / "policy.yaml").write_text(policy_for(triage.policy_yaml(args.rules), args.channel))
        payloads = data / "events.ndjson"
        ingest.generate(payloads, args.events)
        app = Application(
            Settings(
                data_dir=data,
                webhook_url=f"http://127.0.0.1:{server.server_port}/hook",
                webhook_secret=SecretStr("benchmark-secret"),
                ingest_workers=1,
            )
        )
        started = time.perf_counter()
        stored = app.ingest_paths([str(payloads)])
        ingest_s = time.perf_counter() - started
        supervisor = app.supervisor

        started = time.perf_counter()
        decided = supervisor.triage.run()
        triage_s = time.perf_counter() - started

        queued = sum(decided.messages.values())
        started = time.perf_counter()
        sent = supervisor.dispatcher.run(limit=queued + 1)
        dispatch_s = time.perf_counter() - started
        app.close()
    server.shutdown()

    delivered = sum(sent.sent.values())
    print(f"events stored: {stored.accepted} in {ingest_s:.1f} s (untimed setup, triage off)")
    print(
        f"triage stage: {decided.decided} decisions in {triage_s:.2f} s = "
        f"{decided.decided / triage_s:,.0f} decisions/s (policy + decision row + transition + outbox)"
    )
    print(f"  transitions: {dict(decided.transitions)}; messages queued: {queued}")
    print(
        f"delivery ({args.channel}): {delivered} messages in {dispatch_s:.2f} s = "
        f"{delivered / dispatch_s:,.0f} messages/s; retried {sent.retried}, dead {sent.dead}"
        + (f"; sink received {_Sink.received}" if args.channel == "webhook" else "")
    )


if __name__ == "__main__":
    main()
