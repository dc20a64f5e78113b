#!/usr/bin/env python3
"""Control-plane fixture for the lens-policy-sync tests.

An independent WebSocket implementation (Debian's python3-websockets) that
plays the control plane: it accepts lens-policy-sync connections, records
every text frame it receives, and does what the test tells it through a
control socket.

  control_plane.py serve --dir DIR [--token TOKEN] [--tls-cert C --tls-key K]
      Listens on 127.0.0.1, port 0 (the port is written to DIR/port once
      listening). Records received text frames, one per line, in
      DIR/received.jsonl and accepted upgrades in DIR/connections.jsonl.
      Takes commands on the Unix socket DIR/control.sock.

  control_plane.py ctl DIR JSON
      Sends one command and prints the JSON reply; exit status 1 when the
      reply has "ok": false.

Commands ({"cmd": NAME, ...}):
  push {frame}          send a JSON object as a text frame to every client
  push_text {text}      send raw text (not necessarily JSON)
  push_big {size}       send a text frame of that many bytes (not JSON)
  push_binary {size}    send a binary frame of that many bytes
  refuse {status}       answer later upgrades with this HTTP status (0: accept)
  drop                  abort every connection (no close frame)
  close {code}          close every connection with a close frame
  freeze                stop reading from every connection (no pongs)
  thaw                  read again
  stop                  abort every connection and stop listening
  start                 listen again on the same port
  status                counts: clients, connections, received, refused,
                        close codes of ended connections
  wait_clients {count, timeout}
  wait_received {count, timeout, type?}
  answer {decision, match?, timeout?}
                        waits for a request_pending or credential_pending
                        frame not answered yet (whose action contains
                        `match`), answers it (request_decision or
                        credential_decision) and returns it as "frame"
  auto_answer {rules}   answers every later prompt at once: rules is a list
                        of [SUBSTRING, DECISION], the first whose substring
                        is in the prompt's action decides; no match: none
  pending               the prompts received and not answered yet
  clear_pending         forgets them (prompts the proxy withdrew)
"""

import argparse
import asyncio
import http
import json
import os
import socket
import ssl
import sys


