#!/usr/bin/env python3
"""An HTTP/2 client through lens-proxy's CONNECT and interception (python3-h2
for the frames, ssl trusting only the lens CA), for what curl cannot show
or will not do:

  get PATH              one request; prints "status N", "header NAME: VALUE",
                        "body-bytes N" and "trailer NAME: VALUE" lines
  rapid-reset N         N streams opened and reset at once (CVE-2023-44487)
  continuation-flood N  one header block split into N CONTINUATION frames
  big-header BYTES      a request with a header field of BYTES, then a
                        normal request on the same connection
  settings-flood N      N SETTINGS frames without reading the answers
  websocket PATH [MESSAGE...]
                        a WebSocket over HTTP/2 (RFC 8441 extended CONNECT,
                        --subprotocol to ask for one): prints
                        "enable-connect-protocol N" (the proxy's setting),
                        "status N", then sends each MESSAGE ("ping 1" and
                        "ping 2" by default) and prints the answer ("echo
                        TEXT", or "close CODE REASON" and no more sends),
                        then closes ("stream-ended" when the stream ended)

The hostile modes print what the proxy answered: "goaway CODE", "status N"
per stream answered, "closed" when the connection ended.
"""
import argparse
import socket
import ssl
import struct
import sys

import h2.config
import h2.connection
import h2.events


