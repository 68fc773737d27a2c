#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Validate the records the C formatter prints against docs/record.schema.json.

usage: test_record_schema.py TEST_RECORD_BINARY SCHEMA_JSON

Runs "TEST_RECORD_BINARY --print" (sample records of every kind, one per
line), checks each line is one JSON object without duplicate keys and
valid under the schema, and that broken variants of them are rejected (so
the schema really constrains what it documents).
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
    records = [json.loads(line, object_pairs_hook=no_duplicates) for line in lines]
    failures = 0
    for line, rec in zip(lines, records):
        errors = sorted(validator.iter_errors(rec), key=str)
        if errors:
            failures += 1
            print("INVALID: %s\n  %s" % (line, "\n  ".join(e.message for e in errors)))

    events = {r["event"] for r in records}
    reasons = {r.get("end_reason") for r in records if r["event"] == "end"}
    if events != {"start", "update", "end", "drop", "icmp", "drops"}:
        failures += 1
        print("samples lack events: %s" % events)
    if reasons != {"fin", "rst", "idle", "evicted"}:
        failures += 1
        print("samples lack end reasons: %s" % reasons)

    # Each mutation breaks a documented rule; the schema must say no.
    by_event = {}
    for r in records:
        by_event.setdefault(r["event"], r)
    mutations = [
        ("end without end_reason", "end", lambda r: r.pop("end_reason")),
        ("start with end_reason", "start", lambda r: r.update(end_reason="fin")),
        ("unknown event", "start", lambda r: r.update(event="begin")),
        ("missing src_ip", "start", lambda r: r.pop("src_ip")),
        ("port out of range", "start", lambda r: r.update(src_port=65536)),
        ("negative bytes", "start", lambda r: r["fwd"].update(bytes=-1)),
        ("time without nanoseconds", "start", lambda r: r.update(first_seen="2023-11-14T22:13:20Z")),
        ("tcp flow without tcp", "start", lambda r: r.pop("tcp")),
        ("udp flow with tcp", "update", lambda r: r.update(tcp=by_event["start"]["tcp"])),
        ("drop without rule_id", "drop", lambda r: r.update(rule_id=None)),
        ("start with a rule_id", "start", lambda r: r.update(rule_id=1)),
        ("icmp without icmp", "icmp", lambda r: r.pop("icmp")),
        ("unknown field", "start", lambda r: r.update(extra=1)),
        ("schema_version 2", "start", lambda r: r.update(schema_version=2)),
        ("string counter", "start", lambda r: r.update(packets="17")),
        ("the old ICMPv6 keyword", "start", lambda r: r.update(proto="ipv6-icmp")),
        ("protocol number 256", "start", lambda r: r.update(proto="256")),
        ("protocol number with a leading zero", "start", lambda r: r.update(proto="06")),
        ("drops without a reason", "drops", lambda r: r.pop("reason")),
        ("drops of a rule without its id", "drops", lambda r: r.update(rule_id=None)),
        ("drops of a reason with a rule id", "drops",
         lambda r: r.update(reason="unparsed", rule_id=3)),
        ("drops that passed", "drops", lambda r: r.update(verdict="pass")),
        ("drops without an interval", "drops", lambda r: r.pop("interval_end")),
        ("drops with flow fields", "drops", lambda r: r.update(dst_port=80)),
        ("drops with an unknown hook", "drops", lambda r: r.update(hook="forward")),
        ("drops keyed like a flow", "drops", lambda r: r.update(key="6|1.2.3.4|1|5.6.7.8|2")),
    ]
    for name, event, mutate in mutations:
        rec = copy.deepcopy(by_event[event])
        mutate(rec)
        if validator.is_valid(rec):
            failures += 1
            print("schema accepted a broken record (%s)" % name)

    print("%d records validated, %d mutations rejected, %d failure(s)"
          % (len(records), len(mutations), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
