#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A stand-in OpenAI-compatible chat-completions server, for tests only.

    model_server.py PORTFILE

Listens on a free loopback port (written to PORTFILE) and answers
POST .../chat/completions from a script the test sets:

    POST /_script   [{"status": 200, "content": "...", "delay": 0,
                      "headers": {"Retry-After": "1"}, "body": "raw"}, ...]
                    each completion request takes the next step; when the
                    script is empty the last step repeats
    GET  /_log      every completion request seen: {"t": monotonic seconds,
                    "path", "auth" (the Authorization or api-key header),
                    "body" (the parsed JSON request)}
    POST /_reset    empties the log and the script

A step's "content" becomes choices[0].message.content; "body" (if given)
replaces the whole answer; "delay" seconds are slept first (a hang).
Threaded, so a hung answer never blocks the control endpoints.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
script = []
last = {"status": 200, "content": "{\"rules\": []}"}
log = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def send(self, status, body, headers=None):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        if self.path == "/_log":
            with lock:
                self.send(200, json.dumps(log))
        else:
            self.send(404, "{}")

    def do_POST(self):
        global script, last, log
        raw = self.read_body()
        if self.path == "/_script":
            with lock:
                script = json.loads(raw)
                if script:
                    last = script[-1]
            self.send(200, "{}")
            return
        if self.path == "/_reset":
            with lock:
                script, log = [], []
            self.send(200, "{}")
            return
        if not self.path.split("?")[0].endswith("/chat/completions"):
            self.send(404, json.dumps({"error": {"message": "no such path " + self.path}}))
            return
        try:
            req = json.loads(raw)
        except ValueError:
            req = None
        with lock:
            log.append({"t": time.monotonic(), "path": self.path,
                        "auth": self.headers.get("Authorization") or self.headers.get("api-key"),
                        "body": req})
            step = script.pop(0) if script else last
        if step.get("delay"):
            time.sleep(step["delay"])
        status = step.get("status", 200)
        if "body" in step:
            body = step["body"]
        elif status == 200:
            body = json.dumps({
                "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                "model": (req or {}).get("model", "?"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": step.get("content", "")}}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 23, "total_tokens": 123}})
        else:
            body = json.dumps({"error": {"message": step.get("message", "scripted error %d" % status),
                                         "type": "test"}})
        self.send(status, body, step.get("headers"))


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
