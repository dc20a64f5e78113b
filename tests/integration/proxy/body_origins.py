#!/usr/bin/env python3
"""Origins for the body-rule tests of lens-proxy (proxy/body_rules.sh).

graphql --listen ADDR:PORT [--tls CERT KEY] --log FILE --ready FILE
    A GraphQL endpoint at /graphql: POST with a JSON object (or a batch, an
    array of them), GET with ?query=...&operationName=... . It runs nothing:
    each request object is answered {"data": {"operationName": NAME,
    "queryBytes": N}} (a batch with a list of those); a body that is not
    JSON gets 400 {"errors": [...]}. GET /health: 200 {"ok": true}; other
    paths: 404.

mcp --listen ADDR:PORT [--tls CERT KEY] --log FILE --ready FILE
    An MCP server over streamable HTTP at /mcp, answering application/json
    (never an event stream): initialize (with an Mcp-Session-Id), ping,
    tools/list, tools/call of "search" {query} and "delete_repo" {repo},
    resources/list, resources/read; another method gets a JSON-RPC error
    -32601. A notification (no id) gets 202 and no body; an array is
    answered element by element. GET /mcp: 405; DELETE /mcp: 204.

Both log every request as one JSON line (keys sorted) to --log before
answering it:
    {"server": "graphql"|"mcp", "method": ..., "target": ..., "path": ...,
     "content_length": "N" or null, "transfer_encoding": ... or null,
     "content_encoding", "content_type", "expect" (likewise),
     "headers": [[name, value], ...] (as received),
     "body_bytes": N, "body_sha256": HEX, "body": TEXT (UTF-8, errors replaced),
     "rpc_method", "tool" (mcp: the JSON-RPC method and params.name, or null)}
A chunked request body is read whole (and logged as such: then
transfer_encoding is "chunked" and content_length null). Neither ever sends
100 Continue (to an Expect: 100-continue the body is just read), so a 100 a
client sees through lens-proxy is the proxy's own.

Each server writes "ready PORT" to its --ready file once it listens.
Python standard library only (servers.py's TLS server).
"""
import argparse
import hashlib
import http.server
import json
import os
import sys
import threading
import urllib.parse
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402

log_lock = threading.Lock()


class Logged(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_kind = "-"

    def log_message(self, *args):
        pass

    def handle_expect_100(self):
        # No 100 Continue: the body is read without one (see the docstring).
        return True

    def read_body(self):
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(length)) if length else b""

    def log_request_body(self, body, **extra):
        entry = {
            "server": self.server_kind,
            "method": self.command,
            "target": self.path,
            "path": urllib.parse.urlsplit(self.path).path,
            "content_length": self.headers.get("Content-Length"),
            "transfer_encoding": self.headers.get("Transfer-Encoding"),
            "content_encoding": self.headers.get("Content-Encoding"),
            "content_type": self.headers.get("Content-Type"),
            "expect": self.headers.get("Expect"),
            "headers": [[name, value] for name, value in self.headers.items()],
            "body_bytes": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "body": body.decode("utf-8", errors="replace"),
        }
        entry.update(extra)
        with log_lock, open(self.server.log, "a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")

    def send_json(self, status, value, headers=()):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, text in headers:
            self.send_header(name, text)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_empty(self, status, headers=()):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        for name, text in headers:
            self.send_header(name, text)
        self.end_headers()


class Graphql(Logged):
    server_kind = "graphql"

    @staticmethod
    def answer(request):
        if not isinstance(request, dict):
            return {"errors": [{"message": "a request is a JSON object"}]}
        query = request.get("query")
        return {"data": {"operationName": request.get("operationName"),
                         "queryBytes": len(query.encode()) if isinstance(query, str) else None}}

    def handle_any(self):
        body = self.read_body()
        self.log_request_body(body)
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/health":
            self.send_json(200, {"ok": True})
            return
        if url.path != "/graphql":
            self.send_json(404, {"errors": [{"message": "not found"}]})
            return
        if self.command == "GET":
            params = urllib.parse.parse_qs(url.query)
            request = {key: values[0] for key, values in params.items()}
            self.send_json(200, self.answer(request))
            return
        if self.command != "POST":
            self.send_json(405, {"errors": [{"message": "GET or POST"}]}, [("Allow", "GET, POST")])
            return
        try:
            request = json.loads(body)
        except ValueError as e:
            self.send_json(400, {"errors": [{"message": f"not JSON: {e}"}]})
            return
        if isinstance(request, list):
            self.send_json(200, [self.answer(r) for r in request])
        else:
            self.send_json(200, self.answer(request))

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any


