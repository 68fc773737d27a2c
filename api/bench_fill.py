#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Fill a pinned flow table with N synthetic flows, for api/bench.sh.

    bench_fill.py PIN_DIR N

Writes struct flow_key / struct flow_value (kernel/conn_tracker.h) with
BPF_MAP_UPDATE_BATCH through the bpf() syscall, 10.N.N.N -> 10.200.0.1:80
TCP flows with increasing byte counts and fresh timestamps, so that
GET /api/connections has a large table to walk. Benchmark only.
"""
import ctypes
import os
import struct
import sys
import time

SYS_BPF = 321  # x86_64
BPF_OBJ_GET = 7
BPF_MAP_UPDATE_BATCH = 26

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    ret = libc.syscall(SYS_BPF, cmd, buf, 128)
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def obj_get(path):
    p = ctypes.create_string_buffer(path.encode())
    return bpf(BPF_OBJ_GET, struct.pack("=QII", ctypes.addressof(p), 0, 0)), p


def mapped(a, b, c, d):
    """::ffff:a.b.c.d, network order, as the flow key stores IPv4."""
    return b"\x00" * 10 + b"\xff\xff" + bytes((a, b, c, d))


def main():
    pin, n = sys.argv[1], int(sys.argv[2])
    fd, _keep = obj_get(os.path.join(pin, "flows"))
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    chunk = 4096
    for start in range(0, n, chunk):
        cnt = min(chunk, n - start)
        keys = bytearray()
        vals = bytearray()
        for i in range(start, start + cnt):
            lo = mapped(10, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF)
            hi = mapped(10, 200, 0, 1)
            keys += lo + hi + struct.pack("=HHB3x", 1024 + i % 60000, 80, 6)
            d0 = struct.pack("=QQIIHBBHH", 10 + i % 100, 1000 + i, 1, 1, 512, 0x12, 0, 0, 0)
            d1 = struct.pack("=QQIIHBBHH", 5, 300, 1, 1, 512, 0x12, 0, 0, 0)
            vals += d0 + d1 + struct.pack("=QQHHHHIBBBB", now - 10**9, now - i, 0, 0, 0, 0, 0,
                                          0, 0, 0, 0)
        kb = ctypes.create_string_buffer(bytes(keys))
        vb = ctypes.create_string_buffer(bytes(vals))
        attr = struct.pack("=QQQQIIQQ", 0, 0, ctypes.addressof(kb), ctypes.addressof(vb), cnt,
                           fd, 0, 0)
        bpf(BPF_MAP_UPDATE_BATCH, attr)
    os.close(fd)


if __name__ == "__main__":
    main()
