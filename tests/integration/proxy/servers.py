#!/usr/bin/env python3
"""Servers for the lens-proxy integration tests.

origin --listen ADDR:PORT [--tls CERT KEY [--client-ca CA]] [--log FILE] [--http10] [--hop-headers] --ready FILE
    An HTTP/1.1 server (keep-alive), or with --http10 an HTTP/1.0 one (its
    status lines say HTTP/1.0; one request per connection). With --log,
    appends "METHOD TARGET host=HOST" per request to FILE, then the head's
    fields indented (and "client-cert: CN=..." with --client-ca, which makes
    the TLS server require a client certificate signed by CA). With
    --hop-headers every response also carries the hop-by-hop fields a proxy
    must not pass on: "Connection: X-Hop" (with ", keep-alive" from the
    HTTP/1.1 server), "X-Hop: 1" and "Keep-Alive: timeout=5, max=100".
    Every request is answered 200 with a text body describing what arrived:
        origin METHOD TARGET
        host=<Host header>
        proxy-headers=<names of Proxy-* fields, comma-separated, or ->
        conn-requests=<requests so far on this connection>
        body-bytes=<bytes of request body>
    GET /big/N answers N bytes of "x". GET /chunked answers a chunked body.
    GET /hints sends a 103 Early Hints first, whatever the request's version.

echo --listen ADDR:PORT --ready FILE
    Echoes every byte back, per connection.

hold --proxy ADDR:PORT --target HOST:PORT --status FILE [--seconds S]
    Opens a CONNECT tunnel to an echo server through the proxy and keeps it:
    appends "established" to FILE, then every 0.2 s sends "ping" and expects
    it back; appends "closed after N.N s" when the tunnel ends (or "open"
    after S seconds, default 20).

git --listen ADDR:PORT --tls CERT KEY --root DIR --ready FILE
    Git's smart HTTP (git http-backend as a CGI) for the repositories under
    DIR, at /cgi-bin/git.py/<repository>.

upstream --listen ADDR:PORT [--tls CERT KEY] --log FILE --ready FILE [--auth VALUE] [--map NAME=IP]...
    A CONNECT-only proxy (names in --map resolve to their IP, others by the system). Logs "CONNECT <target> auth=<Proxy-Authorization or ->"
    per request to FILE; with --auth, a different Proxy-Authorization gets
    407. Tunnels the bytes both ways.

Each server writes "ready PORT" to its --ready file once it listens (PORT is
the one bound, so --listen 127.0.0.1:0 works).
"""
import argparse
import http.server
import os
import select
import socket
import socketserver
import ssl
import sys
import threading


def split_endpoint(text):
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), host, int(port)


class Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The head and the body are two writes: with Nagle on, the body waits
    # for the client's delayed ACK (40 ms per keep-alive request).
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.count = 0

    def log_message(self, *args):
        pass

    def send_hop_headers(self):
        if not self.server.hop_headers:
            return
        keep = ", keep-alive" if self.protocol_version == "HTTP/1.1" else ""
        self.send_header("Connection", "X-Hop" + keep)
        self.send_header("X-Hop", "1")
        self.send_header("Keep-Alive", "timeout=5, max=100")

    def handle_any(self):
        self.count += 1
        if self.server.log:
            with open(self.server.log, "a") as f:
                f.write(f"{self.command} {self.path} host={self.headers.get('Host', '-')}\n")
                if self.server.client_ca:  # mutual TLS: whose certificate the client presented
                    subject = dict(item[0] for item in self.connection.getpeercert()["subject"])
                    f.write(f"  client-cert: CN={subject.get('commonName', '-')}\n")
                # The head's fields too, indented: what the proxy sent.
                f.writelines(f"  {name}: {value}\n" for name, value in self.headers.items())
        length = int(self.headers.get("Content-Length") or 0)
        body_bytes = len(self.rfile.read(length)) if length else 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body_bytes += len(self.rfile.read(size))
                self.rfile.readline()
        if self.path == "/hints":
            self.wfile.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
        if self.path.startswith("/big/"):
            n = int(self.path[5:])
            self.send_response(200)
            self.send_hop_headers()
            self.send_header("Content-Length", str(n))
            self.end_headers()
            if self.command != "HEAD":
                chunk = b"x" * 65536
                while n > 0:
                    self.wfile.write(chunk[: min(n, len(chunk))])
                    n -= min(n, len(chunk))
            return
        proxy = sorted(k for k in self.headers.keys() if k.lower().startswith("proxy-"))
        text = (f"origin {self.command} {self.path}\nhost={self.headers.get('Host', '-')}\n"
                f"proxy-headers={','.join(proxy) or '-'}\nconn-requests={self.count}\n"
                f"body-bytes={body_bytes}\n").encode()
        self.send_response(200)
        self.send_hop_headers()
        if self.path == "/trailers":  # a chunked body with trailer fields (gRPC's status rides there)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "x-checksum")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\nx-checksum: c0ffee\r\n\r\n" % (len(text), text))
            return
        if self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (text[:10], text[10:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(text)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any


class Origin10(Origin):
    protocol_version = "HTTP/1.0"


class Upstream(socketserver.StreamRequestHandler):
    def handle(self):
        head = b""
        while b"\r\n\r\n" not in head:
            data = self.connection.recv(4096)
            if not data:
                return
            head += data
        head, _, rest = head.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        auth = "-"
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "proxy-authorization":
                auth = value.strip()
        with open(self.server.log, "a") as f:
            f.write(f"{method} {target} auth={auth}\n")
        if method != "CONNECT":
            self.connection.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        if self.server.auth and auth != self.server.auth:
            self.connection.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            return
        family, host, port = split_endpoint(target)
        host = self.server.names.get(host, host)
        try:
            out = socket.create_connection((host, port), timeout=5)
        except OSError:
            self.connection.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        self.connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            out.sendall(rest)
        socks = [self.connection, out]
        while True:
            readable, _, _ = select.select(socks, [], [], 30)
            if not readable:
                return
            for s in readable:
                try:
                    data = s.recv(65536)
                except (OSError, ssl.SSLError):
                    return
                if not data:
                    return
                (out if s is self.connection else self.connection).sendall(data)


class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            data = self.connection.recv(65536)
            if not data:
                return
            self.connection.sendall(data)


def hold(args):
    import time
    start = time.monotonic()
    def status(line):
        with open(args.status, "a") as f:
            f.write(line + "\n")
    host, _, port = args.proxy.rpartition(":")
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(f"CONNECT {args.target} HTTP/1.1\r\nHost: {args.target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        data = s.recv(4096)
        if not data:
            status("refused")
            return 0
        head += data
    if not head.startswith(b"HTTP/1.1 200"):
        status("refused " + head.split(b"\r\n")[0].decode())
        return 0
    status("established")
    s.settimeout(2)
    while time.monotonic() - start < args.seconds:
        try:
            s.sendall(b"ping")
            got = b""
            while len(got) < 4:
                data = s.recv(4 - len(got))
                if not data:
                    raise ConnectionError
                got += data
        except (OSError, ConnectionError):
            status(f"closed after {time.monotonic() - start:.1f} s")
            return 0
        time.sleep(0.2)
    status("open")
    return 0


class Threaded(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # many connections at once (HTTP/2 streams through the proxy)


def serve(args, handler):
    family, host, port = split_endpoint(args.listen)
    Threaded.address_family = family
    server = Threaded((host, port), handler)
    server.log = getattr(args, "log", None)
    server.auth = getattr(args, "auth", None)
    server.names = dict(item.split("=", 1) for item in getattr(args, "map", None) or [])
    server.hop_headers = getattr(args, "hop_headers", False)
    server.client_ca = None
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        server.client_ca = getattr(args, "client_ca", None)
        if server.client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(server.client_ca)
        # The handshake in each connection's thread, not in the accept loop
        # (one slow client would hold up every other one).
        server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    # "ready PORT" (the bound port, for --listen ADDR:0), written whole.
    with open(args.ready + ".tmp", "w") as f:
        f.write(f"ready {server.server_address[1]}\n")
    os.rename(args.ready + ".tmp", args.ready)
    server.serve_forever()


def git(args):
    # The CGI script: git http-backend with the repositories under --root.
    os.environ["GIT_PROJECT_ROOT"] = args.root
    os.environ["GIT_HTTP_EXPORT_ALL"] = "1"
    web = os.path.join(args.root, ".web")
    os.makedirs(os.path.join(web, "cgi-bin"), exist_ok=True)
    # A Python script: the CGI handler runs it with the interpreter.
    script = os.path.join(web, "cgi-bin", "git.py")
    with open(script, "w") as f:
        f.write("import os\nos.execvp('git', ['git', 'http-backend'])\n")

    class Git(http.server.CGIHTTPRequestHandler):
        # Without fork the handler runs the script with the interpreter as
        # this user (with fork it would become nobody, who cannot read DIR).
        have_fork = False

        def __init__(self, request, client, server, **kw):
            # CGI reads these of an HTTPServer; the threaded server is a TCPServer.
            server.server_name, server.server_port = server.server_address[:2]
            super().__init__(request, client, server, directory=web, **kw)

        def log_message(self, *a):
            pass

    serve(args, Git)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    o = sub.add_parser("origin")
    o.add_argument("--listen", required=True)
    o.add_argument("--tls", nargs=2)
    o.add_argument("--log")
    o.add_argument("--http10", action="store_true")
    o.add_argument("--hop-headers", action="store_true")
    o.add_argument("--client-ca", help="require a client certificate signed by this CA (mutual TLS)")
    o.add_argument("--ready", required=True)
    e = sub.add_parser("echo")
    e.add_argument("--listen", required=True)
    e.add_argument("--tls", nargs=2)
    e.add_argument("--ready", required=True)
    h = sub.add_parser("hold")
    h.add_argument("--proxy", required=True)
    h.add_argument("--target", required=True)
    h.add_argument("--status", required=True)
    h.add_argument("--seconds", type=float, default=20)
    g = sub.add_parser("git")
    g.add_argument("--listen", required=True)
    g.add_argument("--tls", nargs=2)
    g.add_argument("--root", required=True)
    g.add_argument("--ready", required=True)
    u = sub.add_parser("upstream")
    u.add_argument("--listen", required=True)
    u.add_argument("--tls", nargs=2)
    u.add_argument("--log", required=True)
    u.add_argument("--auth")
    u.add_argument("--map", action="append")
    u.add_argument("--ready", required=True)
    args = parser.parse_args()
    if args.command == "hold":
        return hold(args)
    if args.command == "git":
        return git(args)
    if args.command == "origin" and args.http10:
        return serve(args, Origin10)
    serve(args, {"origin": Origin, "echo": Echo, "upstream": Upstream}[args.command])


if __name__ == "__main__":
    sys.exit(main())
