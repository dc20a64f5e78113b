#!/usr/bin/env python3
"""A WebSocket echo server and client (python3-websockets) for the
interception tests.

server --listen ADDR:PORT --tls CERT KEY --ready FILE
    Echoes every message back on any path.
client --url wss://HOST:PORT/PATH --connect ADDR:PORT --cafile FILE
    Connects to ADDR:PORT (TLS with SNI and verification for HOST), sends
    "ping 1" and "ping 2", prints each answer, or "refused STATUS" when
    the handshake is answered with another status.
"""
import argparse
import asyncio
import socket
import ssl
import sys
import urllib.parse

import websockets


async def serve(args):
    host, _, port = args.listen.rpartition(":")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls[0], args.tls[1])

    async def echo(ws, path=None):
        async for message in ws:
            await ws.send(message)

    async with websockets.serve(echo, host, int(port), ssl=ctx):
        with open(args.ready, "w") as f:
            f.write("ready\n")
        await asyncio.Future()


async def client(args):
    url = urllib.parse.urlsplit(args.url)
    ctx = ssl.create_default_context(cafile=args.cafile)
    addr, _, port = args.connect.rpartition(":")
    sock = socket.create_connection((addr, int(port)), timeout=10)
    try:
        async with websockets.connect(args.url, ssl=ctx, sock=sock, server_hostname=url.hostname,
                                      open_timeout=10) as ws:
            for i in (1, 2):
                await ws.send(f"ping {i}")
                print(await asyncio.wait_for(ws.recv(), 10))
    except websockets.exceptions.InvalidStatusCode as e:
        print(f"refused {e.status_code}")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("server")
    s.add_argument("--listen", required=True)
    s.add_argument("--tls", nargs=2, required=True)
    s.add_argument("--ready", required=True)
    c = sub.add_parser("client")
    c.add_argument("--url", required=True)
    c.add_argument("--connect", required=True)
    c.add_argument("--cafile", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args) if args.command == "server" else client(args))


if __name__ == "__main__":
    sys.exit(main())