TOOLS = [
    {"name": "search", "description": "Search the code.",
     "inputSchema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}},
    {"name": "delete_repo", "description": "Delete a repository.",
     "inputSchema": {"type": "object", "properties": {"repo": {"type": "string"}}, "required": ["repo"]}},
]
RESOURCES = [{"uri": "file:///notes.txt", "name": "notes", "mimeType": "text/plain"}]


class Mcp(Logged):
    server_kind = "mcp"

    @staticmethod
    def result(method, params):
        """(result, None) or (None, (code, message))."""
        if method == "initialize":
            return {"protocolVersion": params.get("protocolVersion", "2025-06-18"),
                    "capabilities": {"tools": {}, "resources": {}},
                    "serverInfo": {"name": "lens-test-mcp", "version": "1"}}, None
        if method == "ping":
            return {}, None
        if method == "tools/list":
            return {"tools": TOOLS}, None
        if method == "tools/call":
            name = params.get("name")
            arguments = params.get("arguments") or {}
            if name == "search":
                text = f"3 results for {arguments.get('query')!r}"
            elif name == "delete_repo":
                text = f"deleted {arguments.get('repo')}"
            else:
                return None, (-32602, f"unknown tool {name!r}")
            return {"content": [{"type": "text", "text": text}], "isError": False}, None
        if method == "resources/list":
            return {"resources": RESOURCES}, None
        if method == "resources/read":
            uri = params.get("uri")
            return {"contents": [{"uri": uri, "mimeType": "text/plain", "text": f"contents of {uri}"}]}, None
        return None, (-32601, f"method not found: {method}")

    def respond(self, message):
        """The JSON-RPC response to one message, or None for a notification."""
        if not isinstance(message, dict) or not isinstance(message.get("method"), str):
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request"}}
        if "id" not in message:
            return None
        params = message.get("params")
        result, error = self.result(message["method"], params if isinstance(params, dict) else {})
        response = {"jsonrpc": "2.0", "id": message["id"]}
        if error:
            response["error"] = {"code": error[0], "message": error[1]}
        else:
            response["result"] = result
        return response

    def handle_any(self):
        body = self.read_body()
        message = None
        try:
            message = json.loads(body) if body else None
        except ValueError:
            pass
        first = message[0] if isinstance(message, list) and message else message
        params = first.get("params") if isinstance(first, dict) else None
        self.log_request_body(body, rpc_method=first.get("method") if isinstance(first, dict) else None,
                              tool=params.get("name") if isinstance(params, dict) else None)
        if urllib.parse.urlsplit(self.path).path != "/mcp":
            self.send_empty(404)
            return
        if self.command == "DELETE":
            self.send_empty(204)
            return
        if self.command != "POST":
            self.send_empty(405, [("Allow", "POST, DELETE")])
            return
        if message is None:
            self.send_json(400, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
            return
        headers = []
        if isinstance(message, dict) and message.get("method") == "initialize":
            headers.append(("Mcp-Session-Id", uuid.uuid4().hex))
        if isinstance(message, list):
            responses = [r for r in (self.respond(m) for m in message) if r is not None]
            answer = responses or None
        else:
            answer = self.respond(message)
        if answer is None:
            self.send_empty(202, headers)
        else:
            self.send_json(200, answer, headers)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("graphql", "mcp"):
        p = sub.add_parser(name)
        p.add_argument("--listen", required=True)
        p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
        p.add_argument("--log", required=True)
        p.add_argument("--ready", required=True)
    args = parser.parse_args()
    servers.serve(args, Graphql if args.command == "graphql" else Mcp)


if __name__ == "__main__":
    sys.exit(main())
