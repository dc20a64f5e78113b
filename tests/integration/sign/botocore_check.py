#!/usr/bin/env python3
"""An independent check of lens-sign against botocore (Debian's python3-botocore).

botocore signs each request with its own SigV4Auth, S3SigV4Auth,
SigV4QueryAuth or S3SigV4QueryAuth; lens-sign signs the same raw request; the
signatures (and for header mode the whole Authorization header) must agree.
The cases: plain, session token, S3 with UNSIGNED-PAYLOAD, S3 with a signed
payload, presigned S3 and presigned with a session token. Then re-signing: a
request botocore signed with the LENSFAKE placeholder, re-signed by
`lens-sign resign`, must equal what botocore signs with the real keys.

botocore's own clock is bypassed: the stages of its add_auth() run with a
fixed timestamp in request.context (the method names are stable across
botocore 1.29, Debian 12's, and later releases).

Usage: botocore_check.py LENS_SIGN. Exit status: 0 all agree, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from urllib.parse import parse_qs, urlsplit

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

TIMESTAMP = "20240315T101112Z"
ISO_TIMESTAMP = "2024-03-15T10:11:12Z"
KEY_ID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjE//session+token=="
PLACEHOLDER = "LENSFAKE00AABB0000CC"
REAL_KEY_ID = "ASIAREALEXAMPLEKEY"
REAL_SECRET = "real/Secret+Access/Key"
REAL_TOKEN = "FwoGZXIvYXdzEBYaDREALTOKEN/=="


def botocore_sign(auth, request: AWSRequest) -> AWSRequest:
    """SigV4Auth.add_auth() at TIMESTAMP instead of the current time."""
    request.context["timestamp"] = TIMESTAMP
    auth._modify_request_before_signing(request)
    canonical = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical)
    auth._inject_signature_to_request(request, auth.signature(string_to_sign, request))
    return request


def raw_request(method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    parts = urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def aws_request(method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> AWSRequest:
    return AWSRequest(method=method, url=url, headers=dict(headers), data=body)


def run(args: list[str], stdin: bytes, env: dict[str, str] | None = None) -> bytes:
    result = subprocess.run(args, input=stdin, capture_output=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} exited {result.returncode}: {result.stderr.decode().strip()}")
    return result.stdout


def header_of(raw: bytes, name: str) -> str | None:
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.lower() == name.lower():
            return value.strip()
    return None


def query_signature(url_or_target: str) -> str:
    return parse_qs(urlsplit(url_or_target).query)["X-Amz-Signature"][0]


class Checker:
    def __init__(self, tool: str, workdir: str):
        self.tool = tool
        self.workdir = workdir
        self.failures = 0
        self.count = 0
        self.env = dict(os.environ, LENS_AWS_SECRET_ACCESS_KEY=SECRET)
        self.token_file = os.path.join(workdir, "token")
        with open(self.token_file, "w", encoding="utf-8") as f:
            f.write(TOKEN + "\n")

    def report(self, name: str, ours: str, theirs: str) -> None:
        self.count += 1
        if ours == theirs:
            print(f"ok: {name}")
        else:
            self.failures += 1
            print(f"FAIL: {name}:\n  lens-sign: {ours}\n  botocore:  {theirs}", file=sys.stderr)

    def lens_sign(self, raw: bytes, service: str, region: str, *flags: str) -> bytes:
        args = [self.tool, "aws-sigv4", "--access-key", KEY_ID, "--region", region, "--service", service,
                "--time", ISO_TIMESTAMP, *flags]
        return run(args, raw, self.env)

    def header_case(self, name, auth, service, region, method, url, headers, body, *flags):
        signed = botocore_sign(auth, aws_request(method, url, headers, body))
        ours = self.lens_sign(raw_request(method, url, headers, body), service, region, *flags)
        self.report(name, header_of(ours, "Authorization") or "(none)", signed.headers["Authorization"])

    def presigned_case(self, name, auth, service, region, method, url, headers, body, *flags):
        signed = botocore_sign(auth, aws_request(method, url, headers, body))
        ours = self.lens_sign(raw_request(method, url, headers, body), service, region, "--presign", *flags)
        target = ours.split(b"\r\n", 1)[0].decode().split(" ")[1]
        self.report(name, query_signature(target), query_signature(signed.url))

    def resign_case(self, name, make_auth, service, region, method, url, headers, body, presigned=False):
        fake = Credentials(PLACEHOLDER, "sandbox-secret", "sandbox-token")
        real = Credentials(REAL_KEY_ID, REAL_SECRET, REAL_TOKEN)
        from_client = botocore_sign(make_auth(fake), aws_request(method, url, headers, body))
        expected = botocore_sign(make_auth(real), aws_request(method, url, headers, body))
        if presigned:
            client_url, client_headers = from_client.url, headers
        else:
            client_url = url
            client_headers = [(k, v) for k, v in from_client.headers.items()]
        policy = os.path.join(self.workdir, "policy.json")
        with open(policy, "w", encoding="utf-8") as f:
            json.dump({"credentials": [{"id": "aws", "placeholder": PLACEHOLDER, "injections": [
                {"injectionType": "awsSigv4", "domain": "*.amazonaws.com", "accessKeyId": REAL_KEY_ID,
                 "secretAccessKey": REAL_SECRET, "sessionToken": REAL_TOKEN}]}]}, f)
        ours = run([self.tool, "resign", "--policy", policy, "--time", ISO_TIMESTAMP],
                   raw_request(method, client_url, client_headers, body))
        if presigned:
            target = ours.split(b"\r\n", 1)[0].decode().split(" ")[1]
            self.report(name, query_signature(target), query_signature(expected.url))
        else:
            self.report(name, header_of(ours, "Authorization") or "(none)", expected.headers["Authorization"])
            self.report(name + " (session token)", header_of(ours, "X-Amz-Security-Token") or "(none)",
                        expected.headers["X-Amz-Security-Token"])


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: botocore_check.py LENS_SIGN", file=sys.stderr)
        return 2
    plain = Credentials(KEY_ID, SECRET)
    with_token = Credentials(KEY_ID, SECRET, TOKEN)
    sqs_headers = [("Host", "sqs.eu-west-1.amazonaws.com"), ("Content-Type", "application/x-amz-json-1.0"),
                   ("X-Amz-Target", "AmazonSQS.ListQueues"), ("Content-Length", "2")]
    s3_host = [("Host", "examplebucket.s3.us-west-2.amazonaws.com")]
    unsigned_config = Config(s3={"payload_signing_enabled": False})

    with tempfile.TemporaryDirectory(prefix="lens-botocore.") as workdir:
        c = Checker(sys.argv[1], workdir)
        try:
            c.header_case("plain (SigV4Auth)", SigV4Auth(plain, "sqs", "eu-west-1"), "sqs", "eu-west-1",
                          "POST", "https://sqs.eu-west-1.amazonaws.com/", sqs_headers, b"{}")
            c.header_case("session token (SigV4Auth)", SigV4Auth(with_token, "sts", "us-east-1"), "sts", "us-east-1",
                          "GET", "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
                          [("Host", "sts.amazonaws.com")], b"", "--session-token-file", c.token_file)

            s3_unsigned = S3SigV4Auth(plain, "s3", "us-west-2")
            request = aws_request("PUT", "https://examplebucket.s3.us-west-2.amazonaws.com/a%20key/x.txt",
                                  s3_host + [("Content-Length", "5")], b"hello")
            request.context["client_config"] = unsigned_config
            botocore_sign(s3_unsigned, request)
            ours = c.lens_sign(raw_request("PUT", request.url, s3_host + [("Content-Length", "5")], b"hello"),
                               "s3", "us-west-2", "--payload", "unsigned", "--sign-body")
            c.report("S3 UNSIGNED-PAYLOAD (S3SigV4Auth)", header_of(ours, "Authorization") or "(none)",
                     request.headers["Authorization"])

            c.header_case("S3 signed payload (S3SigV4Auth)", S3SigV4Auth(plain, "s3", "us-west-2"), "s3", "us-west-2",
                          "PUT", "http://examplebucket.s3.us-west-2.amazonaws.com/k.txt",
                          s3_host + [("Content-Length", "5")], b"hello", "--sign-body")
            c.presigned_case("presigned S3 (S3SigV4QueryAuth)", S3SigV4QueryAuth(plain, "s3", "us-west-2", expires=900),
                             "s3", "us-west-2", "GET",
                             "https://examplebucket.s3.us-west-2.amazonaws.com/photos/cat.jpg?versionId=3",
                             s3_host, b"", "--payload", "unsigned", "--expires", "900")
            c.presigned_case("presigned with a session token (SigV4QueryAuth)",
                             SigV4QueryAuth(with_token, "execute-api", "eu-central-1", expires=300),
                             "execute-api", "eu-central-1", "GET",
                             "https://abc123.execute-api.eu-central-1.amazonaws.com/prod/items?limit=10",
                             [("Host", "abc123.execute-api.eu-central-1.amazonaws.com")], b"",
                             "--session-token-file", c.token_file, "--expires", "300")

            c.resign_case("resign header (SigV4Auth)", lambda cr: SigV4Auth(cr, "sqs", "eu-west-1"), "sqs",
                          "eu-west-1", "POST", "https://sqs.eu-west-1.amazonaws.com/", sqs_headers, b"{}")
            c.resign_case("resign presigned S3 (S3SigV4QueryAuth)",
                          lambda cr: S3SigV4QueryAuth(cr, "s3", "us-west-2", expires=600), "s3", "us-west-2", "GET",
                          "https://examplebucket.s3.us-west-2.amazonaws.com/photos/cat.jpg", s3_host, b"",
                          presigned=True)
        except RuntimeError as e:
            print(f"FAIL: {e}", file=sys.stderr)
            return 1
    print(f"{c.count} comparisons, {c.failures} failed")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
