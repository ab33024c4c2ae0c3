"""A Standard Webhooks receiver for handoff's audit-stream tests (crates/handoff/tests/it/streams*.rs).

Verifies every POST with the reference library (PyPI `standardwebhooks`, pinned in
requirements.txt next to this file) and appends what it accepted to `DIR/received.jsonl`, one
line per batch: {"webhook_id": ..., "records": [...]}. A batch that does not verify is answered
401 and counted in `DIR/rejected` (one line each).

The test steers it through files in DIR, read on every request:
- `secret`: the stream's `whsec_…` secret (absent: 503, as a receiver not set up yet);
- `mode`: `ok` (absent: ok) answers 204, `fail` answers 500, `hang` answers after 15 s (more than
  handoff's 10 s timeout), `slow` answers 204 after 0.3 s.

Usage: python3 receiver.py DIR [PORT]   (prints "listening on PORT" once it listens on 127.0.0.1;
PORT 0 or none: a free one)
"""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

DIR = sys.argv[1]
LOCK = threading.Lock()


def read(name):
    try:
        with open(os.path.join(DIR, name), encoding="utf-8") as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def append(name, line):
    with LOCK, open(os.path.join(DIR, name), "a", encoding="utf-8") as f:
        f.write(line + "\n")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status):
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        secret = read("secret")
        if not secret:
            return self.answer(503)
        mode = read("mode") or "ok"
        if mode == "fail":
            return self.answer(500)
        if mode == "hang":
            time.sleep(15)
            return self.answer(204)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            records = Webhook(secret).verify(body, headers)
        except WebhookVerificationError as err:
            append("rejected", str(err))
            return self.answer(401)
        if mode == "slow":
            time.sleep(0.3)
        append("received.jsonl", json.dumps({"webhook_id": headers["webhook-id"], "records": records}))
        return self.answer(204)


ThreadingHTTPServer.allow_reuse_address = True
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 0), Handler)
print(f"listening on {server.server_address[1]}", flush=True)
server.serve_forever()
