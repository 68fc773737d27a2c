#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks of what WebSocket clients received against the collector's
record file (the reference: every record, as JSON lines).

A client subscribes while the collector runs: its stream starts at some
line of the file between MARK0 (lines before the client connected) and
MARK (lines once it was subscribed). NEEDED is the file's line count once
the case's traffic was fully reported: the client must have everything
up to there.

  check.py same FILE RECS MARK0 MARK NEEDED
  check.py filter FILE RECS MARK0 MARK NEEDED FILTER_JSON
  check.py schema SCHEMA RECS
  check.py slow FILE RECS CONTROL MARK TOTAL
  check.py stats CONTROL INTERVAL
  check.py settled FILE MARK
"""
import datetime
import ipaddress
import json
import sys

import jsonschema


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def names_of(v):
    return v if isinstance(v, list) else [v]


def matcher(flt):
    """The feed's filter semantics, written again from docs/websocket.md."""
    protos = {p for p in names_of(flt.get("protocol", []))}
    nets = [ipaddress.ip_network(n) for n in names_of(flt.get("ip", []))]
    ports = []
    for p in names_of(flt.get("port", [])):
        a, _, b = str(p).partition("-")
        ports.append((int(a), int(b or a)))
    events = set(names_of(flt.get("event", [])))

    def addr(s):
        return ipaddress.ip_address(s)

    def match(r):
        if events and r["event"] not in events:
            return False
        if protos and r["proto"] not in protos:
            return False
        if ports and not any(lo <= r[k] <= hi for lo, hi in ports
                             for k in ("src_port", "dst_port")):
            return False
        if nets and not any(addr(r[k]) in n for n in nets for k in ("src_ip", "dst_ip")
                            if addr(r[k]).version == n.version):
            return False
        return True
    return match


def compare(file_lines, recs, mark0, mark, needed):
    """recs must be file_lines[start:start+len(recs)] for a start in
    [mark0, mark], and reach at least line NEEDED."""
    for start in range(mark0, mark + 1):
        if file_lines[start:start + len(recs)] == recs and start + len(recs) >= needed:
            return start
    return None


def explain(file_lines, recs, lo):
    for i, (a, b) in enumerate(zip(file_lines[lo:], recs)):
        if a != b:
            print("first difference at client record %d:\n  file:   %s\n  client: %s"
                  % (i, a[:200], b[:200]), file=sys.stderr)
            return
    print("client has %d records, file has %d from line %d"
          % (len(recs), len(file_lines) - lo, lo), file=sys.stderr)


def cmd_same(path, recs_path, mark0, mark, needed):
    lines, recs = read_lines(path), read_lines(recs_path)
    start = compare(lines, recs, int(mark0), int(mark), int(needed))
    if start is None:
        explain(lines, recs, int(mark))
        return 1
    print("same: %d records, from file line %d" % (len(recs), start), file=sys.stderr)
    return 0


def cmd_filter(path, recs_path, mark0, mark, needed, flt):
    lines, recs = read_lines(path), read_lines(recs_path)
    match = matcher(json.loads(flt))
    sel = [(i, l) for i, l in enumerate(lines) if match(json.loads(l))]
    for start in range(int(mark0), int(mark) + 1):
        exp = [l for i, l in sel if i >= start]
        need = sum(1 for i, _ in sel if start <= i < int(needed))
        if recs == exp[:len(recs)] and len(recs) >= need:
            print("filter: %d records, from file line %d" % (len(recs), start), file=sys.stderr)
            return 0
    bad = [r for r in recs if not match(json.loads(r))]
    if bad:
        print("a record that does not match: %s" % bad[0][:300], file=sys.stderr)
    print("client: %d records; file: %d matching since line %s"
          % (len(recs), sum(1 for i, _ in sel if i >= int(mark)), mark), file=sys.stderr)
    return 1


def cmd_schema(schema_path, recs_path):
    with open(schema_path) as f:
        schema = json.load(f)
    v = jsonschema.Draft202012Validator(schema)
    n = 0
    for line in read_lines(recs_path):
        v.validate(json.loads(line))
        n += 1
    if not n:
        print("no records to validate", file=sys.stderr)
        return 1
    return 0


def cmd_slow(path, recs_path, control_path, mark, total):
    lines = read_lines(path)[int(mark):int(mark) + int(total)]
    recs = read_lines(recs_path)
    lagged = [json.loads(l) for l in read_lines(control_path)]
    missed = sum(m["missed"] for m in lagged if m["type"] == "lagged")
    nlag = sum(1 for m in lagged if m["type"] == "lagged")
    print("slow client: %d received + %d missed (%d lagged messages) of %d"
          % (len(recs), missed, nlag, len(lines)), file=sys.stderr)
    if not nlag:
        print("the slow client was never lagged: the case proves nothing", file=sys.stderr)
        return 1
    if len(recs) + missed != len(lines):
        return 1
    # what it got is the file's records in order, with gaps
    it = iter(lines)
    if not all(any(r == l for l in it) for r in recs):
        print("the slow client's records are not the file's, in order", file=sys.stderr)
        return 1
    return 0


def cmd_settled(path, mark):
    """Every flow that started since line MARK has ended."""
    open_keys = set()
    for line in read_lines(path)[int(mark):]:
        r = json.loads(line)
        if r["event"] == "start":
            open_keys.add(r["key"])
        elif r["event"] == "end":
            open_keys.discard(r["key"])
    return 1 if open_keys else 0


def cmd_stats(control_path, interval):
    frames = [json.loads(l) for l in read_lines(control_path)]
    frames = [f for f in frames if f["type"] == "stats"]
    times = [datetime.datetime.fromisoformat(f["time"][:26]) for f in frames]
    for f in frames:
        ws = f["sinks"]["websocket"]
        for k in ("clients", "sent", "lagged_records", "refused", "messages"):
            if k not in ws:
                print("stats frame without sinks.websocket.%s: %s" % (k, f), file=sys.stderr)
                return 1
        if ws["clients"] < 1 or set(f["client"]) != {"records", "missed", "messages"}:
            print("stats frame without the client's counters: %s" % f, file=sys.stderr)
            return 1
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    print("stats frames every %s s" % ", ".join("%.2f" % g for g in gaps), file=sys.stderr)
    want = float(interval)
    return 0 if gaps and all(want - 0.5 <= g <= want + 0.6 for g in gaps) else 1


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    sys.exit({"same": cmd_same, "filter": cmd_filter, "schema": cmd_schema,
              "slow": cmd_slow, "stats": cmd_stats,
              "settled": cmd_settled}[cmd](*args))


if __name__ == "__main__":
    main()
