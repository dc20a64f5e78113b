#!/usr/bin/env python3
"""A workload that tries to leave the sandbox. Prints one line per attempt:
"<name> blocked <how>" or "<name> ESCAPED <what>", and exits 0."""
import errno
import os
import socket
import subprocess
import sys

state = sys.argv[1]
results = []


def attempt(name, fn):
    try:
        what = fn()
        results.append(f"{name} ESCAPED {what}")
    except OSError as e:
        results.append(f"{name} blocked {errno.errorcode.get(e.errno, e.errno)}")
    except Exception as e:  # noqa: BLE001 - report anything else as blocked, with its type
        results.append(f"{name} blocked {type(e).__name__}")


def tcp(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect((host, port))
    data = s.recv(100)
    if not data:
        raise ConnectionResetError(errno.ECONNRESET, "closed without data")
    return data.decode(errors="replace").strip()


def udp(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.connect((host, port))
    s.send(b"ping")
    return s.recv(100).decode(errors="replace").strip()


def send_after(port, refused):
    """After a refused attempt to get around the cage: try the network anyway
    (the cage must refuse, and audit, this datagram too), then report the
    attempt's own error."""
    try:
        udp("10.199.0.2", port)
    except OSError:
        raise refused
    raise RuntimeError(f"a datagram to port {port} got an answer")


def mark():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, 36, 0x4E585553)  # SO_MARK
    except OSError as e:
        send_after(9001, e)
    return "socket marked as trusted"


def read(path):
    with open(path) as f:
        return f"read {len(f.read())} bytes of {path}"


def nft():
    r = subprocess.run(["nft", "delete", "table", "inet", "lens_sandbox"], capture_output=True, text=True)
    if r.returncode != 0:
        send_after(9002, PermissionError(errno.EPERM, r.stderr.strip()))
    return "deleted the cage"


attempt("tcp-direct", lambda: tcp("10.199.0.2", 8080))
attempt("tcp-ipv6", lambda: tcp("fd99::2", 8080))
attempt("udp-direct", lambda: udp("10.199.0.2", 9000))
attempt("dot", lambda: tcp("10.199.0.2", 853))
attempt("set-mark", mark)
attempt("read-policy", lambda: read(f"{state}/policy.json"))
attempt("read-ca-key", lambda: read(f"{state}/ca/ca.key"))
attempt("list-state", lambda: ",".join(os.listdir(state)))
attempt("nft", nft)
attempt("dns-denied", lambda: socket.getaddrinfo("denied.test", 80, socket.AF_INET)[0][4][0])
print("\n".join(results))
