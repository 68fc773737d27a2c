#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Crafted flow records (docs/records.md, schema_version 1) for guarder-ai's
integration tests and benchmark, one JSON object per line as
"KEY<TAB>VALUE" for kcat -K'\t'.

usage: records.py SCENARIO [NODE] [COUNT]
  attacks   one attack of every detector kind (thresholds of config.yaml in
            run.sh): the expectations are in EXPECTED (printed by --expect)
  normal    a normal mix: browsing, DNS, ping, a few SSH sessions
  bad       records the worker must count and skip
  bench N   N records of a busy mix touching every detector's tables
  distinct N  N start records from N distinct sources (memory bound)
"""
import ipaddress
import json
import sys
import time

NOW = time.time()


def stamp(t):
    s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(t)))
    return "%s.%09dZ" % (s, int((t - int(t)) * 1e9))


def addr_num(a):
    """The address as the kernel orders it: IPv4 mapped into ::ffff:0:0/96."""
    ip = ipaddress.ip_address(a)
    return int(ip) if ip.version == 6 else (0xffff << 32) | int(ip)


def canon(proto, a, ap, b, bp):
    ka, kb = (addr_num(a), ap), (addr_num(b), bp)
    lo, hi = ((a, ap), (b, bp)) if ka <= kb else ((b, bp), (a, ap))
    return "%d|%s|%d|%s|%d" % (proto, lo[0], lo[1], hi[0], hi[1])


PROTO = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}


def record(event, node, src, sport, dst, dport, proto, fwd=(1, 60, 0), rev=(0, 0, 0), t=None,
           icmp=None):
    t = NOW if t is None else t
    fam = 6 if ":" in src else 4
    r = {
        "schema_version": 1, "event": event, "node": node, "iface": "veth0",
        "key": canon(proto, src, sport, dst, dport), "proto": PROTO.get(proto, str(proto)),
        "proto_num": proto, "family": fam, "src_ip": src, "src_port": sport,
        "dst_ip": dst, "dst_port": dport,
        "fwd": {"packets": fwd[0], "bytes": fwd[1], "tcp_flags": fwd[2], "retransmits": 0,
                "dup_acks": 0},
        "rev": {"packets": rev[0], "bytes": rev[1], "tcp_flags": rev[2], "retransmits": 0,
                "dup_acks": 0},
        "packets": fwd[0] + rev[0], "bytes": fwd[1] + rev[1],
    }
    if event == "end":
        r["end_reason"] = "idle"
    if proto == 6:
        r["tcp"] = {"flags": fwd[2] | rev[2], "flags_str": "", "out_of_order": 0,
                    "zero_windows": 0,
                    "fwd": {"next_seq": None, "ack": 0, "window": 0, "fin": False},
                    "rev": {"next_seq": None, "ack": 0, "window": 0, "fin": False}}
    if fam == 4:
        r["ip_id"] = 0
    r.update({"first_seen": stamp(t - 0.5), "last_seen": stamp(t), "duration_ms": 500,
              "verdict": "pass", "rule_id": None})
    if event == "icmp":
        r["icmp"] = {"type": icmp[0], "code": icmp[1], "inner": None}
    return r


def out(r):
    sys.stdout.write("%s\t%s\n" % (r["key"], json.dumps(r, separators=(",", ":"))))


# kind -> (offender src, expected rule fields) for the attacks scenario
EXPECTED = {
    "port_scan_vertical": {"src_ip": "10.66.0.1", "dst_ip": "10.0.0.2", "rule_type": "tcp"},
    "port_scan_horizontal": {"src_ip": "10.66.0.2", "dst_ip": "", "dst_port": 445,
                             "rule_type": "tcp"},
    "syn_flood": {"src_ip": "203.0.113.7", "dst_ip": "10.0.0.2", "dst_port": 80,
                  "rule_type": "tcp"},
    "brute_force": {"src_ip": "192.0.2.50", "dst_ip": "10.0.0.2", "dst_port": 22,
                    "rule_type": "tcp"},
    "icmp_flood": {"src_ip": "10.66.0.5", "dst_ip": "10.0.0.2", "rule_type": "icmp"},
    "icmp_error_storm": {"src_ip": "192.0.2.1", "dst_ip": "10.0.0.1", "icmp_type": 3,
                         "rule_type": "icmp"},
    "udp_reflection": {"src_ip": "198.51.100.5", "dst_ip": "10.0.0.1", "src_port": 53,
                       "rule_type": "udp"},
}


def attacks(node):
    for p in range(1, 151):  # scan_ports 100
        out(record("start", node, "10.66.0.1", 40000, "10.0.0.2", p, 6, fwd=(1, 60, 2)))
    for h in range(1, 81):  # scan_hosts 50
        out(record("start", node, "10.66.0.2", 50000, "10.1.0.%d" % h, 445, 6, fwd=(1, 60, 2)))
    for i in range(300):  # syn_flood_syns 200
        out(record("end", node, "203.0.113.7", 20000 + i, "10.0.0.2", 80, 6, fwd=(1, 60, 2),
                   rev=(1, 60, 0x12)))
    for i in range(25):  # brute_force_attempts 20
        out(record("end", node, "192.0.2.50", 30000 + i, "10.0.0.2", 22, 6,
                   fwd=(12, 2000, 0x1b), rev=(10, 3000, 0x1b)))
    out(record("end", node, "10.66.0.5", 9, "10.0.0.2", 9, 1, fwd=(6000, 504000, 0),
               rev=(6000, 504000, 0)))  # icmp_flood_packets 5000
    for i in range(150):  # icmp_error_storm 100
        out(record("icmp", node, "192.0.2.1", 0, "10.0.0.1", 0, 1, fwd=(1, 56, 0), icmp=(3, 1)))
    for i in range(20):  # reflection_bytes 1000000
        out(record("end", node, "198.51.100.5", 53, "10.0.0.1", 1000 + i, 17,
                   fwd=(100, 100000, 0)))


def normal(node):
    for c in range(1, 201):
        cl = "172.16.%d.%d" % (c >> 8, c & 255)
        for k in range(5):
            port = 443 if k % 2 else 80
            out(record("start", node, cl, 40000 + k, "10.0.0.80", port, 6, fwd=(1, 60, 2)))
            out(record("end", node, cl, 40000 + k, "10.0.0.80", port, 6, fwd=(12, 1500, 0x1b),
                       rev=(20, 30000, 0x1b)))
        out(record("end", node, cl, 50000 + c, "10.0.0.53", 53, 17, fwd=(1, 80, 0),
                   rev=(1, 300, 0)))
        out(record("end", node, cl, 7, "10.0.0.80", 7, 1, fwd=(4, 336, 0), rev=(4, 336, 0)))
        if c % 20 == 0:
            for k in range(2):
                out(record("end", node, cl, 60000 + k, "10.0.0.22", 22, 6,
                           fwd=(30, 4000, 0x1b), rev=(30, 9000, 0x1b)))


def bad():
    good = record("start", "bad-node", "10.0.0.1", 1, "10.0.0.2", 2, 6)
    lines = ["not json at all", "{\"schema_version\":1", "[]", ""]
    v2 = dict(good, schema_version=2)
    lines.append(json.dumps(v2))
    missing = dict(good)
    del missing["src_ip"]
    lines.append(json.dumps(missing))
    wrong = dict(good, src_port="80")
    lines.append(json.dumps(wrong))
    for v in lines:
        sys.stdout.write("bad\t%s\n" % v)


def bench(node, n):
    """A busy mix: every record touches the tables of several detectors."""
    i = 0
    while i < n:
        c = i % 50000
        src = "10.%d.%d.%d" % (c >> 16, (c >> 8) & 255, c & 255)
        m = i % 8
        if m < 3:
            out(record("start", node, src, 40000 + m, "10.200.0.%d" % (i % 200), 80 + (i % 7), 6,
                       fwd=(1, 60, 2)))
        elif m < 6:
            out(record("end", node, src, 40000 + m, "10.200.0.%d" % (i % 200), 443, 6,
                       fwd=(10, 1500, 0x1b), rev=(10, 9000, 0x1b)))
        elif m == 6:
            out(record("end", node, src, 50000, "10.200.1.%d" % (i % 50), 53, 17,
                       fwd=(1, 80, 0), rev=(1, 300, 0)))
        else:
            out(record("end", node, src, 7, "10.200.0.%d" % (i % 200), 7, 1,
                       fwd=(3, 252, 0), rev=(3, 252, 0)))
        i += 1


def distinct(node, n):
    for i in range(n):
        src = "10.%d.%d.%d" % (i >> 16 & 255, (i >> 8) & 255, i & 255)
        out(record("start", node, src, 40000, "10.200.0.1", 80, 6, fwd=(1, 60, 2)))


def main():
    what = sys.argv[1]
    node = sys.argv[2] if len(sys.argv) > 2 else "it-node"
    if what == "--expect":
        print(json.dumps(EXPECTED))
    elif what == "attacks":
        attacks(node)
    elif what == "normal":
        normal(node)
    elif what == "bad":
        bad()
    elif what == "bench":
        bench(node, int(sys.argv[3]))
    elif what == "distinct":
        distinct(node, int(sys.argv[3]))
    else:
        sys.exit("unknown scenario %s" % what)


if __name__ == "__main__":
    main()
