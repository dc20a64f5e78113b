#!/usr/bin/env python3
"""emit_events.py SOCKET COUNT [FIRST [PAD]]: send COUNT audit_event lines to the
Unix datagram SOCKET, metadata.seq = FIRST, FIRST+1, ... (default 1), in
order. A blocking sender: it waits while the receiver's queue is full and
retries (for up to 30 s) while nobody is bound, so every line is handed to
a live lens-policy-sync. PAD adds that many bytes of metadata.pad."""
import errno
import json
import socket
import sys
import time


def main():
    path, count = sys.argv[1], int(sys.argv[2])
    first = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    pad = "p" * (int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    for seq in range(first, first + count):
        line = json.dumps({"type": "audit_event", "ts": "2026-11-27T00:00:00.000Z",
                           "source": "emitter", "action": "TEST %d" % seq,
                           "result": "success", "metadata": {"seq": seq, "pad": pad}}) + "\n"
        deadline = time.time() + 30
        while True:
            try:
                s.sendto(line.encode(), path)
                break
            except OSError as e:
                if e.errno not in (errno.ECONNREFUSED, errno.ENOENT) or time.time() > deadline:
                    raise
                time.sleep(0.01)


if __name__ == "__main__":
    main()
