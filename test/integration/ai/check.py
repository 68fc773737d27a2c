#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check the suggestions guarder-ai published (kafka_consume's
PARTITION<TAB>KEY<TAB>VALUE lines) against what a case expects.

usage: check.py SCHEMA DUMP NODE EXPECT_JSON [QUIET_NODE...]
  EXPECT_JSON: {"kind": {"rule field": value, ...}, ...}: exactly one
  suggestion per kind for NODE, status proposed, its Kafka key NODE, valid
  under the schema, whose first rule has these fields (and expires_at);
  no other suggestion for NODE, none at all for the QUIET_NODEs.
"""
import json
import sys

import jsonschema


def main():
    schema_path, dump, node, expect = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    quiet = set(sys.argv[5:])
    expect = json.loads(expect)
    with open(schema_path, encoding="utf-8") as f:
        validator = jsonschema.Draft202012Validator(json.load(f))
    sugg = []
    with open(dump, encoding="utf-8") as f:
        for line in f:
            part, key, value = line.rstrip("\n").split("\t", 2)
            s = json.loads(value)
            errors = list(validator.iter_errors(s))
            if errors:
                print("FAIL: invalid suggestion %s: %s" % (value, errors[0].message))
                return 1
            if key != s["node"]:
                print("FAIL: key %r is not the node %r" % (key, s["node"]))
                return 1
            sugg.append(s)
    fails = 0
    for s in sugg:
        if s["node"] in quiet:
            print("FAIL: a suggestion for the normal traffic of %s: %s" % (s["node"], s["summary"]))
            fails += 1
    mine = [s for s in sugg if s["node"] == node]
    kinds = sorted(s["kind"] for s in mine)
    if kinds != sorted(expect):
        print("FAIL: kinds for %s: got %s, expected %s" % (node, kinds, sorted(expect)))
        for s in mine:
            print("   %s: %s" % (s["kind"], s["summary"]))
        fails += 1
    for s in mine:
        want = expect.get(s["kind"])
        if want is None:
            continue
        if s["status"] != "proposed":
            print("FAIL: %s was %s: %s" % (s["kind"], s["status"], s.get("policy_reason")))
            fails += 1
        rule = s["rules"][0]
        for k, v in want.items():
            if rule.get(k) != v:
                print("FAIL: %s: rule %s = %r, expected %r (%s)" % (s["kind"], k, rule.get(k), v,
                                                                    json.dumps(rule)))
                fails += 1
        if not rule.get("expires_at"):
            print("FAIL: %s: rule without expires_at" % s["kind"])
            fails += 1
        print("  ok: %s (confidence %.2f): %s" % (s["kind"], s["confidence"], s["summary"]))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
