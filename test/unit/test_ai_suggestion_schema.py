#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Validate guarder-ai's suggestions against docs/suggestion.schema.json.

usage: test_ai_suggestion_schema.py TEST_AI_DETECT_BINARY SCHEMA_JSON

Runs "TEST_AI_DETECT_BINARY --print" (one suggestion per detector kind, a
model one rejected by the policy), checks each line is one JSON object
without duplicate keys, valid under the schema, that every kind is there,
and that broken variants are rejected (the schema really constrains).
"""
import copy
import json
import subprocess
import sys

try:
    import jsonschema
except ImportError:
    print("python3-jsonschema is not installed (scripts/setup.sh installs it)", file=sys.stderr)
    sys.exit(77)

KINDS = {"port_scan_vertical", "port_scan_horizontal", "syn_flood", "brute_force",
         "icmp_flood", "icmp_error_storm", "udp_reflection", "model"}


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key in %r" % keys)
    return dict(pairs)


def main():
    binary, schema_path = sys.argv[1], sys.argv[2]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    out = subprocess.run([binary, "--print"], check=True, capture_output=True).stdout
    lines = out.decode("utf-8").splitlines()
    sugg = [json.loads(line, object_pairs_hook=no_duplicates) for line in lines]
    failures = 0
    for line, s in zip(lines, sugg):
        errors = sorted(validator.iter_errors(s), key=str)
        if errors:
            failures += 1
            print("INVALID: %s\n  %s" % (line, "\n  ".join(e.message for e in errors)))

    kinds = {s["kind"] for s in sugg}
    if kinds != KINDS:
        failures += 1
        print("samples lack kinds: %s" % (KINDS - kinds))
    if len({s["id"] for s in sugg}) != len(sugg):
        failures += 1
        print("ids are not unique")
    statuses = {s["status"] for s in sugg}
    if statuses != {"proposed", "rejected_by_policy"}:
        failures += 1
        print("samples lack a status: %s" % statuses)
    for s in sugg:
        if s["origin"] == "detector" and s["status"] != "proposed":
            failures += 1
            print("a detector sample was rejected: %s" % s.get("policy_reason"))

    by_kind = {s["kind"]: s for s in sugg}
    base = by_kind["brute_force"]
    rejected = by_kind["model"]
    mutations = [
        ("schema_version 2", base, lambda s: s.update(schema_version=2)),
        ("bad id", base, lambda s: s.update(id="s-123")),
        ("unknown kind", base, lambda s: s.update(kind="ddos")),
        ("unknown origin", base, lambda s: s.update(origin="human")),
        ("detector origin with kind model", rejected, lambda s: s.update(origin="detector")),
        ("confidence above 1", base, lambda s: s.update(confidence=1.5)),
        ("confidence as a string", base, lambda s: s.update(confidence="0.9")),
        ("no rules", base, lambda s: s.update(rules=[])),
        ("rule without expiry", base, lambda s: s["rules"][0].pop("expires_at")),
        ("rule with null expiry", base, lambda s: s["rules"][0].update(expires_at=None)),
        ("rule with an id", base, lambda s: s["rules"][0].update(id=3)),
        ("rule with a bad action", base, lambda s: s["rules"][0].update(action="reject")),
        ("rule port out of range", base, lambda s: s["rules"][0].update(dst_port=70000)),
        ("rejected without reason", rejected, lambda s: s.pop("policy_reason")),
        ("proposed with a reason", base, lambda s: s.update(policy_reason="x")),
        ("unknown status", base, lambda s: s.update(status="applied")),
        ("created_at without ns", base, lambda s: s.update(created_at="2026-11-27T00:00:00Z")),
        ("unknown field", base, lambda s: s.update(extra=1)),
        ("evidence holding an object", base, lambda s: s["evidence"].update(x={})),
        ("missing node", base, lambda s: s.pop("node")),
    ]
    for name, sample, mutate in mutations:
        s = copy.deepcopy(sample)
        mutate(s)
        if validator.is_valid(s):
            failures += 1
            print("schema accepted a broken suggestion (%s)" % name)

    print("%d suggestions validated, %d mutations rejected, %d failure(s)"
          % (len(sugg), len(mutations), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