def tunnel(args):
    host, port = args.proxy.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(f"CONNECT {args.connect} HTTP/1.1\r\nHost: {args.connect}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(1)
        if not data:
            sys.exit("the proxy closed during CONNECT")
        head += data
    if b" 200 " not in head.split(b"\r\n")[0]:
        sys.exit("CONNECT refused: " + head.split(b"\r\n")[0].decode())
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.set_alpn_protocols(["h2"])
    tls = ctx.wrap_socket(sock, server_hostname=args.connect.rsplit(":", 1)[0])
    if tls.selected_alpn_protocol() != "h2":
        sys.exit("ALPN chose " + str(tls.selected_alpn_protocol()))
    return tls


def request_headers(args, path, extra=()):
    return [(":method", "GET"), (":scheme", "https"), (":authority", args.connect), (":path", path),
            *extra]


def read_events(tls, conn, until, limit=10.0):
    """Reads frames until until(events so far) or the connection ends."""
    tls.settimeout(limit)
    seen = []
    try:
        while not until(seen):
            data = tls.recv(65536)
            if not data:
                seen.append("closed")
                break
            for event in conn.receive_data(data):
                seen.append(event)
                if isinstance(event, h2.events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            out = conn.data_to_send()
            if out:
                tls.sendall(out)
    except socket.timeout:
        seen.append("timeout")
    except (ConnectionError, ssl.SSLError, h2.exceptions.ProtocolError):
        seen.append("closed")
    return seen


def report(seen):
    for e in seen:
        if e in ("closed", "timeout"):
            print(e)
        elif isinstance(e, h2.events.ConnectionTerminated):
            print(f"goaway {e.error_code.name if hasattr(e.error_code, 'name') else e.error_code}")
        elif isinstance(e, h2.events.ResponseReceived):
            status = dict(e.headers).get(b":status", b"?").decode()
            print(f"status {status}")


def ws_frame(payload, opcode=1):
    """A masked frame (RFC 6455 section 5.2), as a client sends it."""
    mask = b"\x01\x02\x03\x04"
    head = bytes([0x80 | opcode])
    head += bytes([0x80 | len(payload)]) if len(payload) < 126 else bytes([0x80 | 126]) + struct.pack(">H", len(payload))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_messages(buffer):
    """The whole unmasked frames at the front of buffer: (opcode, payload) list, the rest."""
    out = []
    while len(buffer) >= 2:
        length, at = buffer[1] & 0x7F, 2
        if length == 126:
            if len(buffer) < 4:
                break
            length, at = struct.unpack(">H", buffer[2:4])[0], 4
        if len(buffer) < at + length:
            break
        out.append((buffer[0] & 0x0F, buffer[at:at + length]))
        buffer = buffer[at + length:]
    return out, buffer


def websocket(args, tls, conn):
    seen = read_events(tls, conn, lambda s: any(isinstance(x, h2.events.RemoteSettingsChanged) for x in s) or ended(s))
    print(f"enable-connect-protocol {conn.remote_settings.enable_connect_protocol}")
    conn.send_headers(1, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
                          (":authority", args.connect), (":path", args.arg), ("sec-websocket-version", "13"),
                          *([("sec-websocket-protocol", args.subprotocol)] if args.subprotocol else [])])
    tls.sendall(conn.data_to_send())
    seen = read_events(tls, conn, lambda s: any(isinstance(x, (h2.events.ResponseReceived, h2.events.StreamReset))
                                                for x in s) or ended(s))
    status = next((dict(e.headers)[b":status"].decode() for e in seen
                   if isinstance(e, h2.events.ResponseReceived)), None)
    print(f"status {status}")
    if status != "200":
        return
    buffer = b""
    closed = False
    for text in args.more or ["ping 1", "ping 2"]:
        if closed:
            break
        conn.send_data(1, ws_frame(text.encode()))
        tls.sendall(conn.data_to_send())
        messages = []
        def answered(s):
            nonlocal buffer, messages
            for e in s[len(answered.done):]:
                if isinstance(e, h2.events.DataReceived):
                    buffer += e.data
            answered.done = list(s)
            got, buffer = ws_messages(buffer)
            messages += got
            return bool(messages) or ended(s) or any(isinstance(x, h2.events.StreamEnded) for x in s)
        answered.done = []
        read_events(tls, conn, answered)
        for opcode, payload in messages:
            if opcode == 8:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 0
                print(f"close {code} {payload[2:].decode()}".rstrip())
                closed = True
            else:
                print(f"echo {payload.decode()}" if opcode == 1 else f"opcode {opcode}")
    # A close frame (unless the other side closed), and the end of our side:
    # the origin answers the close and ends; the proxy ends the stream.
    try:
        conn.send_data(1, b"" if closed else ws_frame(struct.pack(">H", 1000), opcode=8), end_stream=True)
        tls.sendall(conn.data_to_send())
    except h2.exceptions.StreamClosedError:
        pass
    seen = read_events(tls, conn, lambda s: any(isinstance(x, h2.events.StreamEnded) for x in s) or ended(s))
    if any(isinstance(x, h2.events.StreamEnded) for x in seen):
        print("stream-ended")


def ended(seen):
    return any(e == "closed" or isinstance(e, h2.events.ConnectionTerminated) for e in seen)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--proxy", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--connect", required=True)
    p.add_argument("--subprotocol")
    p.add_argument("mode")
    p.add_argument("arg")
    p.add_argument("more", nargs="*")
    args = p.parse_args()
    tls = tunnel(args)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, validate_outbound_headers=False,
                                                                normalize_outbound_headers=False))
    conn.initiate_connection()
    tls.sendall(conn.data_to_send())

    if args.mode == "get":
        conn.send_headers(1, request_headers(args, args.arg), end_stream=True)
        tls.sendall(conn.data_to_send())
        body = 0
        for e in read_events(tls, conn, lambda s: any(isinstance(x, h2.events.StreamEnded) for x in s) or ended(s)):
            if isinstance(e, h2.events.ResponseReceived):
                for name, value in e.headers:
                    if name == b":status":
                        print(f"status {value.decode()}")
                    else:
                        print(f"header {name.decode()}: {value.decode()}")
            elif isinstance(e, h2.events.DataReceived):
                body += len(e.data)
            elif isinstance(e, h2.events.TrailersReceived):
                for name, value in e.headers:
                    print(f"trailer {name.decode()}: {value.decode()}")
            elif e in ("timeout", "closed"):
                print(e)
        print(f"body-bytes {body}")
    elif args.mode == "rapid-reset":
        n = int(args.arg)
        for i in range(n):
            sid = 1 + 2 * i
            conn.send_headers(sid, request_headers(args, f"/api/reset{i}"), end_stream=True)
            conn.reset_stream(sid)
            if i % 100 == 99:
                try:
                    tls.sendall(conn.data_to_send())
                except (ConnectionError, ssl.SSLError):
                    break
        try:
            tls.sendall(conn.data_to_send())
        except (ConnectionError, ssl.SSLError):
            pass
        report(read_events(tls, conn, ended))
    elif args.mode == "continuation-flood":
        # HEADERS without END_HEADERS, then CONTINUATION frames of one byte of
        # a literal field that never ends (raw frames: h2 would not do it).
        n = int(args.arg)
        block = b"\x82\x87\x84"  # :method GET, :scheme https, :path /
        frame = lambda t, f, sid, payload: struct.pack(">I", len(payload))[1:] + bytes([t, f]) + struct.pack(">I", sid) + payload
        out = frame(1, 0, 1, block)
        for i in range(n):
            out += frame(9, 0, 1, b"\x40\x01" if i == 0 else b"a")
        try:
            tls.sendall(out)
        except (ConnectionError, ssl.SSLError):
            pass
        report(read_events(tls, conn, ended))
    elif args.mode == "big-header":
        size = int(args.arg)
        conn.send_headers(1, request_headers(args, "/api/big", [("x-big", "a" * size)]), end_stream=True)
        conn.send_headers(3, request_headers(args, "/api/after"), end_stream=True)
        tls.sendall(conn.data_to_send())
        seen = read_events(tls, conn, lambda s: sum(isinstance(x, h2.events.StreamEnded) for x in s) >= 2 or ended(s))
        for e in seen:
            if isinstance(e, h2.events.ResponseReceived):
                print(f"stream {e.stream_id} status {dict(e.headers)[b':status'].decode()}")
        report([e for e in seen if not isinstance(e, h2.events.ResponseReceived)])
    elif args.mode == "websocket":
        websocket(args, tls, conn)
    elif args.mode == "settings-flood":
        n = int(args.arg)
        frame = struct.pack(">I", 0)[1:] + bytes([4, 0]) + struct.pack(">I", 0)
        try:
            for _ in range(n // 100):
                tls.sendall(frame * 100)
        except (ConnectionError, ssl.SSLError, socket.timeout):
            pass
        report(read_events(tls, conn, ended))
    else:
        sys.exit("unknown mode " + args.mode)


if __name__ == "__main__":
    main()
