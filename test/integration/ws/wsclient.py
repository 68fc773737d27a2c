#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Clients of the WebSocket feed for the integration tests, on Python's
websockets library (asyncio) and, where it cannot do what a broken peer
does (ignore pings), on a raw socket.

  wsclient.py collect URL PREFIX [--send JSON] [--header 'K: V'] [--origin O]
        every record line to PREFIX.records, every control message to
        PREFIX.control (one JSON per line), PREFIX.ready once subscribed,
        PREFIX.closed ("CODE REASON") when the server closes; stops on
        SIGTERM or when the server closes.
  wsclient.py slow URL PREFIX
        like collect, but stops reading once subscribed (tiny receive
        buffer, library queue of 1) until PREFIX.resume exists.
  wsclient.py status URL [--header 'K: V'] [--origin O]
        prints the HTTP status of the handshake (101 when accepted).
  wsclient.py deaf URL PREFIX
        raw socket: handshake, then read frames and answer nothing;
        PREFIX.pings counts pings, PREFIX.closed gets the seconds from the
        handshake to the server's close (or EOF).
"""
import argparse
import asyncio
import base64
import json
import os
import signal
import socket
import sys
import time
import urllib.parse

import websockets


def headers_of(args):
    h = []
    for item in args.header or []:
        k, v = item.split(":", 1)
        h.append((k.strip(), v.strip()))
    return h


def touch(path, text=""):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


async def collect(args, slow=False):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    kw = {}
    if slow:
        # Stop reading: the library buffers one message and read_limit
        # bytes, the kernel a small receive buffer; then TCP backs up.
        u = urllib.parse.urlparse(args.url)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((u.hostname, u.port))
        kw = dict(sock=sock, max_queue=1, read_limit=4096, write_limit=4096)
    recs = open(args.prefix + ".records", "w")
    ctrl = open(args.prefix + ".control", "w")
    async with websockets.connect(args.url, extra_headers=headers_of(args), origin=args.origin,
                                  ping_interval=None, max_size=None, compression=None,
                                  close_timeout=1,
                                  **kw) as ws:
        if args.send is not None:
            await ws.send(args.send)
        closed = None
        try:
            while not stop.is_set():
                if slow and os.path.exists(args.prefix + ".ready") and \
                        not os.path.exists(args.prefix + ".resume"):
                    await asyncio.sleep(0.05)
                    continue
                get = asyncio.ensure_future(ws.recv())
                halt = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait({get, halt}, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    break
                halt.cancel()
                msg = get.result()
                if msg.startswith('{"type":'):
                    ctrl.write(msg + "\n")
                    ctrl.flush()
                    if json.loads(msg)["type"] == "subscribed":
                        touch(args.prefix + ".ready")
                else:
                    recs.write(msg + "\n")
                    recs.flush()
        except websockets.ConnectionClosed as e:
            closed = "%s %s" % (e.code, e.reason)
        if closed is None and ws.close_code is not None:
            closed = "%s %s" % (ws.close_code, ws.close_reason)
        if closed is not None:
            touch(args.prefix + ".closed", closed)
    recs.close()
    ctrl.close()


async def status(args):
    try:
        async with websockets.connect(args.url, extra_headers=headers_of(args),
                                      origin=args.origin, ping_interval=None,
                                      open_timeout=10):
            print(101)
    except websockets.InvalidStatusCode as e:
        print(e.status_code)


def deaf(args):
    u = urllib.parse.urlparse(args.url)
    s = socket.create_connection((u.hostname, u.port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    path = u.path + ("?" + u.query if u.query else "")
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % (path, u.hostname, u.port, key)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            sys.exit("no handshake reply")
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 101"):
        sys.exit("handshake refused: %r" % head[:40])
    t0 = time.monotonic()
    pings = 0
    touch(args.prefix + ".ready")

    def need(n):
        nonlocal buf
        while len(buf) < n:
            d = s.recv(65536)
            if not d:
                raise EOFError
            buf += d

    try:
        while True:
            need(2)
            op, ln = buf[0] & 0x0F, buf[1] & 0x7F
            hl = 2
            if ln == 126:
                need(4)
                ln, hl = int.from_bytes(buf[2:4], "big"), 4
            elif ln == 127:
                need(10)
                ln, hl = int.from_bytes(buf[2:10], "big"), 10
            need(hl + ln)
            buf = buf[hl + ln:]
            if op == 0x9:
                pings += 1
                touch(args.prefix + ".pings", str(pings))
            elif op == 0x8:
                break
    except (EOFError, ConnectionResetError, socket.timeout):
        pass
    touch(args.prefix + ".closed", "%.2f" % (time.monotonic() - t0))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["collect", "slow", "status", "deaf"])
    p.add_argument("url")
    p.add_argument("prefix", nargs="?")
    p.add_argument("--send")
    p.add_argument("--header", action="append")
    p.add_argument("--origin")
    args = p.parse_args()
    if args.mode == "collect":
        asyncio.run(collect(args))
    elif args.mode == "slow":
        asyncio.run(collect(args, slow=True))
    elif args.mode == "status":
        asyncio.run(status(args))
    else:
        deaf(args)


if __name__ == "__main__":
    main()