class ControlPlane:
    def __init__(self, args):
        self.dir = args.dir
        self.token = args.token
        self.ssl = None
        if args.tls_cert:
            self.ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ssl.load_cert_chain(args.tls_cert, args.tls_key)
        self.port = 0
        self.server = None
        self.clients = set()
        self.connections = 0
        self.refused = 0
        self.refuse_status = 0
        self.received = 0
        self.received_by_type = {}
        self.close_codes = []
        self.changed = asyncio.Condition()
        self.prompts = []  # request_pending / credential_pending frames not answered yet
        self.auto_rules = []
        self.record = open(os.path.join(self.dir, "received.jsonl"), "a", buffering=1)
        self.conn_log = open(os.path.join(self.dir, "connections.jsonl"), "a", buffering=1)

    async def notify(self):
        async with self.changed:
            self.changed.notify_all()

    async def process_request(self, path, headers):
        auth = headers.get("Authorization", "")
        if self.refuse_status:
            self.refused += 1
            await self.notify()
            return (http.HTTPStatus(self.refuse_status), [], b"refused by the fixture\n")
        if self.token is not None and auth != "Bearer " + self.token:
            self.refused += 1
            await self.notify()
            return (http.HTTPStatus.UNAUTHORIZED, [], b"bad token\n")
        return None

    async def handler(self, ws, path=None):
        self.clients.add(ws)
        self.connections += 1
        self.conn_log.write(json.dumps({"n": self.connections, "path": ws.path}) + "\n")
        await self.notify()
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    continue
                self.record.write(message.replace("\n", "\\n") + "\n")
                self.received += 1
                try:
                    kind = json.loads(message).get("type", "")
                except (ValueError, AttributeError):
                    kind = ""
                self.received_by_type[kind] = self.received_by_type.get(kind, 0) + 1
                if kind in ("request_pending", "credential_pending"):
                    frame = json.loads(message)
                    if not await self.auto_answer(frame):
                        self.prompts.append(frame)
                await self.notify()
        except Exception:  # a dropped connection ends the handler like a close
            pass
        finally:
            self.close_codes.append(ws.close_code)
            self.clients.discard(ws)
            await self.notify()

    async def start(self):
        import websockets

        self.server = await websockets.serve(
            self.handler, "127.0.0.1", self.port, ssl=self.ssl,
            process_request=self.process_request, ping_interval=None,
            max_size=None, compression=None)
        sock = self.server.sockets[0]
        self.port = sock.getsockname()[1]

    async def stop(self):
        for ws in list(self.clients):
            ws.transport.abort()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def send_all(self, data):
        sent = 0
        for ws in list(self.clients):
            try:
                await ws.send(data)
                sent += 1
            except Exception:
                pass
        return sent

    async def wait_for(self, predicate, timeout):
        try:
            async with self.changed:
                await asyncio.wait_for(self.changed.wait_for(predicate), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def decide(self, frame, decision):
        kind = "request_decision" if frame["type"] == "request_pending" else "credential_decision"
        await self.send_all(json.dumps({"type": kind, "id": frame["id"], "decision": decision}))

    async def auto_answer(self, frame):
        for substring, decision in self.auto_rules:
            if substring in frame.get("action", ""):
                await self.decide(frame, decision)
                return True
        return False

    def status(self):
        return {"ok": True, "port": self.port, "clients": len(self.clients),
                "connections": self.connections, "received": self.received,
                "by_type": self.received_by_type, "refused": self.refused,
                "close_codes": self.close_codes,
                "listening": self.server is not None}

    async def command(self, req):
        cmd = req.get("cmd")
        if cmd == "push":
            return {"ok": True, "sent": await self.send_all(json.dumps(req["frame"]))}
        if cmd == "push_text":
            return {"ok": True, "sent": await self.send_all(req["text"])}
        if cmd == "push_big":
            return {"ok": True, "sent": await self.send_all("x" * int(req["size"]))}
        if cmd == "push_binary":
            return {"ok": True, "sent": await self.send_all(b"\x00" * int(req["size"]))}
        if cmd == "refuse":
            self.refuse_status = int(req["status"])
            return {"ok": True}
        if cmd == "drop":
            for ws in list(self.clients):
                ws.transport.abort()
            return {"ok": True}
        if cmd == "close":
            for ws in list(self.clients):
                await ws.close(code=int(req.get("code", 1000)))
            return {"ok": True}
        if cmd == "freeze":
            for ws in list(self.clients):
                ws.transport.pause_reading()
            return {"ok": True}
        if cmd == "thaw":
            for ws in list(self.clients):
                ws.transport.resume_reading()
            return {"ok": True}
        if cmd == "stop":
            await self.stop()
            return {"ok": True}
        if cmd == "start":
            await self.start()
            return {"ok": True, "port": self.port}
        if cmd == "status":
            return self.status()
        if cmd == "wait_clients":
            n = int(req.get("count", 1))
            ok = await self.wait_for(lambda: len(self.clients) >= n, float(req.get("timeout", 10)))
            return dict(self.status(), ok=ok)
        if cmd == "wait_received":
            n = int(req.get("count", 1))
            kind = req.get("type")
            if kind is None:
                pred = lambda: self.received >= n
            else:
                pred = lambda: self.received_by_type.get(kind, 0) >= n
            ok = await self.wait_for(pred, float(req.get("timeout", 10)))
            return dict(self.status(), ok=ok)
        if cmd == "answer":
            match = req.get("match", "")
            found = lambda: [f for f in self.prompts if match in f.get("action", "")]
            if not await self.wait_for(lambda: bool(found()), float(req.get("timeout", 10))):
                return {"ok": False, "error": "no prompt matching %r" % match}
            frame = found()[0]
            self.prompts.remove(frame)
            await self.decide(frame, req["decision"])
            return {"ok": True, "frame": frame}
        if cmd == "auto_answer":
            self.auto_rules = [tuple(r) for r in req["rules"]]
            return {"ok": True}
        if cmd == "clear_pending":
            self.prompts = []
            return {"ok": True}
        if cmd == "pending":
            return {"ok": True, "prompts": self.prompts}
        return {"ok": False, "error": "unknown command %r" % cmd}

    async def control_client(self, reader, writer):
        try:
            line = await reader.readline()
            try:
                reply = await self.command(json.loads(line))
            except Exception as e:  # report a bad command to the test
                reply = {"ok": False, "error": repr(e)}
            writer.write((json.dumps(reply) + "\n").encode())
            await writer.drain()
        finally:
            writer.close()

    async def run(self):
        await self.start()
        path = os.path.join(self.dir, "control.sock")
        if os.path.exists(path):
            os.unlink(path)
        await asyncio.start_unix_server(self.control_client, path=path, limit=64 << 20)
        tmp = os.path.join(self.dir, "port.tmp")
        with open(tmp, "w") as f:
            f.write("%d\n" % self.port)
        os.rename(tmp, os.path.join(self.dir, "port"))
        await asyncio.Event().wait()


def call(directory, text):
    """One command to the fixture in DIRECTORY; returns the reply as a dict."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.path.join(directory, "control.sock"))
    s.sendall(text.encode() + b"\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return json.loads(data)


def ctl(directory, text):
    reply = call(directory, text)
    sys.stdout.write(json.dumps(reply) + "\n")
    return 0 if reply.get("ok") else 1


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--dir", required=True)
    serve.add_argument("--token")
    serve.add_argument("--tls-cert")
    serve.add_argument("--tls-key")
    c = sub.add_parser("ctl")
    c.add_argument("dir")
    c.add_argument("json")
    args = parser.parse_args()
    if args.mode == "ctl":
        sys.exit(ctl(args.dir, args.json))
    asyncio.run(ControlPlane(args).run())


if __name__ == "__main__":
    main()
