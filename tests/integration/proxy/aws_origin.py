#!/usr/bin/env python3
"""An HTTPS origin that checks AWS Signature Version 4 as a service would,
with botocore (Debian's python3-botocore) and the real key, never with
lens-proxy's code.

Every request must be signed by REAL_KEY_ID: header form (the signed
headers listed in Authorization, the payload hash from x-amz-content-sha256
or the body's SHA-256) or presigned (the X-Amz-* query). An aws-chunked body
(STREAMING-AWS4-HMAC-SHA256-PAYLOAD) has each chunk's signature checked in
its chain from the seed. The answer is 200 "sig-ok" or 403 "sig-bad: why";
each request's line goes to --log.

Usage: aws_origin.py --listen ADDR:PORT --tls CERT KEY --log FILE --ready FILE
"""

import argparse
import hashlib
import hmac
import http.server
import os
import sys
from urllib.parse import parse_qs, urlsplit

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402

REAL_KEY_ID = "ASIAREALEXAMPLEKEY"
REAL_SECRET = "real/Secret+Access/Key"
REAL_TOKEN = "FwoGZXIvYXdzEBYaDREALTOKEN/=="
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def only(auth_class, names):
    """auth_class signing exactly the header names the client listed."""

    class Listed(auth_class):
        def headers_to_sign(self, request):
            signed = super().headers_to_sign(request)
            for name in list(signed.keys()):
                if name.lower() not in names:
                    del signed[name]
            return signed

    return Listed


def hmac_sha256(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(date, region, service):
    key = hmac_sha256(("AWS4" + REAL_SECRET).encode(), date)
    key = hmac_sha256(key, region)
    key = hmac_sha256(key, service)
    return hmac_sha256(key, "aws4_request")


def check_chunks(body, seed, amz_date, scope):
    """The chain of chunk signatures of an aws-chunked body."""
    date, region, service, _ = scope.split("/")
    key = signing_key(date, region, service)
    previous, data, rest = seed, b"", body
    while True:
        line, _, rest = rest.partition(b"\r\n")
        size_text, _, ext = line.decode().partition(";chunk-signature=")
        size = int(size_text, 16)
        chunk, rest = rest[:size], rest[size + 2:]
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, EMPTY_SHA256,
                             hashlib.sha256(chunk).hexdigest()])
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if expected != ext:
            return f"chunk signature {len(data)} bytes in"
        previous = expected
        data += chunk
        if size == 0:
            return None if not rest else "bytes after the final chunk"


class Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # the body must not wait for a delayed ACK

    def log_message(self, *args):
        pass

    def verify(self, body):
        host = self.headers["Host"]
        url = f"https://{host}{self.path}"
        query = parse_qs(urlsplit(self.path).query)
        if "X-Amz-Signature" in query:
            credential = query["X-Amz-Credential"][0]
            key, date, region, service, _ = credential.split("/")
            names = query["X-Amz-SignedHeaders"][0].split(";")
            unsigned = url.replace("&X-Amz-Signature=" + query["X-Amz-Signature"][0], "")
            request = AWSRequest(method=self.command, url=unsigned,
                                 headers={k: v for k, v in self.headers.items()}, data=body)
            request.context["timestamp"] = query["X-Amz-Date"][0]
            base = S3SigV4QueryAuth if service == "s3" else SigV4QueryAuth
            auth = only(base, names)(Credentials(REAL_KEY_ID, REAL_SECRET, REAL_TOKEN), service, region,
                                     expires=int(query["X-Amz-Expires"][0]))
            given = query["X-Amz-Signature"][0]
            if query.get("X-Amz-Security-Token", [""])[0] != REAL_TOKEN:
                return "not the real session token"
        else:
            authorization = self.headers.get("Authorization", "")
            if not authorization.startswith("AWS4-HMAC-SHA256 "):
                return "not signed"
            fields = dict(part.strip().split("=", 1) for part in authorization[17:].split(","))
            key, date, region, service, _ = fields["Credential"].split("/")
            names = fields["SignedHeaders"].split(";")
            given = fields["Signature"]
            request = AWSRequest(method=self.command, url=url,
                                 headers={k: v for k, v in self.headers.items()}, data=body)
            request.context["timestamp"] = self.headers["X-Amz-Date"]
            base = S3SigV4Auth if service == "s3" else SigV4Auth
            auth = only(base, names)(Credentials(REAL_KEY_ID, REAL_SECRET, REAL_TOKEN), service, region)
            if self.headers.get("X-Amz-Security-Token") != REAL_TOKEN:
                return "not the real session token"
        if key != REAL_KEY_ID:
            return "not the real key"
        canonical = auth.canonical_request(request)
        expected = auth.signature(auth.string_to_sign(request, canonical), request)
        if expected != given:
            return "signature"
        if self.headers.get("x-amz-content-sha256") == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD":
            return check_chunks(body, given, self.headers["X-Amz-Date"], f"{date}/{region}/{service}/aws4_request")
        return None

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            why = self.verify(body)
        except Exception as e:  # a malformed signature is a failed check
            why = f"{type(e).__name__}: {e}"
        with open(self.server.log, "a") as f:
            # The query only when the check failed (a good signature is not needed to debug).
            shown = self.path.split('?')[0] if why is None else self.path
            f.write(f"{self.command} {shown} {'sig-ok' if why is None else 'sig-bad: ' + why}\n")
        text = b"sig-ok\n" if why is None else f"sig-bad: {why}\n".encode()
        self.send_response(200 if why is None else 403)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    do_GET = do_POST = do_PUT = handle_any


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--tls", nargs=2, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--ready", required=True)
    servers.serve(parser.parse_args(), Origin)


if __name__ == "__main__":
    sys.exit(main())
