#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Read a Kafka topic with confluent-kafka and check the flow records in it.

usage:
  topic.py dump BOOTSTRAP TOPIC OUT
      Every message of TOPIC, from the beginning up to the end offsets at
      the time of the call, written to OUT as PARTITION<TAB>KEY<TAB>VALUE
      lines: the format of kafka_consume (kcat), so the two can be compared.
  topic.py check DUMP [options]
      Check the messages of a dump (either client's):
        --schema FILE     every value is one JSON object (no duplicate keys)
                          valid under this JSON Schema
        --node NAME       every record's node
        --iface NAME      every record's interface
        --records FILE    the values are exactly the lines of FILE (the
                          collector's record file), as a multiset
        --subset          with --records: every value is a line of FILE (the
                          sink dropped some, the file has them all)
        --flows FILE      JSON list of {"name", "match": {field: value},
                          "counts": {event: n}}: records matching every field
                          of "match" (a list value: any of its items) come in
                          exactly these numbers per event (events not named: 0),
                          under "keys" distinct keys (default 1)
        --same-key A,B    flows A and B (names in --flows) have the same key,
                          and their records one partition
        --unique          no value appears twice (nothing delivered twice)
      Always: the message key is the record's "key" field and equals the
      canonical key computed here from the record's endpoints, and each key
      is on one partition. Prints a summary; exit status 1 on any failure.
"""
import argparse
import collections
import ipaddress
import json
import sys
import time


def dump(bootstrap, topic, out):
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "gdr-kb-dump-%d" % time.time_ns(),
                  "enable.auto.commit": False})
    try:
        md = c.list_topics(topic, timeout=10)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            sys.exit("topic %s: %s" % (topic, t.error if t else "missing"))
        ends, assign = {}, []
        for p in t.partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if hi > lo:
                ends[p] = hi
                assign.append(TopicPartition(topic, p, lo))
        lines = []
        if assign:
            c.assign(assign)
        deadline = time.time() + 60
        while ends and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                sys.exit("consumer error: %s" % m.error())
            if m.offset() >= ends.get(m.partition(), 0):
                continue
            key = m.key().decode() if m.key() is not None else ""
            lines.append("%d\t%s\t%s\n" % (m.partition(), key, m.value().decode()))
            if m.offset() == ends[m.partition()] - 1:
                del ends[m.partition()]
        if ends:
            sys.exit("partitions %s not read to their end within 60 s" % sorted(ends))
    finally:
        c.close()
    with open(out, "w", encoding="utf-8") as f:
        f.writelines(lines)
    print("%d messages" % len(lines))


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key in %r" % keys)
    return dict(pairs)


def canonical_key(r):
    """docs/records.md: proto|addr_lo|port_lo|addr_hi|port_hi, addresses as
    128-bit numbers (IPv4 mapped into ::ffff:0:0/96), then ports."""
    def num(a):
        ip = ipaddress.ip_address(a)
        return int(ip) | (0xFFFF << 32) if ip.version == 4 else int(ip)
    a = (num(r["src_ip"]), r["src_port"], r["src_ip"])
    b = (num(r["dst_ip"]), r["dst_port"], r["dst_ip"])
    lo, hi = sorted([a, b])
    return "%d|%s|%d|%s|%d" % (r["proto_num"], lo[2], lo[1], hi[2], hi[1])


def check(args):
    errors = []

    def err(msg):
        if len(errors) < 20:
            errors.append(msg)
        elif len(errors) == 20:
            errors.append("(more errors not shown)")

    validator = None
    if args.schema:
        import jsonschema
        with open(args.schema, encoding="utf-8") as f:
            schema = json.load(f)
        validator = jsonschema.Draft202012Validator(schema)

    msgs = []
    with open(args.dump, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            part, key, value = line.rstrip("\n").split("\t", 2)
            try:
                rec = json.loads(value, object_pairs_hook=no_duplicates)
            except ValueError as e:
                err("message %d: value is not one JSON object: %s" % (n, e))
                continue
            msgs.append((int(part), key, value, rec))
    if not msgs:
        err("no messages")

    part_of = {}
    for part, key, value, rec in msgs:
        if validator:
            for e in validator.iter_errors(rec):
                err("invalid under the schema (%s): %s" % (e.message, value))
        if rec.get("key") != key:
            err("message key %r differs from the record's key %r" % (key, rec.get("key")))
        if rec.get("event") != "icmp" and "src_ip" in rec:
            want = canonical_key(rec)
            if key != want:
                err("message key %r is not the canonical key %r" % (key, want))
        if part_of.setdefault(key, part) != part:
            err("key %r on partitions %d and %d" % (key, part_of[key], part))
        if args.node and rec.get("node") != args.node:
            err("node %r, expected %r" % (rec.get("node"), args.node))
        if args.iface and rec.get("iface") != args.iface:
            err("iface %r, expected %r" % (rec.get("iface"), args.iface))

    values = collections.Counter(v for _, _, v, _ in msgs)
    if args.unique:
        for v, n in values.items():
            if n > 1:
                err("delivered %d times: %s" % (n, v))
    if args.records:
        with open(args.records, encoding="utf-8") as f:
            want = collections.Counter(line.rstrip("\n") for line in f if line.strip())
        if args.subset:
            # a sink that dropped records: what it delivered, the file also has
            want = want & values
        if values != want:
            missing, extra = want - values, values - want
            err("topic and record file differ: %d records missing from the topic, %d extra "
                "(topic %d, file %d)" % (sum(missing.values()), sum(extra.values()),
                                         sum(values.values()), sum(want.values())))
            for v in list(missing)[:3]:
                err("missing: %s" % v)
            for v in list(extra)[:3]:
                err("extra: %s" % v)

    flow_keys = {}
    if args.flows:
        with open(args.flows, encoding="utf-8") as f:
            flows = json.load(f)
        for fl in flows:
            got = collections.Counter()
            keys = set()
            for _, key, _, rec in msgs:
                if all(rec.get(k) in v if isinstance(v, list) else rec.get(k) == v
                       for k, v in fl["match"].items()):
                    got[rec["event"]] += 1
                    keys.add(key)
            for ev in set(got) | set(fl["counts"]):
                if got[ev] != fl["counts"].get(ev, 0):
                    err("flow %s: %d %s records, expected %d" % (fl["name"], got[ev], ev,
                                                                fl["counts"].get(ev, 0)))
            if len(keys) != fl.get("keys", 1):
                err("flow %s: records under %d keys, expected %d: %s" % (
                    fl["name"], len(keys), fl.get("keys", 1), sorted(keys)[:5]))
            flow_keys[fl["name"]] = keys.pop() if len(keys) == 1 else None
            print("flow %s: %s under %s" % (fl["name"], dict(got),
                                            "key " + flow_keys[fl["name"]] if flow_keys[fl["name"]]
                                            else "%d keys" % len(keys)))
    for pair in args.same_key or []:
        a, b = pair.split(",")
        if flow_keys.get(a) is None or flow_keys.get(a) != flow_keys.get(b):
            err("flows %s and %s have keys %r and %r, expected one" % (a, b, flow_keys.get(a),
                                                                      flow_keys.get(b)))
        else:
            print("flows %s and %s: one key %s on partition %d" % (a, b, flow_keys[a],
                                                                   part_of[flow_keys[a]]))

    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    print("%d messages, %d keys on %d partitions: ok" % (len(msgs), len(part_of),
                                                         len(set(part_of.values()))))
    return 0


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "dump":
        if len(sys.argv) != 5:
            sys.exit(__doc__)
        dump(*sys.argv[2:5])
        return 0
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("cmd", choices=["check"])
    ap.add_argument("dump")
    ap.add_argument("--schema")
    ap.add_argument("--node")
    ap.add_argument("--iface")
    ap.add_argument("--records")
    ap.add_argument("--flows")
    ap.add_argument("--same-key", action="append")
    ap.add_argument("--unique", action="store_true")
    ap.add_argument("--subset", action="store_true")
    return check(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
