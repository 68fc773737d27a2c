#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check real guarder-api responses against the OpenAPI document it serves.

    openapi_check.py BASE_URL

Sends a set of requests that reach every documented path and method (and
the usual error statuses), and validates each response body against the
schema the document gives for that path, method and status (JSON Schema
2020-12, as OpenAPI 3.1 uses; the objects forbid undocumented fields).
A status the document does not list for that operation is a failure too,
and so is a documented operation that no request reached.
"""
import json
import re
import sys
import urllib.error
import urllib.request

import warnings

import jsonschema

# RefResolver is deprecated in newer jsonschema; Debian 12 has 4.10, which lacks its successor.
warnings.filterwarnings("ignore", category=DeprecationWarning)

BASE = sys.argv[1]


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


status, _, raw = call("GET", "/api/openapi.json")
assert status == 200, status
doc = json.loads(raw)
resolver = jsonschema.RefResolver.from_schema(doc)
jsonschema.Draft202012Validator.check_schema({"$ref": "#/components/schemas/Rule"})

templates = []
for tpl in doc["paths"]:
    rx = "^" + re.sub(r"\{[a-z_]+\}", r"[^/]+", tpl) + "$"
    templates.append((re.compile(rx), tpl))

reached = set()
failures = []
checked = 0


def check(method, path, body=None, want=None):
    global checked
    status, headers, raw = call(method, path, body)
    route = path.split("?")[0]
    # a fixed path wins over a template ("/api/filters/bulk" is not an {id})
    tpl = route if route in doc["paths"] else next(
        (t for rx, t in templates if rx.match(route)), None)
    if want is not None and status != want:
        failures.append(f"{method} {path}: HTTP {status}, the test expected {want}: {raw[:200]!r}")
        return None
    if tpl is None:
        failures.append(f"{method} {path}: no documented path")
        return None
    op = doc["paths"][tpl].get(method.lower())
    if op is None:
        failures.append(f"{method} {path}: {method} not documented for {tpl}")
        return None
    reached.add((tpl, method.lower()))
    resp = op["responses"].get(str(status))
    if resp is None:
        failures.append(f"{method} {path}: status {status} not documented for {tpl}")
        return None
    for name in resp.get("headers", {}):
        if name.lower() not in {k.lower() for k in headers}:
            failures.append(f"{method} {path}: documented header {name} missing")
    content = resp.get("content", {})
    ctype = headers.get("Content-Type", "").split(";")[0]
    if ctype not in content:
        failures.append(f"{method} {path}: Content-Type {ctype} not documented ({list(content)})")
        return None
    if ctype != "application/json":
        checked += 1
        return raw
    value = json.loads(raw)
    try:
        jsonschema.Draft202012Validator(content[ctype]["schema"], resolver=resolver).validate(value)
    except jsonschema.ValidationError as e:
        failures.append(f"{method} {path} ({status}): {e.message} at {list(e.absolute_path)}")
    checked += 1
    return value


check("GET", "/api/openapi.json", want=200)
check("GET", "/api/filters", want=200)
r = check("POST", "/api/filters", {"rule_type": "icmp", "icmp_type": 8, "action": "drop",
                                   "enabled": True, "comment": "ping"}, want=201)
rid = r["id"] if r else 0
check("POST", "/api/filters", {"rule_type": "tcp", "dst_port": "8000-8100", "src_ip": "10.9.0.0/16",
                               "action": "allow", "priority": 5, "enabled": True,
                               "expires_at": "2099-01-01T00:00:00Z"}, want=201)
check("POST", "/api/filters", {"id": rid, "rule_type": "udp", "action": "drop"}, want=409)
check("POST", "/api/filters", {"rule_type": "udp", "dst_port": -1, "action": "drop"}, want=400)
check("POST", "/api/filters/bulk", {"mode": "add", "rules": [{"rule_type": "udp", "dst_port": 53,
                                                              "action": "drop"}]}, want=200)
check("POST", "/api/filters/bulk", {"mode": "add", "rules": [{"rule_type": "udp"}]}, want=400)
check("GET", f"/api/filters/{rid}", want=200)
check("GET", "/api/filters/99999", want=404)
check("PUT", f"/api/filters/{rid}", {"comment": "changed"}, want=200)
check("POST", f"/api/filters/{rid}/disable", want=200)
check("POST", f"/api/filters/{rid}/enable", want=200)
check("GET", "/api/filters?limit=2&offset=1", want=200)
check("DELETE", f"/api/filters/{rid}", want=200)
check("DELETE", f"/api/filters/{rid}", want=404)
check("GET", "/api/connections", want=200)
check("GET", "/api/connections?sort=bytes&protocol=icmp&limit=5", want=200)
check("GET", "/api/connections?sort=nope", want=400)
check("GET", "/api/icmp", want=200)
check("GET", "/api/stats", want=200)
check("GET", "/metrics", want=200)
# /api/ai (no model, no Kafka here; test/integration/ai_api covers the rest)
check("GET", "/api/ai/config", want=200)
check("POST", "/api/ai/config", {"debug": False, "timeout": 20}, want=200)
check("POST", "/api/ai/config", {"endpoint": "ftp://x"}, want=400)
check("GET", "/api/ai/status", want=200)
check("POST", "/api/ai/generate", {"analyze_type": "security"}, want=503)
check("POST", "/api/ai/generate", {"analyze_type": "custom"}, want=400)
check("POST", "/api/ai/analyze", {"include_icmp": False}, want=200)
check("GET", "/api/ai/suggestions?limit=5", want=200)
check("GET", "/api/ai/suggestions?limt=5", want=400)
check("POST", "/api/ai/suggestions/s-0000000000000000/apply", want=404)
check("POST", "/api/ai/suggestions/s-0000000000000000/reject", {"reason": "test"}, want=404)

for tpl, item in doc["paths"].items():
    for method in ("get", "post", "put", "delete"):
        if method in item and (tpl, method) not in reached:
            failures.append(f"{method.upper()} {tpl}: documented but not exercised")

for f in failures:
    print("FAIL:", f, file=sys.stderr)
print(f"{checked} responses valid against the OpenAPI document", file=sys.stderr)
sys.exit(1 if failures else 0)
