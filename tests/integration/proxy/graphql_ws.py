#!/usr/bin/env python3
"""A GraphQL subscription server and client over WebSocket (the
graphql-transport-ws protocol, python3-websockets) for proxy/graphql_ws.sh.

server --listen ADDR:PORT --tls CERT KEY --log FILE --ready FILE
    Accepts the graphql-transport-ws subprotocol on any path. Logs, one JSON
    line each: the handshake ({"event": "handshake", "path": ...,
    "extensions": the Sec-WebSocket-Extensions it was offered or null,
    "negotiated": what it answered or null}) and every message it receives
    ({"event": "message", "message": ...}). Answers connection_init with
    connection_ack, ping with pong, and a subscribe with one "next"
    ({"data": {"echo": the operation's document}}) and a "complete".

extension-server --listen ADDR:PORT --tls CERT KEY --ready FILE
    Answers every WebSocket handshake with a 101 that negotiates
    permessage-deflate whatever was offered (a server the proxy must not
    believe), then sends one compressed-looking frame and waits.

client --proxy ADDR:PORT --url wss://HOST:PORT/PATH --cafile FILE STEP...
    Opens a CONNECT tunnel through the proxy, the WebSocket through it
    (offering permessage-deflate and the graphql-transport-ws subprotocol),
    sends connection_init and waits for the ack, then runs each STEP in
    order and prints one line per step:
      sub:DOCUMENT   subscribe; prints "next ECHO" and "complete", or
                     "closed CODE REASON" when the connection closed instead
      binary         sends a binary message; prints the next message's type
                     or "closed CODE REASON"
    Before the steps it prints "extensions NEGOTIATED" (what the handshake
    answered, or "none"); a refused handshake prints "refused STATUS".
"""
import argparse
import asyncio
import base64
import hashlib
import json
import socket
import ssl
import sys
import urllib.parse

import websockets

SUBPROTOCOL = "graphql-transport-ws"


def log_line(path, record):
    with open(path, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


async def serve(args):
    host, _, port = args.listen.rpartition(":")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls[0], args.tls[1])

    async def handler(ws, path=None):
        log_line(args.log, {"event": "handshake", "path": ws.path,
                            "extensions": ws.request_headers.get("Sec-WebSocket-Extensions"),
                            "negotiated": ws.response_headers.get("Sec-WebSocket-Extensions")})
        try:
            async for raw in ws:
                log_line(args.log, {"event": "message", "message": raw if isinstance(raw, str)
                                    else raw.hex()})
                msg = json.loads(raw)
                kind = msg.get("type")
                if kind == "connection_init":
                    await ws.send(json.dumps({"type": "connection_ack"}))
                elif kind == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif kind == "subscribe":
                    doc = msg["payload"]["query"]
                    await ws.send(json.dumps({"type": "next", "id": msg["id"],
                                              "payload": {"data": {"echo": doc}}}))
                    await ws.send(json.dumps({"type": "complete", "id": msg["id"]}))
        except websockets.exceptions.ConnectionClosed:
            pass

    async with websockets.serve(handler, host, int(port), ssl=ctx, subprotocols=[SUBPROTOCOL]):
        with open(args.ready, "w") as f:
            f.write("ready\n")
        await asyncio.Future()


async def serve_extension(args):
    host, _, port = args.listen.rpartition(":")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls[0], args.tls[1])

    async def handle(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        key = ""
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n"
                      "Sec-WebSocket-Protocol: " + SUBPROTOCOL + "\r\n"
                      "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n").encode())
        writer.write(bytes([0xC1, 0x02, 0x4B, 0x04]))  # RSV1: a compressed text frame
        await writer.drain()
        try:
            await asyncio.wait_for(reader.read(), 10)
        except (asyncio.TimeoutError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, host, int(port), ssl=ctx)
    async with server:
        with open(args.ready, "w") as f:
            f.write("ready\n")
        await server.serve_forever()


def tunnel(proxy, authority):
    addr, _, port = proxy.rpartition(":")
    sock = socket.create_connection((addr, int(port)), timeout=10)
    sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit("the proxy closed the CONNECT")
        answer += chunk
    status = answer.split(b" ", 2)[1].decode()
    if status != "200":
        print(f"refused {status}")
        sys.exit(0)
    sock.setblocking(False)
    return sock


async def receive_or_close(ws):
    try:
        return json.loads(await asyncio.wait_for(ws.recv(), 10)), None
    except websockets.exceptions.ConnectionClosed as e:
        code = e.rcvd.code if e.rcvd else 1006
        reason = e.rcvd.reason if e.rcvd else ""
        return None, f"closed {code} {reason}"


async def client(args):
    url = urllib.parse.urlsplit(args.url)
    ctx = ssl.create_default_context(cafile=args.cafile)
    sock = tunnel(args.proxy, url.netloc)
    try:
        ws = await websockets.connect(args.url, ssl=ctx, sock=sock, server_hostname=url.hostname,
                                      subprotocols=[SUBPROTOCOL], open_timeout=10,
                                      compression="deflate")
    except websockets.exceptions.InvalidStatusCode as e:
        print(f"refused {e.status_code}")
        return
    except websockets.exceptions.InvalidHandshake as e:
        print(f"handshake failed {type(e).__name__}")
        return
    print("extensions", ws.response_headers.get("Sec-WebSocket-Extensions") or "none")
    await ws.send(json.dumps({"type": "connection_init"}))
    msg, closed = await receive_or_close(ws)
    print(closed or msg["type"])
    for n, step in enumerate(args.steps, 1):
        kind, _, arg = step.partition(":")
        if kind == "sub":
            await ws.send(json.dumps({"id": str(n), "type": "subscribe", "payload": {"query": arg}}))
            msg, closed = await receive_or_close(ws)
            if closed:
                print(closed)
                return
            print("next", msg["payload"]["data"]["echo"])
            msg, closed = await receive_or_close(ws)
            print(closed or msg["type"])
        elif kind == "binary":
            await ws.send(b"\x00\x01")
            msg, closed = await receive_or_close(ws)
            print(closed or msg["type"])
            if closed:
                return
    await ws.close()


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("server", "extension-server"):
        s = sub.add_parser(name)
        s.add_argument("--listen", required=True)
        s.add_argument("--tls", nargs=2, required=True)
        s.add_argument("--ready", required=True)
        if name == "server":
            s.add_argument("--log", required=True)
    c = sub.add_parser("client")
    c.add_argument("--proxy", required=True)
    c.add_argument("--url", required=True)
    c.add_argument("--cafile", required=True)
    c.add_argument("steps", nargs="*")
    args = parser.parse_args()
    if args.command == "server":
        asyncio.run(serve(args))
    elif args.command == "extension-server":
        asyncio.run(serve_extension(args))
    else:
        asyncio.run(client(args))


if __name__ == "__main__":
    sys.exit(main())
