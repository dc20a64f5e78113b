#!/usr/bin/env python3
"""Test servers and probes for the lockdown integration tests.

serve --tag T [--tcp ADDR:PORT]... [--udp ADDR:PORT]... [--transparent] --ready FILE
    Answers every TCP connection and UDP datagram with one line:
    "T local=ADDR:PORT orig=ADDR:PORT" (orig: SO_ORIGINAL_DST when the
    connection was redirected, else "-"). Writes FILE once all are bound.

probe tcp|udp HOST PORT [--mark M] [--timeout S]
    Prints one line: "ok <reply>", "refused", "timeout" or "error <errno>",
    and always exits 0 (the test asserts on the line).
"""
import argparse
import errno
import selectors
import socket
import struct
import sys

SO_ORIGINAL_DST = 80
IP_TRANSPARENT = 19
IPV6_TRANSPARENT = 75


def split_endpoint(text):
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, host, int(port)


def show(addr):
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def original_dst(conn):
    try:
        if conn.family == socket.AF_INET:
            raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
            port, packed = struct.unpack_from("!2xH4s", raw)
            return f"{socket.inet_ntop(socket.AF_INET, packed)}:{port}"
        raw = conn.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
        port, packed = struct.unpack_from("!2xH4x16s", raw)
        return f"[{socket.inet_ntop(socket.AF_INET6, packed)}]:{port}"
    except OSError:
        return "-"


def serve(args):
    sel = selectors.DefaultSelector()
    for kind, specs in (("tcp", args.tcp), ("udp", args.udp)):
        for spec in specs:
            family, host, port = split_endpoint(spec)
            sock = socket.socket(family, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if args.transparent:
                level, opt = (socket.SOL_IP, IP_TRANSPARENT) if family == socket.AF_INET else (
                    socket.IPPROTO_IPV6, IPV6_TRANSPARENT)
                sock.setsockopt(level, opt, 1)
            sock.bind((host, port))
            if kind == "tcp":
                sock.listen(64)
            sel.register(sock, selectors.EVENT_READ, kind)
    with open(args.ready, "w") as f:
        f.write("ready\n")
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            if key.data == "tcp":
                conn, _ = sock.accept()
                try:
                    line = f"{args.tag} local={show(conn.getsockname())} orig={original_dst(conn)}\n"
                    conn.sendall(line.encode())
                except OSError:
                    pass
                conn.close()
            else:
                data, peer = sock.recvfrom(2048)
                line = f"{args.tag} local={show(sock.getsockname())} orig=-\n"
                try:
                    sock.sendto(line.encode(), peer)
                except OSError:
                    pass


def probe(args):
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    kind = socket.SOCK_STREAM if args.proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(family, kind)
    sock.settimeout(args.timeout)
    if args.mark:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, int(args.mark, 0))
    try:
        sock.connect((args.host, args.port))
        if args.proto == "udp":
            sock.send(b"ping\n")
        reply = sock.recv(2048).decode(errors="replace").strip()
        print(f"ok {reply}" if reply else "error empty-reply")
    except socket.timeout:
        print("timeout")
    except ConnectionRefusedError:
        print("refused")
    except OSError as e:
        print(f"error {errno.errorcode.get(e.errno, e.errno)}")
    return 0


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--tag", required=True)
    s.add_argument("--tcp", action="append", default=[])
    s.add_argument("--udp", action="append", default=[])
    s.add_argument("--transparent", action="store_true")
    s.add_argument("--ready", required=True)
    p = sub.add_parser("probe")
    p.add_argument("proto", choices=["tcp", "udp"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--mark")
    p.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args()
    return serve(args) if args.command == "serve" else probe(args)


if __name__ == "__main__":
    sys.exit(main())
