#!/usr/bin/env python3
"""The sandbox side of the in-flight re-signing test: requests signed with
botocore and the LENSFAKE placeholder key, sent through lens-proxy
(HTTPS_PROXY, trusting REQUESTS_CA_BUNDLE), and raw requests read from files
(an aws-chunked upload signed by lens-sign with the placeholder) sent through
a CONNECT tunnel. Prints "CASE STATUS BODY" per case.

Usage: aws_client.py HOST_SUFFIX PORT [RAW_CASE=FILE ...]
"""

import os
import socket
import ssl
import sys

import requests
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

FAKE = Credentials("LENSFAKE00AABB0000CC", "sandbox-has-no-real-secret", "sandbox-token")


def send(name, request):
    prepared = request.prepare()
    r = requests.request(prepared.method, prepared.url, headers=dict(prepared.headers), data=prepared.body,
                         timeout=15)
    print(name, r.status_code, r.headers.get("X-Lens-Reason") or r.text.strip() or "-")


def raw(name, host, port, path):
    proxy = os.environ["HTTPS_PROXY"].rsplit("/", 1)[-1]
    address, _, proxy_port = proxy.rpartition(":")
    with socket.create_connection((address, int(proxy_port)), timeout=15) as s:
        s.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += s.recv(4096)
        ctx = ssl.create_default_context(cafile=os.environ["REQUESTS_CA_BUNDLE"])
        with ctx.wrap_socket(s, server_hostname=host) as t:
            with open(path, "rb") as f:
                t.sendall(f.read())
            response = b""
            while b"\r\n\r\n" not in response:
                more = t.recv(65536)
                if not more:
                    break
                response += more
            head, _, body = response.partition(b"\r\n\r\n")
            fields = {k.strip().lower(): v.strip() for k, _, v in
                      (line.partition(":") for line in head.decode().split("\r\n")[1:])}
            while len(body) < int(fields.get("content-length", 0)):
                more = t.recv(65536)
                if not more:
                    break
                body += more
            status = head.split(b" ")[1].decode() if head else "none"
            print(name, status, fields.get("x-lens-reason") or body.decode().strip() or "-")


def main():
    suffix, port = sys.argv[1], sys.argv[2]
    sqs = f"https://sqs.eu-west-1.{suffix}:{port}"
    s3 = f"https://s3.eu-west-1.{suffix}:{port}"

    r = AWSRequest(method="GET", url=f"{sqs}/?Action=ListQueues&Version=2012-11-05")
    SigV4Auth(FAKE, "sqs", "eu-west-1").add_auth(r)
    send("get-query", r)

    r = AWSRequest(method="POST", url=f"{sqs}/", data=b'{"QueueName": "q"}',
                   headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.CreateQueue"})
    SigV4Auth(FAKE, "sqs", "eu-west-1").add_auth(r)
    send("post-hashed", r)

    r = AWSRequest(method="PUT", url=f"{s3}/bucket/key.txt", data=b"x" * 5000)
    S3SigV4Auth(FAKE, "s3", "eu-west-1").add_auth(r)
    send("s3-put-unsigned", r)

    r = AWSRequest(method="GET", url=f"{s3}/bucket/key.txt")
    S3SigV4QueryAuth(FAKE, "s3", "eu-west-1", expires=300).add_auth(r)
    send("presigned-get", r)

    for item in sys.argv[3:]:
        name, _, path = item.partition("=")
        raw(name, f"s3.eu-west-1.{suffix}", port, path)


if __name__ == "__main__":
    main()
