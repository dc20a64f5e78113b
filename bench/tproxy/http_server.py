#!/usr/bin/env python3
"""HTTP target of bench/tproxy/run.sh: GET /big/N answers N bytes, anything
else a 2-byte body; HTTP/1.0, one request per connection.

http_server.py ADDR PORT
"""
import http.server
import socketserver
import sys

CHUNK = b"x" * (1 << 20)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        n = int(self.path[5:]) if self.path.startswith("/big/") else 2
        self.send_response(200)
        self.send_header("Content-Length", str(n))
        self.end_headers()
        while n > 0:
            k = min(n, len(CHUNK))
            self.wfile.write(CHUNK[:k])
            n -= k


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024


Server((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
