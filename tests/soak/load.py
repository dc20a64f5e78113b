#!/usr/bin/env python3
"""Load generators, odd servers and counters for the soak (tests/soak/).

Every generator runs until SIGTERM or SIGINT and keeps a JSON summary in its
--status file (rewritten every second and once more on exit, atomically),
so the shell reads numbers, never parses logs.

echo --listen ADDR:PORT --ready FILE
    Echoes every byte back (asyncio: a thousand connections cost no threads).

tunnels --proxy ADDR:PORT --target HOST:PORT --count N [--interval S] [--ramp S] --status FILE
    N CONNECT tunnels to an echo server, opened evenly over --ramp seconds.
    Each sends 64 bytes every --interval seconds (jittered +-50%) and
    expects them back within 5 s. A tunnel that fails is counted and opened
    again, so the count stays at N.

forward --proxy ADDR:PORT --url http://HOST:PORT/PATH --clients N [--rate R] --status FILE
    N keep-alive clients, each sending absolute-form GETs (URL/CLIENT/SEQ)
    at R requests per second on one connection; every answer must be 200.
    A connection the proxy closes is opened again (counted).

slow --proxy ADDR:PORT --url URL --count N [--ramp S] --status FILE
    N clients that send a request head without its final empty line and
    wait: the proxy answers 408 after its --header-timeout; they then
    connect again and do the same.

dns --server ADDR:PORT [--rate R] --allow NAME... --deny NAME... --status FILE
    UDP A queries at R per second, cycling through the names: an --allow
    name must be answered NOERROR with an address, a --deny name NXDOMAIN.
    Unanswered after 2 s counts as a timeout.

dns-unique --server ADDR:PORT --suffix DOMAIN --count N [--rate R] --status FILE
    N queries for distinct names q<i>.DOMAIN (one each, no retry), counting
    the answers by rcode and those never answered (5 s). Exits when done.

reset-origin --listen ADDR:PORT --ready FILE
    An HTTP origin that answers every request with a 200 whose head
    promises 1,000,000 bytes, sends 32 KiB of them and then resets the
    connection (RST, SO_LINGER 0).

slow-reader --proxy ADDR:PORT --url URL --seconds S --status FILE
    One GET through the proxy with a 4 KiB receive buffer, read one byte a
    second for S seconds, then closed.

audit-count FILE [--action REGEX] [--phase PHASE] [--source TOOL]
    Counts the events in an audit file (JSON lines) whose action matches
    REGEX (re.search), adding the "suppressed" counts of rate-limited ones:
    prints the total.

spool-ids DIR
    Prints the ids of the records in a lens-policy-sync spool directory
    (its seg-*.jsonl files), one per line.
"""
import argparse
import asyncio
import glob
import json
import os
import random
import re
import signal
import socket
import socketserver
import struct
import sys
import time


def split_endpoint(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, sort_keys=True)
    os.rename(tmp, path)


class Status:
    """Counters plus an error histogram, dumped to --status every second."""

    def __init__(self, path, **fields):
        self.path = path
        self.data = dict(fields)
        self.data["errors"] = {}
        self.started = time.monotonic()

    def add(self, key, n=1):
        self.data[key] = self.data.get(key, 0) + n

    def error(self, kind):
        self.data["errors"][kind] = self.data["errors"].get(kind, 0) + 1

    def peak(self, key, value):
        if value > self.data.get(key, 0):
            self.data[key] = value

    def dump(self):
        self.data["seconds"] = round(time.monotonic() - self.started, 1)
        write_json(self.path, self.data)


async def run_until_stopped(status, workers):
    """Runs the worker coroutines until SIGTERM/SIGINT, dumps the status and
    exits. asyncio.wait_for of Python < 3.12 may swallow a cancellation that
    races with its result, so the workers get a moment to end and then the
    process exits whatever they do."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.ensure_future(w) for w in workers]

    async def dumper():
        while True:
            status.dump()
            await asyncio.sleep(1)

    tasks.append(asyncio.ensure_future(dumper()))
    await stop.wait()
    for t in tasks:
        t.cancel()
    await asyncio.wait(tasks, timeout=3)
    status.dump()
    sys.stdout.flush()
    os._exit(0)


# ---- echo -------------------------------------------------------------------


async def echo(args):
    async def handle(reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    host, port = split_endpoint(args.listen)
    server = await asyncio.start_server(handle, host, port, backlog=4096, reuse_address=True)
    with open(args.ready + ".tmp", "w") as f:
        f.write("ready %d\n" % server.sockets[0].getsockname()[1])
    os.rename(args.ready + ".tmp", args.ready)
    await server.serve_forever()


# ---- tunnels ----------------------------------------------------------------


async def open_tunnel(proxy, target):
    host, port = split_endpoint(proxy)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    if not head.startswith(b"HTTP/1.1 200"):
        writer.close()
        raise ConnectionError("refused: " + head.split(b"\r\n")[0].decode(errors="replace"))
    return reader, writer


async def tunnel(args, status, index):
    await asyncio.sleep(args.ramp * index / max(args.count, 1))
    while True:
        writer = None
        try:
            try:
                reader, writer = await open_tunnel(args.proxy, args.target)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError) as e:
                status.error("connect: " + (str(e) if isinstance(e, ConnectionError) else type(e).__name__))
                await asyncio.sleep(1)
                continue
            status.add("established")
            status.add("open")
            try:
                seq = 0
                while True:
                    await asyncio.sleep(args.interval * random.uniform(0.5, 1.5))
                    seq += 1
                    payload = (f"{index:05d}:{seq:010d}:".encode() + b"x" * 64)[:64]
                    sent = time.monotonic()
                    writer.write(payload)
                    try:
                        got = await asyncio.wait_for(reader.readexactly(64), 5)
                    except asyncio.TimeoutError:
                        status.error("echo timeout")
                        break
                    except (asyncio.IncompleteReadError, OSError):
                        status.error("tunnel closed")
                        break
                    if got != payload:
                        status.error("echo mismatch")
                        break
                    status.add("roundtrips")
                    status.peak("max_rtt_ms", round((time.monotonic() - sent) * 1000))
            finally:
                status.add("open", -1)
        finally:
            if writer is not None:
                writer.close()


async def tunnels(args):
    status = Status(args.status, target=args.count, established=0, open=0, roundtrips=0, max_rtt_ms=0)
    await run_until_stopped(status, [tunnel(args, status, i) for i in range(args.count)])


# ---- forward keep-alive clients -------------------------------------------------


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, fields = head.decode("latin-1").partition("\r\n")
    length = 0
    close = False
    for line in fields.split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
        if name.strip().lower() == "connection" and "close" in value.lower():
            close = True
    body = await reader.readexactly(length) if length else b""
    code = int(status_line.split(" ")[1])
    return code, body, close


async def connect(host, port, status):
    """A connection to host:port, or None after a counted error and a pause."""
    try:
        return await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    except (OSError, asyncio.TimeoutError):
        status.error("connect")
        await asyncio.sleep(1)
        return None


async def forward_client(args, status, index):
    host, port = split_endpoint(args.proxy)
    authority = re.match(r"http://([^/]+)", args.url).group(1)
    await asyncio.sleep(index / max(args.clients, 1))
    seq = 0
    while True:
        writer = None
        try:
            connection = await connect(host, port, status)
            if connection is None:
                continue
            reader, writer = connection
            status.add("connections")
            while True:
                seq += 1
                writer.write(f"GET {args.url}/{index}/{seq} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
                sent = time.monotonic()
                try:
                    code, _, close = await asyncio.wait_for(read_response(reader), 10)
                except asyncio.TimeoutError:
                    status.error("timeout")
                    break
                except (asyncio.IncompleteReadError, OSError):
                    status.add("closed_by_proxy")  # between requests: open another
                    break
                if code != 200:
                    status.error("status %d" % code)
                else:
                    status.add("ok")
                    status.peak("max_latency_ms", round((time.monotonic() - sent) * 1000))
                if close:
                    break
                await asyncio.sleep(1 / args.rate)
        finally:
            if writer is not None:
                writer.close()


async def forward(args):
    status = Status(args.status, clients=args.clients, ok=0, connections=0, closed_by_proxy=0, max_latency_ms=0)
    await run_until_stopped(status, [forward_client(args, status, i) for i in range(args.clients)])


# ---- slow clients -------------------------------------------------------------------


async def slow_client(args, status, index):
    host, port = split_endpoint(args.proxy)
    authority = re.match(r"http://([^/]+)", args.url).group(1)
    await asyncio.sleep(args.ramp * index / max(args.count, 1))
    while True:
        writer = None
        try:
            connection = await connect(host, port, status)
            if connection is None:
                continue
            reader, writer = connection
            status.add("connections")
            status.add("holding")
            started = time.monotonic()
            # The head without its final empty line: the proxy must time it out.
            writer.write(f"GET {args.url}/{index} HTTP/1.1\r\nHost: {authority}\r\n".encode())
            try:
                answer = await asyncio.wait_for(reader.read(4096), args.wait)
            except asyncio.TimeoutError:
                answer = None
            except OSError:
                answer = b""
            finally:
                status.add("holding", -1)
            if answer is None:
                status.error("no answer in %d s" % args.wait)
            elif answer.startswith(b"HTTP/1.1 408"):
                status.add("answered_408")
                status.peak("max_wait_s", round(time.monotonic() - started, 1))
            else:
                status.error("answer: " + answer.split(b"\r\n")[0].decode(errors="replace")[:40])
        finally:
            if writer is not None:
                writer.close()


async def slow(args):
    status = Status(args.status, count=args.count, connections=0, holding=0, answered_408=0, max_wait_s=0)
    await run_until_stopped(status, [slow_client(args, status, i) for i in range(args.count)])


# ---- DNS ------------------------------------------------------------------------------


def dns_query(qid, name, qtype=1):
    wire = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        wire += bytes([len(label)]) + label.encode()
    return wire + b"\x00" + struct.pack(">HH", qtype, 1)


def dns_answer(data):
    """(id, rcode, answer count) of a response."""
    qid, flags, _, ancount = struct.unpack(">HHHH", data[:8])
    return qid, flags & 0xF, ancount


class DnsClient(asyncio.DatagramProtocol):
    def __init__(self):
        self.waiting = {}  # id -> (future)

    def datagram_received(self, data, addr):
        if len(data) < 12:
            return
        qid, rcode, ancount = dns_answer(data)
        fut = self.waiting.pop(qid, None)
        if fut is not None and not fut.done():
            fut.set_result((rcode, ancount))


async def dns_one(proto, transport, qid, name, timeout):
    fut = asyncio.get_running_loop().create_future()
    proto.waiting[qid] = fut
    transport.sendto(dns_query(qid, name))
    try:
        return await asyncio.wait_for(fut, timeout)
    except asyncio.TimeoutError:
        proto.waiting.pop(qid, None)
        return None


async def dns(args):
    host, port = split_endpoint(args.server)
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(DnsClient, remote_addr=(host, port))
    status = Status(args.status, sent=0, answered=0, timeouts=0, rate=args.rate)
    names = [(n, True) for n in args.allow] + [(n, False) for n in args.deny]
    pending = set()

    async def one(qid, name, allowed):
        got = await dns_one(proto, transport, qid, name, 2)
        if got is None:
            status.add("timeouts")
            return
        rcode, ancount = got
        status.add("answered")
        if allowed and not (rcode == 0 and ancount > 0):
            status.error("allowed name rcode %d answers %d" % (rcode, ancount))
        elif not allowed and rcode != 3:
            status.error("denied name rcode %d" % rcode)

    async def sender():
        qid = 0
        i = 0
        start = time.monotonic()
        while True:
            # Catch up to the rate in 10 ms steps (a steady stream, not bursts).
            due = int((time.monotonic() - start) * args.rate)
            while status.data["sent"] < due:
                qid = (qid + 1) & 0xFFFF
                name, allowed = names[i % len(names)]
                i += 1
                status.add("sent")
                t = asyncio.ensure_future(one(qid, name, allowed))
                pending.add(t)
                t.add_done_callback(pending.discard)
            await asyncio.sleep(0.01)

    await run_until_stopped(status, [sender()])


async def dns_unique(args):
    host, port = split_endpoint(args.server)
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(DnsClient, remote_addr=(host, port))
    status = Status(args.status, sent=0, unanswered=0, rcodes={})
    tasks = []

    async def one(i):
        got = await dns_one(proto, transport, i & 0xFFFF, "q%d.%s" % (i, args.suffix), 5)
        if got is None:
            status.add("unanswered")
        else:
            key = str(got[0])
            status.data["rcodes"][key] = status.data["rcodes"].get(key, 0) + 1

    start = time.monotonic()
    for i in range(args.count):
        await asyncio.sleep(max(0, start + i / args.rate - time.monotonic()))
        status.add("sent")
        tasks.append(asyncio.ensure_future(one(i)))
    await asyncio.gather(*tasks)
    transport.close()
    status.dump()


# ---- reset origin, slow reader ------------------------------------------------------


class ResetOrigin(socketserver.StreamRequestHandler):
    def handle(self):
        while True:  # the request head, whatever it holds
            line = self.rfile.readline()
            if line in (b"\r\n", b"\n", b""):
                break
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Content-Length: 1000000\r\n\r\n" + b"x" * 32768)
        self.wfile.flush()
        time.sleep(0.1)  # the partial body is on its way before the reset
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class Threaded(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def reset_origin(args):
    server = Threaded(split_endpoint(args.listen), ResetOrigin)
    with open(args.ready + ".tmp", "w") as f:
        f.write("ready %d\n" % server.server_address[1])
    os.rename(args.ready + ".tmp", args.ready)
    server.serve_forever()


def slow_reader(args):
    host, port = split_endpoint(args.proxy)
    authority = re.match(r"http://([^/]+)", args.url).group(1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    s.settimeout(10)
    s.connect((host, port))
    s.sendall(f"GET {args.url} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    status = {"bytes": 0}
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        data = s.recv(1)
        if not data:
            status["closed_early"] = True
            break
        status["bytes"] += 1
        write_json(args.status, status)
        time.sleep(1)
    s.close()
    write_json(args.status, status)


# ---- counters ---------------------------------------------------------------------------


def audit_count(args):
    pattern = re.compile(args.action) if args.action else None
    total = 0
    with open(args.file, errors="replace") as f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                print("not JSON: %r" % line[:80], file=sys.stderr)
                continue
            meta = event.get("metadata") or {}
            if pattern and not pattern.search(event.get("action", "")):
                continue
            if args.phase and meta.get("phase") != args.phase:
                continue
            if args.source and event.get("source") != args.source:
                continue
            total += 1 + int(meta.get("suppressed", 0))
    print(total)


def spool_ids(args):
    for path in sorted(glob.glob(os.path.join(args.dir, "seg-*.jsonl"))):
        with open(path, errors="replace") as f:
            for line in f:
                try:
                    print(json.loads(line)["id"])
                except (ValueError, KeyError, TypeError):
                    pass  # a torn last line


# The subcommands: name -> (function, is it asyncio, its arguments as
# (flag, type or None, default or REQUIRED)).
REQUIRED = object()
COMMANDS = {
    "echo": (echo, True, [("--listen", str, REQUIRED), ("--ready", str, REQUIRED)]),
    "tunnels": (tunnels, True, [
        ("--proxy", str, REQUIRED), ("--target", str, REQUIRED), ("--count", int, REQUIRED),
        ("--interval", float, 2), ("--ramp", float, 10), ("--status", str, REQUIRED)]),
    "forward": (forward, True, [
        ("--proxy", str, REQUIRED), ("--url", str, REQUIRED), ("--clients", int, REQUIRED),
        ("--rate", float, 5), ("--status", str, REQUIRED)]),
    "slow": (slow, True, [
        ("--proxy", str, REQUIRED), ("--url", str, REQUIRED), ("--count", int, REQUIRED),
        ("--ramp", float, 10), ("--wait", float, 60),  # seconds to wait for the 408
        ("--status", str, REQUIRED)]),
    "dns": (dns, True, [
        ("--server", str, REQUIRED), ("--rate", float, 200), ("--allow", list, []),
        ("--deny", list, []), ("--status", str, REQUIRED)]),
    "dns-unique": (dns_unique, True, [
        ("--server", str, REQUIRED), ("--suffix", str, REQUIRED), ("--count", int, REQUIRED),
        ("--rate", float, 50), ("--status", str, REQUIRED)]),
    "reset-origin": (reset_origin, False, [("--listen", str, REQUIRED), ("--ready", str, REQUIRED)]),
    "slow-reader": (slow_reader, False, [
        ("--proxy", str, REQUIRED), ("--url", str, REQUIRED), ("--seconds", float, REQUIRED),
        ("--status", str, REQUIRED)]),
    "audit-count": (audit_count, False, [
        ("file", str, REQUIRED), ("--action", str, None), ("--phase", str, None),
        ("--source", str, None)]),
    "spool-ids": (spool_ids, False, [("dir", str, REQUIRED)]),
}


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    for name, (_, _, arguments) in COMMANDS.items():
        a = sub.add_parser(name)
        for flag, kind, default in arguments:
            if not flag.startswith("--"):
                a.add_argument(flag)
            elif kind is list:
                a.add_argument(flag, nargs="+", default=default)
            elif default is REQUIRED:
                a.add_argument(flag, type=kind, required=True)
            else:
                a.add_argument(flag, type=kind, default=default)
    args = p.parse_args()
    function, is_async, _ = COMMANDS[args.command]
    if is_async:
        asyncio.run(function(args))
        return 0
    return function(args)


if __name__ == "__main__":
    sys.exit(main())
